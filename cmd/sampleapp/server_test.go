package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func start(t *testing.T, cfg config) (string, context.CancelFunc, chan error) {
	t.Helper()
	cfg.Addr = freeAddr(t)
	if cfg.MaxWork == 0 {
		cfg.MaxWork = time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- newServer(cfg, slog.New(slog.NewTextHandler(io.Discard, nil))).serve(ctx) }()
	base := "http://" + cfg.Addr
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return base, cancel, done
}

// tryGet is get for a server that may be gone: 0 when the request failed.
func tryGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	base, cancel, done := start(t, config{Pod: "p1", Version: "v7", Graceful: true})
	defer func() { cancel(); <-done }()
	code, body := get(t, base+"/")
	var rr rootResponse
	if code != 200 || json.Unmarshal([]byte(body), &rr) != nil || rr.Pod != "p1" || rr.Version != "v7" {
		t.Fatalf("/ = %d %q", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	if code, body := get(t, base+"/work?ms=5"); code != 200 || !strings.Contains(body, "worked 5ms") {
		t.Fatalf("/work = %d %q", code, body)
	}
	start := time.Now()
	if code, body := get(t, base+"/work?ms=1&wait=150ms"); code != 200 || !strings.Contains(body, "worked 1ms") || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("/work?ms=1&wait=150ms = %d %q after %s", code, body, time.Since(start))
	}
	if code, _ := get(t, base+"/work?wait=soon"); code != 400 {
		t.Fatalf("/work?wait=soon = %d", code)
	}
	if code, _ := get(t, base+"/work?ms=-1"); code != 400 {
		t.Fatalf("/work?ms=-1 = %d", code)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Fatalf("/nope = %d", code)
	}
	_, metrics := get(t, base+"/metrics")
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	reqs := families["sampleapp_http_requests_total"]
	if reqs == nil {
		t.Fatal("no request counter")
	}
	var rootOK float64
	for _, m := range reqs.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["handler"] == "root" && labels["code"] == "200" {
			rootOK = m.GetCounter().GetValue()
		}
	}
	if rootOK != 1 {
		t.Fatalf("root 200 count = %v", rootOK)
	}
	if h := families["sampleapp_http_request_duration_seconds"]; h == nil || h.GetType().String() != "HISTOGRAM" {
		t.Fatal("no latency histogram")
	}
}

