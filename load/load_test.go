package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// build makes a timeline from (start ms, latency ms, ok) triples.
func build(samples ...[3]int) *Timeline {
	tl := NewTimeline(t0)
	for _, s := range samples {
		code, msg := uint16(200), ""
		if s[2] == 0 {
			code, msg = 0, "connection refused"
		}
		tl.Add(t0.Add(time.Duration(s[0])*time.Millisecond), time.Duration(s[1])*time.Millisecond, code, msg)
	}
	return tl
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestPercentileNearestRank(t *testing.T) {
	cases := []struct {
		lat  []uint32
		q    float64
		want time.Duration
	}{
		{nil, .5, 0},
		{[]uint32{7}, .99, 7 * time.Microsecond},
		{[]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .5, 5 * time.Microsecond},
		{[]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .9, 9 * time.Microsecond},
		{[]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, .91, 10 * time.Microsecond},
		{[]uint32{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 1, 10 * time.Microsecond},
		{[]uint32{5, 1}, 0, 1 * time.Microsecond},
	}
	for _, c := range cases {
		if got := Percentile(append([]uint32(nil), c.lat...), c.q); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.lat, c.q, got, c.want)
		}
	}
	// exact tail: 1000 values, p99.9 is the 999th
	lat := make([]uint32, 1000)
	for i := range lat {
		lat[i] = uint32(1000 - i)
	}
	if got := Percentile(lat, .999); got != 999*time.Microsecond {
		t.Fatalf("p99.9 = %v", got)
	}
}

