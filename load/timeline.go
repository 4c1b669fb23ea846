// Package load puts open-model HTTP load on a service (built on vegeta's
// library), streams every request's result to disk as it happens, and keeps
// a compact per-request timeline from which availability, failed intervals
// and exact latency percentiles are computed.
package load

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
)

// Sample is one request in the timeline: 16 bytes, so an hour at 1,000
// requests per second fits in about 60 MB.
type Sample struct {
	// Start is the request's start, in nanoseconds since the timeline's
	// origin.
	Start int64
	// LatencyUS is the request's latency in microseconds (saturating).
	LatencyUS uint32
	// Code is the HTTP status; 0 when the request failed without one.
	Code uint16
	// OK is true for a 2xx or 3xx answer without a client-side error.
	OK bool
}

// Latency returns the sample's latency.
func (s Sample) Latency() time.Duration { return time.Duration(s.LatencyUS) * time.Microsecond }

// Timeline holds the samples of one run, in the order they were recorded.
type Timeline struct {
	Origin  time.Time
	Samples []Sample
	// Errors counts failures by message (transport errors, or "HTTP 503").
	Errors map[string]int
}

// NewTimeline returns an empty timeline whose offsets count from origin.
func NewTimeline(origin time.Time) *Timeline {
	return &Timeline{Origin: origin, Errors: map[string]int{}}
}

// Add records one request.
func (t *Timeline) Add(start time.Time, latency time.Duration, code uint16, errMsg string) {
	us := latency.Microseconds()
	if us > math.MaxUint32 {
		us = math.MaxUint32
	}
	if us < 0 {
		us = 0
	}
	ok := errMsg == "" && code >= 200 && code < 400
	t.Samples = append(t.Samples, Sample{Start: start.Sub(t.Origin).Nanoseconds(), LatencyUS: uint32(us), Code: code, OK: ok})
	if !ok {
		msg := errMsg
		if msg == "" {
			msg = fmt.Sprintf("HTTP %d", code)
		}
		t.Errors[msg]++
	}
}

// sorted returns the samples ordered by start time. Results arrive in
// completion order, so a slow request is recorded after faster later ones.
func (t *Timeline) sorted() []Sample {
	if slices.IsSortedFunc(t.Samples, cmpStart) {
		return t.Samples
	}
	s := slices.Clone(t.Samples)
	slices.SortStableFunc(s, cmpStart)
	return s
}

func cmpStart(a, b Sample) int {
	switch {
	case a.Start < b.Start:
		return -1
	case a.Start > b.Start:
		return 1
	}
	return 0
}