func TestGracefulDrainKeepsServingUnready(t *testing.T) {
	base, cancel, done := start(t, config{Pod: "p", Graceful: true, DrainDelay: 300 * time.Millisecond})
	cancel() // SIGTERM
	time.Sleep(50 * time.Millisecond)
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Fatalf("readyz while draining = %d, want 503", code)
	}
	if code, _ := get(t, base+"/"); code != 200 {
		t.Fatalf("/ while draining = %d, want 200", code)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not exit after draining")
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// With DRAIN_QUIET the app drains for as long as requests keep coming (a
// kube-proxy slow to stop routing here), then exits once they stop, and
// never past DRAIN_MAX.
func TestDrainWaitsUntilRequestsStop(t *testing.T) {
	for _, tc := range []struct {
		name      string
		traffic   time.Duration
		max       time.Duration
		wantAtGE  time.Duration
		wantBelow time.Duration
	}{
		{"until quiet", time.Second, 5 * time.Second, time.Second, 2500 * time.Millisecond},
		{"no traffic: the delay only", 0, 5 * time.Second, 200 * time.Millisecond, 900 * time.Millisecond},
		{"bounded by the maximum", 3 * time.Second, 1200 * time.Millisecond, 1200 * time.Millisecond, 2500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, cancel, done := start(t, config{Pod: "p", Graceful: true, DrainDelay: 200 * time.Millisecond,
				DrainQuiet: 500 * time.Millisecond, DrainMax: tc.max})
			sigterm := time.Now()
			cancel()
			exited := make(chan time.Duration, 1)
			go func() {
				if err := <-done; err != nil {
					t.Error(err)
				}
				exited <- time.Since(sigterm)
			}()
			failed := 0
			var took time.Duration
		traffic:
			for time.Since(sigterm) < tc.traffic {
				if code, _ := tryGet(base + "/"); code != 200 {
					select {
					case took = <-exited: // refused once it exited: expected
						break traffic
					case <-time.After(100 * time.Millisecond):
						failed++ // refused while it still ran
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			if took == 0 {
				select {
				case took = <-exited:
				case <-time.After(5 * time.Second):
					t.Fatal("did not exit")
				}
			}
			if took < tc.wantAtGE || took >= tc.wantBelow {
				t.Errorf("exited %s after SIGTERM, want [%s, %s)", took, tc.wantAtGE, tc.wantBelow)
			}
			if failed > 0 {
				t.Errorf("%d requests failed while draining", failed)
			}
		})
	}
}

func TestUngracefulExitsAtOnce(t *testing.T) {
	_, cancel, done := start(t, config{Graceful: false, DrainDelay: time.Hour})
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("ungraceful shutdown waited")
	}
}

// The broken variants' knobs: an app that ignores SIGTERM keeps serving
// and Ready until it is killed; a slow one answers late; a bad
// configuration stops new processes from starting.
func TestBrokenVariants(t *testing.T) {
	base, cancel, done := start(t, config{Graceful: true, IgnoreSIGTERM: true})
	cancel() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz after an ignored SIGTERM = %d", code)
	}
	select {
	case <-done:
		t.Fatal("exited although SIGTERM is ignored")
	default:
	}

	base, cancel, _ = start(t, config{Graceful: true, ResponseDelay: 200 * time.Millisecond})
	defer cancel()
	t0 := time.Now()
	if code, _ := get(t, base+"/"); code != 200 || time.Since(t0) < 200*time.Millisecond {
		t.Fatalf("slow variant answered %d after %s", code, time.Since(t0))
	}

	// a bug failing one request in four, and counted as failed in the
	// app's own metrics
	base, cancel3, _ := start(t, config{Graceful: true, ErrorEvery: 4})
	defer cancel3()
	codes := map[int]int{}
	for range 8 {
		code, _ := get(t, base+"/")
		codes[code]++
	}
	if codes[500] != 2 || codes[200] != 6 {
		t.Fatalf("ERROR_EVERY=4 over 8 requests: %v", codes)
	}
	if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, `sampleapp_http_requests_total{code="500",handler="root"} 2`) {
		t.Fatalf("the failures are not in the app's counter:\n%s", metrics)
	}

	f := filepath.Join(t.TempDir(), "crash")
	if err := os.WriteFile(f, []byte("true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := newServer(config{Addr: freeAddr(t), CrashIfFile: f}, slog.New(slog.NewTextHandler(io.Discard, nil))).serve(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("crash file: %v", err)
	}

	// a release that serves, then dies without draining
	_, cancel2, done2 := start(t, config{Graceful: true, CrashAfter: 300 * time.Millisecond})
	defer cancel2()
	select {
	case err := <-done2:
		if err == nil || !strings.Contains(err.Error(), "CRASH_AFTER") {
			t.Fatalf("crash after: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("CRASH_AFTER did not crash the app")
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"PORT": "9000", "START_DELAY": "8s", "GRACEFUL_SHUTDOWN": "false", "POD_NAME": "x",
		"IGNORE_SIGTERM": "true", "RESPONSE_DELAY": "600ms", "CRASH_IF_FILE": "/etc/x", "CRASH_AFTER": "4s", "ERROR_EVERY": "20"}
	cfg, err := configFromEnv(func(k string) string { return env[k] })
	if err != nil || cfg.Addr != ":9000" || cfg.StartDelay != 8*time.Second || cfg.Graceful || cfg.DrainDelay != 5*time.Second ||
		!cfg.IgnoreSIGTERM || cfg.ResponseDelay != 600*time.Millisecond || cfg.CrashIfFile != "/etc/x" || cfg.CrashAfter != 4*time.Second || cfg.ErrorEvery != 20 {
		t.Fatalf("%+v %v", cfg, err)
	}
	for k, v := range map[string]string{"PORT": "0", "DRAIN_DELAY": "soon", "GRACEFUL_SHUTDOWN": "maybe", "MAX_WORK": "-1s", "IGNORE_SIGTERM": "sometimes", "ERROR_EVERY": "-2"} {
		if _, err := configFromEnv(func(q string) string {
			if q == k {
				return v
			}
			return ""
		}); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: err = %v", k, v, err)
		}
	}
	drain := map[string]string{"DRAIN_QUIET": "1s", "DRAIN_DELAY": "5s", "DRAIN_MAX": "3s"}
	if _, err := configFromEnv(func(k string) string { return drain[k] }); err == nil || !strings.Contains(err.Error(), "DRAIN_MAX=3s is below DRAIN_DELAY=5s") {
		t.Errorf("a maximum below the delay: %v", err)
	}
}

func TestConfigDir(t *testing.T) {
	dir := t.TempDir()
	// the layout of a mounted ConfigMap: keys are symlinks into ..data
	data := filepath.Join(dir, "..2026_11_27_00_00_00.000")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"greeting": "hello\n", "RESPONSE_DELAY": "20ms"} {
		if err := os.WriteFile(filepath.Join(data, k), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(data, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"greeting", "RESPONSE_DELAY"} {
		if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	files, err := readConfigDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files["greeting"] != "hello" || files["RESPONSE_DELAY"] != "20ms" {
		t.Fatalf("files %v", files)
	}
	if _, err := readConfigDir(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "CONFIG_DIR") {
		t.Errorf("a missing CONFIG_DIR: err = %v", err)
	}
	if files, err := readConfigDir(""); err != nil || len(files) != 0 {
		t.Errorf("no CONFIG_DIR: %v %v", files, err)
	}

	srv := httptest.NewServer(newServer(config{Files: files}, slog.New(slog.NewTextHandler(io.Discard, nil))).handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got["greeting"] != "hello" {
		t.Errorf("/config: %v %v", got, err)
	}
}

// /work burns CPU time, not wall time: the process uses at least what was
// asked, however busy the machine is.
func TestBurnCPUUsesCPUTime(t *testing.T) {
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	burnCPU(context.Background(), 30*time.Millisecond)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	used := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	if used < 30*time.Millisecond {
		t.Fatalf("used %s of CPU, want at least 30ms", used)
	}
	// a caller that gave up stops it
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	burnCPU(ctx, time.Second)
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("kept burning for a caller that gave up")
	}
}