func TestFailedIntervals(t *testing.T) {
	cases := []struct {
		name string
		tl   *Timeline
		want []Interval
	}{
		{"all ok", build([3]int{0, 5, 1}, [3]int{10, 5, 1}), nil},
		// ends when the next success starts
		{"one failure", build([3]int{0, 5, 1}, [3]int{10, 3, 0}, [3]int{20, 5, 1}), []Interval{{ms(10), ms(20), 1}}},
		// a timeout between successes is not a 2s outage
		{"slow failure between successes", build([3]int{0, 5, 1}, [3]int{10, 2000, 0}, [3]int{20, 5, 1}), []Interval{{ms(10), ms(20), 1}}},
		{"run of three", build([3]int{0, 5, 1}, [3]int{10, 1, 0}, [3]int{20, 1, 0}, [3]int{30, 2000, 0}, [3]int{40, 5, 1}), []Interval{{ms(10), ms(40), 3}}},
		{"split by a success", build([3]int{10, 1, 0}, [3]int{20, 1, 1}, [3]int{30, 1, 0}), []Interval{{ms(10), ms(20), 1}, {ms(30), ms(31), 1}}},
		// recorded in completion order: the slow failure started first
		{"out of order", build([3]int{30, 1, 0}, [3]int{10, 100, 0}, [3]int{40, 1, 1}), []Interval{{ms(10), ms(40), 2}}},
		// no success afterwards: until the last failure ended
		{"failure at the end", build([3]int{0, 1, 1}, [3]int{10, 4, 0}, [3]int{12, 100, 0}), []Interval{{ms(10), ms(112), 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.tl.FailedIntervals()
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	long := Longest([]Interval{{ms(0), ms(5), 3}, {ms(10), ms(30), 1}, {ms(40), ms(45), 9}})
	if long.Duration() != ms(20) {
		t.Fatalf("longest = %v", long)
	}
	if (Longest(nil) != Interval{}) {
		t.Fatal("longest of none must be zero")
	}
}

func TestWindows(t *testing.T) {
	tl := build(
		[3]int{0, 10, 1}, [3]int{500, 20, 1}, // window 0: 2 ok
		[3]int{1000, 30, 0}, [3]int{1999, 40, 1}, // window 1: 1 of 2
		// window 2 empty
		[3]int{3000, 50, 1}, // window 3
	)
	w := tl.Windows(time.Second)
	if len(w) != 4 {
		t.Fatalf("windows = %d", len(w))
	}
	want := []Window{
		{Start: 0, Total: 2, OK: 2, Availability: 1, P50: ms(10), P95: ms(20), P99: ms(20)},
		{Start: time.Second, Total: 2, OK: 1, Availability: .5, P50: ms(40), P95: ms(40), P99: ms(40)},
		{Start: 2 * time.Second, Availability: 1},
		{Start: 3 * time.Second, Total: 1, OK: 1, Availability: 1, P50: ms(50), P95: ms(50), P99: ms(50)},
	}
	for i := range want {
		if w[i] != want[i] {
			t.Errorf("window %d = %+v, want %+v", i, w[i], want[i])
		}
	}
	if tl.Windows(0) != nil || NewTimeline(t0).Windows(time.Second) != nil {
		t.Fatal("degenerate windows must be nil")
	}
	// odd input: everything before the origin, or far too many windows
	before := NewTimeline(t0)
	before.Add(t0.Add(-5*time.Second), time.Millisecond, 200, "")
	if before.Windows(time.Second) != nil {
		t.Fatal("requests before the origin make no windows")
	}
	if tl.Windows(time.Nanosecond) != nil {
		t.Fatal("more than MaxWindows windows must be refused, not allocated")
	}
}

func TestSummarize(t *testing.T) {
	tl := build([3]int{0, 10, 1}, [3]int{100, 20, 1}, [3]int{200, 5, 0}, [3]int{300, 30, 1}, [3]int{400, 40, 1})
	tl.Add(t0.Add(ms(500)), ms(3), 503, "")
	s := tl.Summarize()
	if s.Total != 6 || s.OK != 4 || s.Failed != 2 {
		t.Fatalf("counts %+v", s)
	}
	if s.Availability != 4.0/6 {
		t.Fatalf("availability %v", s.Availability)
	}
	if s.Span != ms(500) || s.AchievedRate != 10 {
		t.Fatalf("span %v rate %v", s.Span, s.AchievedRate)
	}
	// latency of successful requests only: 10,20,30,40
	if s.Latency.P50 != ms(20) || s.Latency.Max != ms(40) || s.Latency.Count != 4 {
		t.Fatalf("latency %+v", s.Latency)
	}
	if len(s.TopErrors) != 2 || s.TopErrors[0].Message != "HTTP 503" && s.TopErrors[0].Message != "connection refused" {
		t.Fatalf("errors %+v", s.TopErrors)
	}
	if len(s.FailedIntervals) != 2 {
		t.Fatalf("intervals %+v", s.FailedIntervals)
	}
	if total, ok := tl.Between(ms(100), ms(300)); total != 2 || ok != 1 {
		t.Fatalf("between = %d/%d", ok, total)
	}
}

func TestRecorderStreamsJSONLines(t *testing.T) {
	var buf bytes.Buffer
	rec := NewRecorder(&buf, t0)
	rec.Record(Result{Seq: 0, Start: t0, Latency: 1500 * time.Microsecond, Code: 200})
	rec.Record(Result{Seq: 1, Start: t0.Add(ms(5)), Latency: ms(2000), Error: `dial tcp: "refused"`})
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["latency_us"] != 1500.0 || lines[0]["code"] != 200.0 || lines[1]["error"] != `dial tcp: "refused"` {
		t.Fatalf("lines = %v", lines)
	}
	if total, ok := rec.Counts(); total != 2 || ok != 1 {
		t.Fatalf("counts %d %d", total, ok)
	}
	if tl := rec.Timeline(); len(tl.Samples) != 2 || tl.Samples[1].OK {
		t.Fatalf("timeline %+v", tl.Samples)
	}
}

func TestRecorderFlushesWhileRunning(t *testing.T) {
	var buf bytes.Buffer
	rec := NewRecorder(&buf, t0)
	rec.FlushEvery = 0 // every record reaches the writer at once
	rec.Record(Result{Start: t0, Latency: ms(1), Code: 200})
	if !strings.Contains(buf.String(), `"seq":0`) {
		t.Fatal("result not on disk after recording")
	}
}

func TestValidate(t *testing.T) {
	good := Options{Target: "http://127.0.0.1:30080/", Rate: 100, Duration: time.Minute}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]Options{
		"host must be":  {Target: "http://10.0.0.1/", Rate: 1, Duration: time.Second},
		"scheme":        {Target: "ftp://127.0.0.1/", Rate: 1, Duration: time.Second},
		"rate":          {Target: "http://localhost/", Rate: 0, Duration: time.Second},
		"duration":      {Target: "http://[::1]:80/", Rate: 1, Duration: 3 * time.Hour},
		"ramp-to":       {Target: "http://127.0.0.1/", Rate: 1, RampTo: -1, Duration: time.Second},
		"timeout":       {Target: "http://127.0.0.1/", Rate: 1, Duration: time.Second, Timeout: time.Hour},
		"host must be ": {Target: "http://example.com/", Rate: 1, Duration: time.Second},
		"in flight":     {Target: "http://127.0.0.1/", Rate: 20000, Duration: time.Second, Timeout: 30 * time.Second},
		"method":        {Target: "http://127.0.0.1/", Rate: 1, Duration: time.Second, Method: "BREW"},
		// a pod's load goes to a Service name only, never to an address
		"Service's DNS name":   {Target: "http://127.0.0.1/", Rate: 1, Duration: time.Second, InCluster: true},
		"Service's DNS name ":  {Target: "http://10.96.0.10/", Rate: 1, Duration: time.Second, InCluster: true},
		" Service's DNS name":  {Target: "http://example.com/", Rate: 1, Duration: time.Second, InCluster: true},
		"Service's DNS name  ": {Target: "http://web.default.cluster.local/", Rate: 1, Duration: time.Second, InCluster: true},
		"host must be   ":      {Target: "http://web.default.svc/", Rate: 1, Duration: time.Second},
	}
	for want, o := range bad {
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("%+v: err = %v, want %q", o, err, want)
		}
	}
	for _, host := range []string{"web.default.svc", "web.default.svc.cluster.local", "web.ns-1.svc.cluster.local."} {
		if err := (Options{Target: "http://" + host + ":8080/x", Rate: 1, Duration: time.Second, InCluster: true}).Validate(); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if r := (Options{Rate: 10, RampTo: 30}).TargetRate(); r != 20 {
		t.Fatalf("ramp target rate %v", r)
	}
	// workers cover the peak rate for a whole timeout, plus slack
	for _, c := range []struct {
		o    Options
		want uint64
	}{
		{Options{Rate: 100}, 310},
		{Options{Rate: 100, RampTo: 1000, Timeout: time.Second}, 2010},
		{Options{Rate: 5000, Timeout: 500 * time.Millisecond}, 7510},
	} {
		if got := c.o.Workers(); got != c.want {
			t.Errorf("%+v: workers %d, want %d", c.o, got, c.want)
		}
	}
}

// During an outage every request waits for its timeout. The generator
// must keep sending on schedule all the same, or it would hide the outage
// it is there to measure.
func TestOutageDoesNotStarveTheSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	rec := NewRecorder(io.Discard, time.Now())
	o := Options{Target: srv.URL + "/", Rate: 200, Duration: 2 * time.Second, Timeout: time.Second}
	if err := Run(context.Background(), o, rec); err != nil {
		t.Fatal(err)
	}
	s := rec.Timeline().Summarize()
	// 400 scheduled. A starved generator (vegeta's default 10 workers, each
	// held 1s by a hung request) sends about 20; half the schedule leaves
	// room for a -race build on a busy 2-core machine, which reached 49%
	// of a 400/s schedule once
	if s.Total < 200 || s.OK != 0 {
		t.Fatalf("sent %d requests (%d ok) in 2s at 200/s while every request hung: the schedule starved", s.Total, s.OK)
	}
}

func TestRunAgainstLocalServer(t *testing.T) {
	var conns atomic.Int64
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "boom", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	var out bytes.Buffer
	rec := NewRecorder(&out, time.Now())
	err := Run(context.Background(), Options{Target: srv.URL + "/", Rate: 200, Duration: 500 * time.Millisecond}, rec)
	if err != nil {
		t.Fatal(err)
	}
	s := rec.Timeline().Summarize()
	if s.Total < 60 || s.Total > 101 { // scheduling on a busy machine may start late, never early
		t.Fatalf("sent %d requests, want about 100", s.Total)
	}
	if s.Failed != s.Total/10 {
		t.Fatalf("failed %d of %d, want every 10th", s.Failed, s.Total)
	}
	if s.TopErrors[0].Message != "503 Service Unavailable" && s.TopErrors[0].Message != "HTTP 503" {
		t.Fatalf("errors %+v", s.TopErrors)
	}
	// no keep-alive: one connection per request
	if c := conns.Load(); c < int64(s.Total)-2 {
		t.Fatalf("%d connections for %d requests: keep-alive is on", c, s.Total)
	}
	if got := strings.Count(out.String(), "\n"); got != s.Total {
		t.Fatalf("%d lines on disk for %d results", got, s.Total)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := Run(ctx, Options{Target: srv.URL, Rate: 50, Duration: time.Minute}, NewRecorder(io.Discard, start))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err=%v after %s", err, time.Since(start))
	}
}

func TestRampSendsTheMeanRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	o := Options{Target: srv.URL, Rate: 50, RampTo: 250, Duration: time.Second}
	if _, ok := o.Pacer().(vegeta.LinearPacer); !ok {
		t.Fatalf("pacer %T is not linear", o.Pacer())
	}
	rec := NewRecorder(io.Discard, time.Now())
	if err := Run(context.Background(), o, rec); err != nil {
		t.Fatal(err)
	}
	// mean of a linear ramp 50 -> 250 over 1s is 150 requests
	if total, _ := rec.Counts(); total < 135 || total > 165 {
		t.Fatalf("sent %d, want about 150", total)
	}
	// the second half carries more load than the first
	tl := rec.Timeline()
	first, _ := tl.Between(0, 500*time.Millisecond)
	second, _ := tl.Between(500*time.Millisecond, time.Second)
	if second <= first {
		t.Fatalf("ramp not rising: %d then %d", first, second)
	}
}

// With SpreadSources every connection comes from another loopback source
// address, so no 4-tuple (and no stale conntrack entry) is reused.
func TestSpreadSources(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[host]++
		mu.Unlock()
	}))
	defer srv.Close()
	rec := NewRecorder(io.Discard, time.Now())
	if err := Run(context.Background(), Options{Target: srv.URL + "/", Rate: 200, Duration: 500 * time.Millisecond, SpreadSources: true}, rec); err != nil {
		t.Fatal(err)
	}
	s := rec.Timeline().Summarize()
	mu.Lock()
	defer mu.Unlock()
	if s.OK < 90 || len(seen) != s.OK {
		t.Fatalf("%d requests ok from %d source addresses; want one address each", s.OK, len(seen))
	}
	for ip := range seen {
		if !strings.HasPrefix(ip, "127.1.") {
			t.Fatalf("source %s outside %s", ip, SpreadNetwork)
		}
	}
	if source(0).String() != "127.1.0.1" || source(65533).String() != "127.1.255.254" || source(65534).String() != "127.1.0.1" {
		t.Fatalf("sources %s %s %s", source(0), source(65533), source(65534))
	}
}

