package load

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Recorder streams every result to w as a JSON line and adds it to an
// in-memory timeline. Lines reach w at least every FlushEvery, so a crash
// loses at most that much. It is safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	w         *bufio.Writer
	tl        *Timeline
	lastFlush time.Time
	buf       []byte
	err       error
	ok, total int
	recent    recentWindow
	// okLatency counts every OK request's latency, for the run's p99 so
	// far (Overall)
	okLatency [latencyBuckets]uint32
	// FlushEvery bounds how long a line may sit in the buffer.
	FlushEvery time.Duration
}

// NewRecorder records into w (may be io.Discard) with offsets from origin.
func NewRecorder(w io.Writer, origin time.Time) *Recorder {
	return &Recorder{w: bufio.NewWriterSize(w, 64<<10), tl: NewTimeline(origin), lastFlush: time.Now(), FlushEvery: 200 * time.Millisecond,
		recent: newRecentWindow(DefaultRecent)}
}

// Result is one request's outcome.
type Result struct {
	Seq     uint64
	Start   time.Time
	Latency time.Duration
	Code    uint16
	Error   string
}

// Record adds one result.
func (r *Recorder) Record(res Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tl.Add(res.Start, res.Latency, res.Code, res.Error)
	r.total++
	last := r.tl.Samples[len(r.tl.Samples)-1]
	bucket := -1
	if last.OK {
		r.ok++
		bucket = latencyBucket(last.LatencyUS) // once: a logarithm per result
		r.okLatency[bucket]++
	}
	r.recent.add(last, bucket)
	if r.err != nil {
		return
	}
	r.buf = appendLine(r.buf[:0], res)
	if _, err := r.w.Write(r.buf); err != nil {
		r.err = err
		return
	}
	if now := time.Now(); now.Sub(r.lastFlush) >= r.FlushEvery {
		r.err = r.w.Flush()
		r.lastFlush = now
	}
}

// appendLine encodes a result as
// {"seq":1,"start":"...","latency_us":812,"code":200,"error":""}.
func appendLine(b []byte, res Result) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, res.Seq, 10)
	b = append(b, `,"start":"`...)
	b = res.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","latency_us":`...)
	b = strconv.AppendInt(b, res.Latency.Microseconds(), 10)
	b = append(b, `,"code":`...)
	b = strconv.AppendUint(b, uint64(res.Code), 10)
	if res.Error != "" {
		msg, _ := json.Marshal(res.Error)
		b = append(b, `,"error":`...)
		b = append(b, msg...)
	}
	return append(b, "}\n"...)
}

// Counts returns how many results were recorded and how many were OK, for
// live progress.
func (r *Recorder) Counts() (total, ok int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.ok
}

// Overall is what every request recorded so far saw: how many, how many
// were OK, and the p99 latency of the OK ones (within 2%, as Recent's).
func (r *Recorder) Overall() Recent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Recent{Total: r.total, OK: r.ok, P99: p99Of(&r.okLatency, r.ok)}
}

// Flush writes buffered lines.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = r.w.Flush()
		r.lastFlush = time.Now()
	}
	return r.err
}

// Timeline returns a copy of the timeline so far.
func (r *Recorder) Timeline() *Timeline {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := &Timeline{Origin: r.tl.Origin, Samples: append([]Sample(nil), r.tl.Samples...), Errors: make(map[string]int, len(r.tl.Errors))}
	for k, v := range r.tl.Errors {
		cp.Errors[k] = v
	}
	return cp
}

// Err returns the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// resultLine is the JSON form of a results line (see appendLine).
type resultLine struct {
	Seq       *uint64 `json:"seq"`
	Start     string  `json:"start"`
	LatencyUS int64   `json:"latency_us"`
	Code      uint16  `json:"code"`
	Error     string  `json:"error"`
}

// ParseResult reads one line written by a Recorder back into a Result.
func ParseResult(line []byte) (Result, error) {
	var l resultLine
	if err := json.Unmarshal(line, &l); err != nil {
		return Result{}, fmt.Errorf("results line: %w", err)
	}
	if l.Seq == nil {
		return Result{}, errors.New("results line: no seq")
	}
	start, err := time.Parse(time.RFC3339Nano, l.Start)
	if err != nil {
		return Result{}, fmt.Errorf("results line: start: %w", err)
	}
	// a clock step can make a latency negative; the timeline counts it as 0
	l.LatencyUS = max(l.LatencyUS, 0)
	return Result{Seq: *l.Seq, Start: start, Latency: time.Duration(l.LatencyUS) * time.Microsecond, Code: l.Code, Error: l.Error}, nil
}
