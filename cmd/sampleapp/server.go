package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// config is how the app behaves. The defaults are a well-run service; the
// knobs exist so that suites can deploy deliberately broken variants.
type config struct {
	Addr    string
	Pod     string
	Node    string
	Version string
	// StartDelay postpones listening, like an app warming caches.
	StartDelay time.Duration
	// DrainDelay is how long the app keeps serving, unready, after SIGTERM
	// so endpoints controllers and kube-proxy stop sending it traffic.
	DrainDelay time.Duration
	// DrainQuiet, when set, keeps the app serving after DrainDelay until no
	// request has arrived for this long (at most until DrainMax after
	// SIGTERM): how long kube-proxy takes to stop routing to a terminating
	// pod varies with the machine's load, and a fixed delay shorter than
	// that refuses the connections still routed here.
	DrainQuiet time.Duration
	DrainMax   time.Duration
	// Graceful false exits at once on SIGTERM, dropping in-flight requests.
	Graceful bool
	// ShutdownTimeout bounds waiting for in-flight requests.
	ShutdownTimeout time.Duration
	// MaxWork bounds /work so a caller cannot pin a core forever.
	MaxWork time.Duration
	// ResponseDelay holds every answer of / this long, like a service
	// waiting on an overloaded dependency.
	ResponseDelay time.Duration
	// IgnoreSIGTERM keeps serving (and Ready) after SIGTERM, until the
	// kubelet's SIGKILL at the end of the grace period.
	IgnoreSIGTERM bool
	// CrashIfFile names a file (a mounted ConfigMap key, say); when it
	// holds "true" at start the app refuses to start: a bad configuration
	// that only pods started after it changed pick up.
	CrashIfFile string
	// CrashAfter makes the app crash (exit at once, no drain) this long
	// after it starts serving: a release that passes its readiness probe
	// and then dies.
	CrashAfter time.Duration
	// ErrorEvery, when positive, answers every ErrorEvery-th request of /
	// with a 500: a bug that fails a share of real traffic, which only
	// the app's own counters see when nothing else measures it.
	ErrorEvery int
	// Files is the configuration directory as read at start (CONFIG_DIR).
	Files map[string]string
}

type server struct {
	cfg      config
	ready    atomic.Bool
	inflight sync.WaitGroup
	// lastRequest is when the last request of the app's own paths (not
	// probes or metrics) arrived, in nanoseconds since born (monotonic: a
	// wall clock step must not end or stretch a drain).
	lastRequest atomic.Int64
	born        time.Time
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	log         *slog.Logger
	roots       atomic.Int64 // requests of / so far, for ErrorEvery
}