// One request per connection: the client resets the connection when it
// closes it (no TIME_WAIT, a 10s conntrack entry); with keep-alive it
// closes with a FIN as usual. The server sees the difference.
func TestConnectionsEndWithAResetWithoutKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		wantReset bool
	}{
		{"spread sources", Options{SpreadSources: true}, true},
		{"one source", Options{}, true},
		{"keep-alive", Options{KeepAlive: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			tc.o.Target, tc.o.Timeout = "http://"+ln.Addr().String()+"/", time.Second
			dial := tc.o.client().Transport.(*http.Transport).DialContext
			c, err := dial(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			srv, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			c.Close()
			_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = srv.Read(make([]byte, 1))
			if reset := err != nil && strings.Contains(err.Error(), "connection reset"); reset != tc.wantReset {
				t.Fatalf("server read after the client closed: %v; want a reset: %v", err, tc.wantReset)
			}
		})
	}
}

func TestBurstEnd(t *testing.T) {
	// failures at 1.0, 1.4, 2.2 (within 1s of each other), then 4.0
	tl := build([3]int{500, 5, 1}, [3]int{1000, 5, 0}, [3]int{1200, 5, 1}, [3]int{1400, 5, 0}, [3]int{2200, 5, 0},
		[3]int{3000, 5, 1}, [3]int{4000, 5, 0})
	cases := []struct{ from, want time.Duration }{
		{900 * time.Millisecond, 2200 * time.Millisecond},
		{2500 * time.Millisecond, 2500 * time.Millisecond}, // the next failure is 1.5s away
		{3500 * time.Millisecond, 4000 * time.Millisecond},
	}
	for _, c := range cases {
		if got := tl.BurstEnd(c.from, time.Second); got != c.want {
			t.Errorf("from %s: %s, want %s", c.from, got, c.want)
		}
	}
}

