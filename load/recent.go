package load

import (
	"math"
	"time"
)

// DefaultRecent is the longest trailing window a Recorder answers Recent
// for, unless KeepRecent asks for more.
const DefaultRecent = 10 * time.Second

// Recent describes the requests that completed in a trailing window (see
// Recorder.Recent).
type Recent struct {
	Total, OK int
	// P99 of the OK requests' latencies, within 2% (see latencyBucket).
	P99 time.Duration
}

// Availability is the share of OK requests in percent; 100 without any.
func (r Recent) Availability() float64 {
	if r.Total == 0 {
		return 100
	}
	return 100 * float64(r.OK) / float64(r.Total)
}

// KeepRecent makes Recent answer for trailing windows up to window (each
// second kept costs about 4.5 kB). Call it before recording.
func (r *Recorder) KeepRecent(window time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if window > r.recent.span() {
		r.recent = newRecentWindow(window)
	}
}

// Recent is what the requests that completed in the window before now saw,
// counted by whole seconds of completion (the window's last whole seconds
// before the one now is in): how many, how many were OK, and the p99
// latency of the OK ones. It costs the window's seconds, not its
// requests, and does not depend on the order results arrive in. A window
// longer than KeepRecent's is cut to it.
func (r *Recorder) Recent(window time.Duration, now time.Time) Recent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recent.sum(window, now.Sub(r.tl.Origin))
}

// recentWindow keeps, for each of the last len(secs) seconds of
// completion (a ring), the requests that completed in it and a histogram
// of the OK ones' latencies.
type recentWindow struct {
	secs []recentSecond
}

type recentSecond struct {
	sec       int64 // the second since the origin this slot holds
	total, ok uint32
	hist      *[latencyBuckets]uint32
}

func newRecentWindow(window time.Duration) recentWindow {
	n := int(math.Ceil(window.Seconds())) + 1
	w := recentWindow{secs: make([]recentSecond, n)}
	for i := range w.secs {
		w.secs[i].sec = -1
	}
	return w
}

func (w *recentWindow) span() time.Duration { return time.Duration(len(w.secs)-1) * time.Second }

// add counts s in the second it completed in; bucket is its latency's
// (latencyBucket), counted when s is OK.
func (w *recentWindow) add(s Sample, bucket int) {
	sec := (s.Start + int64(s.LatencyUS)*1000) / int64(time.Second)
	if sec < 0 || len(w.secs) == 0 {
		return
	}
	slot := &w.secs[sec%int64(len(w.secs))]
	switch {
	case slot.sec > sec:
		return // older than the ring holds
	case slot.sec < sec:
		hist := slot.hist
		*slot = recentSecond{sec: sec, hist: hist}
		if hist != nil {
			*hist = [latencyBuckets]uint32{}
		}
	}
	slot.total++
	if s.OK {
		slot.ok++
		if slot.hist == nil {
			slot.hist = new([latencyBuckets]uint32)
		}
		slot.hist[bucket]++
	}
}

// sum adds up the window's last whole seconds before the one now is in
// (still being filled, so a window of one second is one full second), now
// counted from the origin.
func (w *recentWindow) sum(window, now time.Duration) Recent {
	if window > w.span() {
		window = w.span()
	}
	last := int64(now/time.Second) - 1
	first := last - int64(math.Ceil(window.Seconds())) + 1
	var rc Recent
	var hist [latencyBuckets]uint32
	for sec := max(first, 0); sec <= last; sec++ {
		slot := &w.secs[sec%int64(len(w.secs))]
		if slot.sec != sec {
			continue
		}
		rc.Total += int(slot.total)
		rc.OK += int(slot.ok)
		if slot.hist != nil {
			for i, n := range slot.hist {
				hist[i] += n
			}
		}
	}
	rc.P99 = p99Of(&hist, rc.OK)
	return rc
}

// p99Of reads the p99 from a histogram of ok latencies; 0 without any.
func p99Of(hist *[latencyBuckets]uint32, ok int) time.Duration {
	if ok <= 0 {
		return 0
	}
	rank := uint32(math.Ceil(.99 * float64(ok)))
	var seen uint32
	for i, n := range hist {
		if seen += n; seen >= rank {
			return time.Duration(latencyUpper(i)) * time.Microsecond
		}
	}
	return 0
}

// Latencies are counted in buckets 2% wide (log scale), from 1µs to the
// 71 minutes a Sample can hold: a p99 read from them is at most 2% above
// the exact one.
const (
	latencyGrowth  = 1.02
	latencyBuckets = 1125 // > log(2^32)/log(1.02) + 1
)

var logGrowth = math.Log(latencyGrowth)

// latencyBucket is the bucket of a latency in µs: bucket i > 0 holds
// (1.02^(i-1), 1.02^i].
func latencyBucket(us uint32) int {
	if us <= 1 {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(us))/logGrowth - 1e-9))
	return min(i, latencyBuckets-1)
}

// latencyUpper is the largest latency, in µs, bucket i holds.
func latencyUpper(i int) float64 {
	if i == 0 {
		return 1
	}
	return math.Floor(math.Pow(latencyGrowth, float64(i)))
}