// Percentile returns the exact q-quantile (0 < q <= 1) of latencies using
// the nearest-rank method: the smallest value with at least q of the values
// at or below it. It sorts lat in place; it returns 0 for no values.
func Percentile(lat []uint32, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	if !slices.IsSorted(lat) {
		slices.Sort(lat)
	}
	rank := int(math.Ceil(q * float64(len(lat))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(lat) {
		rank = len(lat)
	}
	return time.Duration(lat[rank-1]) * time.Microsecond
}

// Quantiles are the latency percentiles a report shows.
type Quantiles struct {
	P50, P90, P95, P99, P999, Max time.Duration
	// Count is how many latencies they were computed from.
	Count int
}

// QuantilesOf computes exact percentiles of the latencies of samples for
// which include returns true.
func QuantilesOf(samples []Sample, include func(Sample) bool) Quantiles {
	lat := make([]uint32, 0, len(samples))
	for _, s := range samples {
		if include(s) {
			lat = append(lat, s.LatencyUS)
		}
	}
	slices.Sort(lat)
	q := Quantiles{Count: len(lat)}
	if len(lat) == 0 {
		return q
	}
	q.P50, q.P90, q.P95 = Percentile(lat, .50), Percentile(lat, .90), Percentile(lat, .95)
	q.P99, q.P999 = Percentile(lat, .99), Percentile(lat, .999)
	q.Max = time.Duration(lat[len(lat)-1]) * time.Microsecond
	return q
}

// OKOnly selects successful requests: latency SLOs are about answers users
// got; failures are judged by availability.
func OKOnly(s Sample) bool { return s.OK }

// Window is one slice of the timeline.
type Window struct {
	// Start is the window's start offset from the timeline origin.
	Start         time.Duration
	Total, OK     int
	Availability  float64
	P50, P95, P99 time.Duration
}

// MaxWindows bounds how many windows Windows returns.
const MaxWindows = 1_000_000

// Windows splits the timeline into consecutive windows of width by request
// start time, from the origin to the last request. Empty windows are kept
// (availability 1 with Total 0), so a gap in load shows as a gap. Requests
// that started before the origin are left out. It returns nil when there is
// nothing to split or when width would make more than MaxWindows windows.
func (t *Timeline) Windows(width time.Duration) []Window {
	if width <= 0 || len(t.Samples) == 0 {
		return nil
	}
	s := t.sorted()
	last := s[len(s)-1].Start
	if last < 0 || last/int64(width) >= MaxWindows {
		return nil
	}
	n := int(last/int64(width)) + 1
	out := make([]Window, n)
	lat := make([]uint32, 0, 256)
	i := 0
	for w := 0; w < n; w++ {
		end := int64(w+1) * int64(width)
		win := Window{Start: time.Duration(w) * width}
		lat = lat[:0]
		for ; i < len(s) && s[i].Start < end; i++ {
			if s[i].Start < 0 {
				continue
			}
			win.Total++
			if s[i].OK {
				win.OK++
				lat = append(lat, s[i].LatencyUS)
			}
		}
		win.Availability = 1
		if win.Total > 0 {
			win.Availability = float64(win.OK) / float64(win.Total)
		}
		slices.Sort(lat)
		win.P50, win.P95, win.P99 = Percentile(lat, .5), Percentile(lat, .95), Percentile(lat, .99)
		out[w] = win
	}
	return out
}

// Interval is a stretch of failed requests.
type Interval struct {
	// Start is the first failed request's start. End is the start of the
	// first successful request after it, or, when none followed, the end
	// (start + latency) of the last failed one. Both are offsets from the
	// origin.
	Start, End time.Duration
	Failed     int
}

// Duration is how long the interval lasted.
func (i Interval) Duration() time.Duration { return i.End - i.Start }

// FailedIntervals returns maximal runs of failed requests, ordered by start
// time: runs with no successful request started between the first and the
// last. A run lasts until the next request that succeeded started: that is
// how long a user retrying in a loop saw the service down. One slow
// failure between successes (a timeout on a dying connection) is therefore
// short, while a real outage lasts until service resumes.
func (t *Timeline) FailedIntervals() []Interval {
	var out []Interval
	open := false
	for _, s := range t.sorted() {
		start := time.Duration(s.Start)
		if s.OK {
			if open {
				out[len(out)-1].End = start
				open = false
			}
			continue
		}
		end := start + s.Latency()
		if !open {
			out = append(out, Interval{Start: start, End: end, Failed: 1})
			open = true
			continue
		}
		cur := &out[len(out)-1]
		cur.Failed++
		if end > cur.End {
			cur.End = end
		}
	}
	return out
}

// Longest returns the longest interval (zero Interval when none).
func Longest(iv []Interval) Interval {
	var best Interval
	for _, i := range iv {
		if i.Duration() > best.Duration() || (i.Duration() == best.Duration() && i.Failed > best.Failed) {
			best = i
		}
	}
	return best
}

// Summary is the whole-run view of a timeline.
type Summary struct {
	Total, OK, Failed int
	Availability      float64
	// Span is from the first request's start to the last one's.
	Span time.Duration
	// AchievedRate is requests started per second over Span.
	AchievedRate    float64
	Latency         Quantiles
	FailedIntervals []Interval
	LongestFailure  Interval
	// TopErrors are the most frequent failure messages, most frequent first.
	TopErrors []ErrorCount
}

// ErrorCount is a failure message and how often it occurred.
type ErrorCount struct {
	Message string
	Count   int
}

// Summarize computes the run summary.
func (t *Timeline) Summarize() Summary {
	s := t.sorted()
	sum := Summary{Total: len(s)}
	for _, x := range s {
		if x.OK {
			sum.OK++
		}
	}
	sum.Failed = sum.Total - sum.OK
	sum.Availability = 1
	if sum.Total > 0 {
		sum.Availability = float64(sum.OK) / float64(sum.Total)
		sum.Span = time.Duration(s[len(s)-1].Start - s[0].Start)
	}
	if sum.Total > 1 && sum.Span > 0 {
		// n starts span n-1 inter-arrival gaps
		sum.AchievedRate = float64(sum.Total-1) / sum.Span.Seconds()
	}
	sum.Latency = QuantilesOf(s, OKOnly)
	sum.FailedIntervals = t.FailedIntervals()
	sum.LongestFailure = Longest(sum.FailedIntervals)
	for msg, n := range t.Errors {
		sum.TopErrors = append(sum.TopErrors, ErrorCount{msg, n})
	}
	sort.Slice(sum.TopErrors, func(i, j int) bool {
		if sum.TopErrors[i].Count != sum.TopErrors[j].Count {
			return sum.TopErrors[i].Count > sum.TopErrors[j].Count
		}
		return sum.TopErrors[i].Message < sum.TopErrors[j].Message
	})
	if len(sum.TopErrors) > 5 {
		sum.TopErrors = sum.TopErrors[:5]
	}
	return sum
}

// Between returns the availability of requests that started in [from, to).
func (t *Timeline) Between(from, to time.Duration) (total, ok int) {
	for _, s := range t.Samples {
		if d := time.Duration(s.Start); d >= from && d < to {
			total++
			if s.OK {
				ok++
			}
		}
	}
	return total, ok
}

// BurstEnd returns where the burst of failures that follows from ends:
// the start of the last failed request that began within gap of the
// previous one (or of from). When no request failed within gap of from, it
// is from itself. After a Service's endpoints change, it is when the last
// request routed the old way started: the change has reached the proxies.
func (t *Timeline) BurstEnd(from, gap time.Duration) time.Duration {
	end := from
	for _, s := range t.sorted() {
		start := time.Duration(s.Start)
		if start < from || s.OK {
			continue
		}
		if start-end > gap {
			break
		}
		end = start
	}
	return end
}