// Recent counts the requests that completed in the trailing window's whole
// seconds, whatever order they were recorded in: a slow request that
// started before the window but ended in it counts.
func TestRecorderRecentCountsWhatCompletedInTheWindow(t *testing.T) {
	origin := time.Unix(1000, 0)
	rec := NewRecorder(io.Discard, origin)
	at := func(s float64) time.Time { return origin.Add(time.Duration(s * float64(time.Second))) }
	rec.Record(Result{Start: at(3.5), Latency: 2 * time.Second, Code: 200}) // completes in second 5
	for i := 0; i < 50; i++ {                                               // seconds 0-4: OK, 10ms
		rec.Record(Result{Start: at(float64(i) / 10), Latency: 10 * time.Millisecond, Code: 200})
	}
	for i := 0; i < 10; i++ { // second 6: failures
		rec.Record(Result{Start: at(6 + float64(i)/20), Latency: time.Millisecond, Error: "connection refused"})
	}
	for _, tc := range []struct {
		window    time.Duration
		now       float64
		total, ok int
		p99       time.Duration
	}{
		{window: 2 * time.Second, now: 7.1, total: 11, ok: 1, p99: 2 * time.Second},        // seconds 5-6
		{window: 10 * time.Second, now: 7.1, total: 61, ok: 51, p99: 2 * time.Second},      // 1 of 51 is 2%
		{window: 3 * time.Second, now: 5.1, total: 30, ok: 30, p99: 10 * time.Millisecond}, // seconds 2-4
		{window: time.Second, now: 20, total: 0, ok: 0},                                    // nothing since
		{window: time.Hour, now: 7.1, total: 61, ok: 51, p99: 2 * time.Second},             // cut to 10s
	} {
		got := rec.Recent(tc.window, at(tc.now))
		if got.Total != tc.total || got.OK != tc.ok || !within2Percent(got.P99, tc.p99) {
			t.Errorf("Recent(%s, %gs) = %+v, want %d total, %d ok, p99 %s", tc.window, tc.now, got, tc.total, tc.ok, tc.p99)
		}
	}
	if a := rec.Recent(time.Second, at(20)).Availability(); a != 100 {
		t.Errorf("availability without requests %g, want 100", a)
	}
}