func newServer(cfg config, log *slog.Logger) *server {
	s := &server{cfg: cfg, reg: prometheus.NewRegistry(), log: log, born: time.Now()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sampleapp_http_requests_total",
		Help: "HTTP requests by handler and status code.",
	}, []string{"handler", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sampleapp_http_request_duration_seconds",
		Help:    "HTTP request latency by handler.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"handler"})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "sampleapp_build_info", Help: "Version of the running app.",
	}, []string{"version"})
	info.WithLabelValues(cfg.Version).Set(1)
	s.reg.MustRegister(s.requests, s.latency, info,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return s
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.instrument("root", http.HandlerFunc(s.root)))
	mux.Handle("GET /work", s.instrument("work", http.HandlerFunc(s.work)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /config", s.config)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// instrument counts, times, and tracks in-flight requests for draining.
func (s *server) instrument(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		start := time.Now()
		s.lastRequest.Store(int64(start.Sub(s.born)))
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		s.requests.WithLabelValues(name, strconv.Itoa(rec.code)).Inc()
		s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

type rootResponse struct {
	Pod     string `json:"pod"`
	Node    string `json:"node,omitempty"`
	Version string `json:"version"`
}

func (s *server) root(w http.ResponseWriter, r *http.Request) {
	if n := s.cfg.ErrorEvery; n > 0 && s.roots.Add(1)%int64(n) == 0 {
		http.Error(w, "failed (ERROR_EVERY)", http.StatusInternalServerError)
		return
	}
	if d := s.cfg.ResponseDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(rootResponse{Pod: s.cfg.Pod, Node: s.cfg.Node, Version: s.cfg.Version})
}

// config shows the configuration files the app started with.
func (s *server) config(w http.ResponseWriter, _ *http.Request) {
	files := s.cfg.Files
	if files == nil {
		files = map[string]string{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(files)
}

// work burns ?ms= milliseconds of CPU time (default 50), for autoscaling
// tests: CPU time, not wall time, so that a pod short of CPU (throttled
// by its limit, or on a busy node) answers late, as CPU-bound work does.
func (s *server) work(w http.ResponseWriter, r *http.Request) {
	d := 50 * time.Millisecond
	if v := r.URL.Query().Get("ms"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a non-negative integer", http.StatusBadRequest)
			return
		}
		d = time.Duration(ms) * time.Millisecond
	}
	if d > s.cfg.MaxWork {
		d = s.cfg.MaxWork
	}
	// wait holds the answer after the work, like a call to a dependency:
	// requests stay in flight without costing CPU
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		p, err := time.ParseDuration(v)
		if err != nil || p < 0 {
			http.Error(w, "wait must be a non-negative duration such as 200ms", http.StatusBadRequest)
			return
		}
		wait = min(p, s.cfg.MaxWork)
	}
	x := burnCPU(r.Context(), d)
	select {
	case <-time.After(wait):
	case <-r.Context().Done():
		return
	}
	fmt.Fprintf(w, "worked %s (%x)\n", d, x&0xff)
}

// burnCPU spins until this thread has used d of CPU time or ctx ends; a
// caller that gave up stops the work.
func burnCPU(ctx context.Context, d time.Duration) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	x := uint64(1)
	deadline := time.Now().Add(d) // where the thread's CPU time cannot be read
	for ctx.Err() == nil {
		for i := 0; i < 1000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if ok {
			if now, _ := threadCPU(); now-start >= d {
				break
			}
		} else if !time.Now().Before(deadline) {
			break
		}
	}
	return x
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// serve runs until ctx ends (SIGTERM), then shuts down as configured.
func (s *server) serve(ctx context.Context) error {
	if f := s.cfg.CrashIfFile; f != "" {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if strings.TrimSpace(string(data)) == "true" {
			return fmt.Errorf("%s says true: refusing to start", f)
		}
	}
	if s.cfg.StartDelay > 0 {
		s.log.Info("delaying start", "delay", s.cfg.StartDelay)
		select {
		case <-time.After(s.cfg.StartDelay):
		case <-ctx.Done():
			return nil
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.ready.Store(true)
	s.log.Info("serving", "addr", ln.Addr().String(), "version", s.cfg.Version, "pod", s.cfg.Pod)

	var crash <-chan time.Time
	if s.cfg.CrashAfter > 0 {
		crash = time.After(s.cfg.CrashAfter)
	}
	select {
	case err := <-errc:
		return err
	case <-crash:
		_ = srv.Close()
		return fmt.Errorf("CRASH_AFTER %s elapsed: crashing", s.cfg.CrashAfter)
	case <-ctx.Done():
	}
	if s.cfg.IgnoreSIGTERM {
		s.log.Info("SIGTERM: ignored, still serving until killed")
		return <-errc
	}
	if !s.cfg.Graceful {
		s.log.Info("SIGTERM: exiting at once (graceful shutdown disabled)")
		return srv.Close()
	}
	// Turn unready first and keep serving while the endpoint is removed
	// everywhere; only then stop accepting and drain in-flight requests.
	s.ready.Store(false)
	// a client that keeps its connection would keep reaching this pod
	// after kube-proxy stopped routing new ones here: each connection now
	// closes after its request
	srv.SetKeepAlivesEnabled(false)
	s.log.Info("SIGTERM: draining", "delay", s.cfg.DrainDelay, "quiet", s.cfg.DrainQuiet)
	s.awaitDrained(time.Now())
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	s.log.Info("drained, exiting")
	return nil
}

// awaitDrained waits DrainDelay from SIGTERM, then, with DrainQuiet set,
// until no request has arrived for DrainQuiet or DrainMax has passed.
func (s *server) awaitDrained(sigterm time.Time) {
	time.Sleep(time.Until(sigterm.Add(s.cfg.DrainDelay)))
	if s.cfg.DrainQuiet <= 0 {
		return
	}
	deadline := sigterm.Add(s.cfg.DrainMax)
	for {
		quietUntil := s.born.Add(time.Duration(s.lastRequest.Load()) + s.cfg.DrainQuiet)
		now := time.Now()
		if !now.Before(quietUntil) || !now.Before(deadline) {
			s.log.Info("SIGTERM: no longer routed to", "after", now.Sub(sigterm).Round(time.Millisecond), "quiet", !now.Before(quietUntil))
			return
		}
		time.Sleep(min(quietUntil.Sub(now), deadline.Sub(now)))
	}
}
