package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/load"
)

func TestShareAddsUpToTheTotal(t *testing.T) {
	for _, c := range []struct{ total, agents int }{{100, 1}, {100, 3}, {7, 7}, {1000, 6}, {5, 2}} {
		sum, lo, hi := 0, c.total, 0
		for i := 0; i < c.agents; i++ {
			s := Share(c.total, c.agents, i)
			sum += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if sum != c.total || hi-lo > 1 {
			t.Errorf("%d over %d agents: sum %d, shares %d-%d", c.total, c.agents, sum, lo, hi)
		}
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseArgs(t *testing.T) {
	inPod := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "JOB_COMPLETION_INDEX": "2"}
	base := []string{"--target", "http://web.shop.svc:80/", "--rate", "100", "--duration", "30s", "--agents", "3"}
	c, err := ParseArgs(base, env(inPod))
	if err != nil {
		t.Fatal(err)
	}
	// 100 over 3: 34, 33, 33
	if c.Index != 2 || c.Load.Rate != 33 || !c.Load.InCluster || c.Load.Duration != 30*time.Second || c.Load.Timeout != 2*time.Second {
		t.Fatalf("config %+v", c)
	}
	c, err = ParseArgs(append(base, "--ramp-to", "300", "--keep-alive", "--method", "HEAD"), env(map[string]string{"KUBERNETES_SERVICE_HOST": "x", "JOB_COMPLETION_INDEX": "0"}))
	if err != nil || c.Load.Rate != 34 || c.Load.RampTo != 100 || !c.Load.KeepAlive || c.Load.Method != "HEAD" {
		t.Fatalf("config %+v, %v", c, err)
	}
	bad := []struct {
		want string
		args []string
		env  map[string]string
	}{
		{"not in a Kubernetes pod", base, map[string]string{"JOB_COMPLETION_INDEX": "0"}},
		{"JOB_COMPLETION_INDEX", base, map[string]string{"KUBERNETES_SERVICE_HOST": "x"}},
		{"index 3", base, map[string]string{"KUBERNETES_SERVICE_HOST": "x", "JOB_COMPLETION_INDEX": "3"}},
		{"below one request per second per agent", []string{"--target", "http://web.shop.svc/", "--rate", "2", "--duration", "30s", "--agents", "3"}, inPod},
		{"Service's DNS name", []string{"--target", "http://10.0.0.8/", "--rate", "30", "--duration", "30s", "--agents", "3"}, inPod},
		{"Service's DNS name", []string{"--target", "http://127.0.0.1/", "--rate", "30", "--duration", "30s", "--agents", "3"}, inPod},
		{"unexpected arguments", append(base, "extra"), inPod},
		{"duration", []string{"--target", "http://web.shop.svc/", "--rate", "30", "--agents", "3"}, inPod},
	}
	for _, b := range bad {
		if _, err := ParseArgs(b.args, env(b.env)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v %v: err %v, want %q", b.args, b.env, err, b.want)
		}
	}
}

func TestQualifyNamesTheServiceAbsolutely(t *testing.T) {
	search := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	for in, want := range map[string]string{
		"http://web.shop.svc:8080/x?y=1":        "http://web.shop.svc.cluster.local.:8080/x?y=1",
		"http://web.shop.svc/":                  "http://web.shop.svc.cluster.local./",
		"http://web.shop.svc.cluster.local/":    "http://web.shop.svc.cluster.local/",
		"http://web.shop.svc.example.internal/": "http://web.shop.svc.example.internal/",
	} {
		if got := Qualify(in, search); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	// no search list (not in a pod's resolver): left alone
	if got := Qualify("http://web.shop.svc/", nil); got != "http://web.shop.svc/" {
		t.Errorf("without search list: %s", got)
	}
}

// syncBuffer is the agent's output, read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAgent runs an agent against a local server (the in-cluster target
// rule is ParseArgs'; here the load stays on this machine).
func startAgent(t *testing.T, duration time.Duration, within time.Duration) (ctl string, out *syncBuffer, result chan error) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Load: load.Options{Target: srv.URL, Rate: 50, Duration: duration, Timeout: time.Second}, Index: 1, Agents: 2, StartWithin: within}
	out = &syncBuffer{}
	result = make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { result <- Serve(ctx, ln, cfg, out, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	return "http://" + ln.Addr().String(), out, result
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readOutput splits an agent's output into results and its Done line.
func readOutput(t *testing.T, out string) ([]load.Result, *Done) {
	t.Helper()
	var results []load.Result
	var done *Done
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"done":`) {
			var d DoneLine
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			done = d.Done
			continue
		}
		r, err := load.ParseResult(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	return results, done
}

func TestServeStartsAtTheAgreedTimeAndReportsEveryResult(t *testing.T) {
	ctl, out, result := startAgent(t, time.Second, time.Minute)
	if code := get(t, ctl+"/ready"); code != http.StatusOK {
		t.Fatalf("ready: %d", code)
	}
	at := time.Now().Add(300 * time.Millisecond).UTC()
	start := ctl + "/start?at=" + at.Format(time.RFC3339Nano)
	if code := get(t, start); code != http.StatusOK {
		t.Fatalf("start: %d", code)
	}
	// the gate may retry the same start; another time is refused
	if code := get(t, start); code != http.StatusOK {
		t.Fatalf("same start again: %d", code)
	}
	if code := get(t, ctl+"/start?at="+at.Add(time.Second).Format(time.RFC3339Nano)); code != http.StatusConflict {
		t.Fatalf("different start: %d", code)
	}
	if code := get(t, ctl+"/start?at=soon"); code != http.StatusBadRequest {
		t.Fatalf("bad start: %d", code)
	}
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	results, done := readOutput(t, out.String())
	if done == nil || done.Index != 1 || done.Interrupted {
		t.Fatalf("done line %+v", done)
	}
	// 50 req/s for 1s, every one reported, none before the agreed time
	if done.Total != len(results) || done.Total < 45 || done.OK != done.Total {
		t.Fatalf("done %+v, %d result lines", done, len(results))
	}
	for _, r := range results {
		if r.Start.Before(at) {
			t.Fatalf("a request started at %s, before the agreed %s", r.Start, at)
		}
	}
	if done.LateUS < 0 || time.Duration(done.LateUS)*time.Microsecond > MaxLate {
		t.Fatalf("late by %dus", done.LateUS)
	}
}

func TestServeStopsEarlyOnStop(t *testing.T) {
	ctl, out, result := startAgent(t, time.Minute, time.Minute)
	get(t, ctl+"/start?at="+time.Now().Format(time.RFC3339Nano))
	time.Sleep(300 * time.Millisecond)
	get(t, ctl+"/stop")
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop")
	}
	results, done := readOutput(t, out.String())
	if done == nil || !done.Interrupted || done.Total != len(results) {
		t.Fatalf("done %+v after %d results", done, len(results))
	}
}

func TestServeEndsWithoutAStart(t *testing.T) {
	_, out, result := startAgent(t, time.Second, 200*time.Millisecond)
	if err := <-result; err == nil || !strings.Contains(err.Error(), "no start from the gate") {
		t.Fatalf("err %v", err)
	}
	if out.String() != "" {
		t.Fatalf("output %q", out.String())
	}
}

func TestServeRefusesALateStart(t *testing.T) {
	ctl, _, result := startAgent(t, time.Second, time.Minute)
	get(t, ctl+"/start?at="+time.Now().Add(-5*time.Second).Format(time.RFC3339Nano))
	if err := <-result; err == nil || !strings.Contains(err.Error(), "after the agreed time") {
		t.Fatalf("err %v", err)
	}
}