// Overall counts every request recorded, however long ago: its p99 is the
// run's so far, failed requests left out of the latency.
func TestRecorderOverallCountsEveryRequest(t *testing.T) {
	origin := time.Unix(1000, 0)
	rec := NewRecorder(io.Discard, origin)
	if got := rec.Overall(); got.Total != 0 || got.P99 != 0 || got.Availability() != 100 {
		t.Fatalf("Overall before any request = %+v", got)
	}
	for i := 0; i < 990; i++ { // 99%: 5ms, over 99 seconds
		rec.Record(Result{Start: origin.Add(time.Duration(i) * 100 * time.Millisecond), Latency: 5 * time.Millisecond, Code: 200})
	}
	for i := 0; i < 10; i++ { // the slowest 1%: 800ms
		rec.Record(Result{Start: origin.Add(time.Duration(i) * time.Second), Latency: 800 * time.Millisecond, Code: 200})
	}
	for i := 0; i < 100; i++ { // failed fast: no latency counted
		rec.Record(Result{Start: origin.Add(time.Minute), Latency: time.Microsecond, Error: "connection refused"})
	}
	got := rec.Overall()
	if got.Total != 1100 || got.OK != 1000 {
		t.Errorf("Overall = %+v, want 1100 total, 1000 ok", got)
	}
	// rank 990 of 1000 is the last 5ms one; a window of 10s would hold none
	if !within2Percent(got.P99, 5*time.Millisecond) {
		t.Errorf("Overall p99 %s, want 5ms", got.P99)
	}
	rec.Record(Result{Start: origin, Latency: 800 * time.Millisecond, Code: 200})
	if got := rec.Overall(); !within2Percent(got.P99, 800*time.Millisecond) {
		t.Errorf("Overall p99 with 11 of 1001 slow: %s, want 800ms", got.P99)
	}
}

func within2Percent(got, want time.Duration) bool {
	return got >= want && float64(got) <= 1.02*float64(want)
}

// The histogram's p99 is never below the exact one and at most 2% above,
// over latencies from 1µs to an hour.
func TestRecentP99IsWithinTwoPercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		w := newRecentWindow(10 * time.Second)
		n := 1 + rng.IntN(3000)
		lat := make([]uint32, n)
		scale := math.Pow(10, float64(rng.IntN(10)))
		for i := range lat {
			lat[i] = uint32(min(1+rng.Float64()*scale, math.MaxUint32))
			w.add(Sample{Start: int64(2*time.Second) - int64(lat[i])*1000, LatencyUS: lat[i], OK: true}, latencyBucket(lat[i])) // completes in second 2
		}
		exact := Percentile(lat, .99)
		got := w.sum(5*time.Second, 3500*time.Millisecond).P99
		if got < exact || float64(got) > 1.02*float64(exact)+float64(time.Microsecond) {
			t.Fatalf("round %d: p99 %s, exact %s", round, got, exact)
		}
	}
}

// KeepRecent lengthens the window Recent answers for; the ring reuses its
// slots as seconds pass.
func TestRecorderKeepRecent(t *testing.T) {
	origin := time.Unix(1000, 0)
	rec := NewRecorder(io.Discard, origin)
	rec.KeepRecent(time.Minute)
	for s := 0; s < 300; s++ {
		rec.Record(Result{Start: origin.Add(time.Duration(s) * time.Second), Latency: time.Millisecond, Code: 200})
	}
	if got := rec.Recent(time.Minute, origin.Add(299500*time.Millisecond)); got.Total != 60 {
		t.Fatalf("last minute: %+v, want 60 requests", got)
	}
}
