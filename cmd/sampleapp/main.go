// Command sampleapp is the workload chaosgate's suites run against by
// default: a small HTTP service that behaves like a well-run production app
// (readiness, graceful drain on SIGTERM, Prometheus metrics), with knobs to
// deploy deliberately broken variants for negative controls.
//
// Configuration comes from the environment, as on Kubernetes:
//
//	PORT (8080), POD_NAME, NODE_NAME, START_DELAY (0s), DRAIN_DELAY (5s),
//	DRAIN_QUIET (0s: off), DRAIN_MAX (15s),
//	GRACEFUL_SHUTDOWN (true), SHUTDOWN_TIMEOUT (10s), MAX_WORK (2s),
//	RESPONSE_DELAY (0s), IGNORE_SIGTERM (false), CRASH_IF_FILE (""),
//	CRASH_AFTER (0s: never), ERROR_EVERY (0: never; N: every Nth request
//	of / answers 500)
//
// CONFIG_DIR names a directory (a mounted ConfigMap) read once at start,
// as most apps read their configuration: each file is a setting, and a
// file named like one of the variables above overrides it. GET /config
// shows what the app started with, so a suite can tell whether a changed
// ConfigMap really reached the app.
//
// `sampleapp probe URL` fetches URL and exits non-zero unless it answers
// 2xx; suites exec it inside pods to test pod networking and DNS.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// version is set at build time: -ldflags "-X main.version=v2".
var version = "dev"

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		os.Exit(probe(os.Args[2:]))
	}
	files, err := readConfigDir(os.Getenv("CONFIG_DIR"))
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(2)
	}
	cfg, err := configFromEnv(func(k string) string {
		if v, ok := files[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	cfg.Files = files
	if err != nil {
		log.Error("bad configuration", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := newServer(cfg, log).serve(ctx); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

func configFromEnv(getenv func(string) string) (config, error) {
	cfg := config{
		Addr: ":8080", Pod: getenv("POD_NAME"), Node: getenv("NODE_NAME"), Version: version,
		DrainDelay: 5 * time.Second, DrainMax: 15 * time.Second, Graceful: true, ShutdownTimeout: 10 * time.Second, MaxWork: 2 * time.Second,
	}
	if cfg.Pod == "" {
		cfg.Pod, _ = os.Hostname()
	}
	if p := getenv("PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return cfg, fmt.Errorf("PORT=%q: want 1-65535", p)
		}
		cfg.Addr = ":" + p
	}
	durations := []struct {
		env string
		dst *time.Duration
	}{
		{"START_DELAY", &cfg.StartDelay}, {"DRAIN_DELAY", &cfg.DrainDelay}, {"DRAIN_QUIET", &cfg.DrainQuiet}, {"DRAIN_MAX", &cfg.DrainMax},
		{"SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout}, {"MAX_WORK", &cfg.MaxWork}, {"RESPONSE_DELAY", &cfg.ResponseDelay},
		{"CRASH_AFTER", &cfg.CrashAfter},
	}
	for _, d := range durations {
		if v := getenv(d.env); v != "" {
			p, err := time.ParseDuration(v)
			if err != nil || p < 0 {
				return cfg, fmt.Errorf("%s=%q: want a non-negative duration such as 5s", d.env, v)
			}
			*d.dst = p
		}
	}
	for _, b := range []struct {
		env string
		dst *bool
	}{{"GRACEFUL_SHUTDOWN", &cfg.Graceful}, {"IGNORE_SIGTERM", &cfg.IgnoreSIGTERM}} {
		if v := getenv(b.env); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, fmt.Errorf("%s=%q: want true or false", b.env, v)
			}
			*b.dst = x
		}
	}
	if cfg.DrainQuiet > 0 && cfg.DrainMax < cfg.DrainDelay {
		return cfg, fmt.Errorf("DRAIN_MAX=%s is below DRAIN_DELAY=%s: the drain waits at least DRAIN_DELAY, at most DRAIN_MAX", cfg.DrainMax, cfg.DrainDelay)
	}
	if v := getenv("ERROR_EVERY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("ERROR_EVERY=%q: want a whole number, 0 for never", v)
		}
		cfg.ErrorEvery = n
	}
	cfg.CrashIfFile = getenv("CRASH_IF_FILE")
	return cfg, nil
}

// readConfigDir reads every file of dir (none when dir is empty). A mounted
// ConfigMap holds its keys as symlinks into a hidden "..data" folder; the
// hidden entries are skipped.
func readConfigDir(dir string) (map[string]string, error) {
	files := map[string]string{}
	if dir == "" {
		return files, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("CONFIG_DIR=%q: %w", dir, err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("CONFIG_DIR=%q: %w", dir, err)
		}
		files[e.Name()] = strings.TrimSpace(string(data))
	}
	return files, nil
}

func probe(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: sampleapp probe URL")
		return 2
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	fmt.Print(string(body))
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(os.Stderr, "status %d\n", resp.StatusCode)
		return 1
	}
	return 0
}
