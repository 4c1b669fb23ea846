package load

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// synthetic returns a timeline of n requests at rate per second with a 1%
// failure rate in bursts, like a run with pod kills.
func synthetic(n, rate int) *Timeline {
	tl := NewTimeline(t0)
	rng := rand.New(rand.NewPCG(1, 2))
	step := time.Second / time.Duration(rate)
	for i := 0; i < n; i++ {
		code, msg := uint16(200), ""
		if i%1000 < 10 {
			code, msg = 0, "connection refused"
		}
		tl.Add(t0.Add(time.Duration(i)*step), time.Duration(500+rng.IntN(20000))*time.Microsecond, code, msg)
	}
	return tl
}

func BenchmarkRecorderRecord(b *testing.B) {
	rec := NewRecorder(io.Discard, t0)
	res := Result{Start: t0, Latency: 1234 * time.Microsecond, Code: 200}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		res.Seq = uint64(i)
		res.Start = t0.Add(time.Duration(i) * time.Millisecond)
		rec.Record(res)
	}
}

func BenchmarkWindows1s_100k(b *testing.B) {
	tl := synthetic(100_000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		tl.Windows(time.Second)
	}
}

func BenchmarkFailedIntervals_100k(b *testing.B) {
	tl := synthetic(100_000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		tl.FailedIntervals()
	}
}

func BenchmarkSummarize_100k(b *testing.B) {
	tl := synthetic(100_000, 1000)
	b.ReportAllocs()
	for b.Loop() {
		tl.Summarize()
	}
}

// BenchmarkGenerator measures the load generator end to end: a local server,
// one new connection per request (the default), every result recorded and
// encoded. It reports the sustained rate as req/s; run with -benchtime=1x.
func BenchmarkGenerator(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	for _, spread := range []bool{false, true} {
		for _, rate := range []int{1000, 4000, 8000} {
			b.Run(rateName(rate)+"/spread="+strconv.FormatBool(spread), func(b *testing.B) {
				for b.Loop() {
					rec := NewRecorder(io.Discard, time.Now())
					if err := Run(context.Background(), Options{Target: srv.URL, Rate: rate, Duration: 3 * time.Second, SpreadSources: spread}, rec); err != nil {
						b.Fatal(err)
					}
					s := rec.Timeline().Summarize()
					b.ReportMetric(s.AchievedRate, "req/s")
					b.ReportMetric(s.Availability*100, "%ok")
					b.ReportMetric(float64(s.Latency.P99.Microseconds()), "p99-µs")
				}
			})
		}
	}
}

func rateName(r int) string {
	return "rate=" + strconv.Itoa(r)
}
