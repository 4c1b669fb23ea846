// Package agent is what runs in a load agent's pod (cmd/loadagent): it
// waits for the gate's start, sends its share of the load with the same
// generator as local load, and writes every result as a JSON line on its
// output, then a Done line. Package load/agents runs the agents from the
// gate's side. This package stays free of client-go, so the agent's image
// is small.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaosgate/chaosgate/load"
)

// Port is where an agent answers the gate: GET /ready, /start?at=TIME and
// /stop, reached through the API server's pod proxy.
const Port = 8080

// MaxLate is how long after the agreed start an agent may begin: later,
// its share would be missing from the start of the timeline.
const MaxLate = time.Second

// Config is what one agent runs.
type Config struct {
	// Load is this agent's share of the load (InCluster set).
	Load load.Options
	// Index and Agents place the agent among the others.
	Index, Agents int
	// Listen is the control address.
	Listen string
	// StartWithin bounds the wait for the gate's start: an agent the gate
	// forgot ends by itself.
	StartWithin time.Duration
}

// Share is agent index's part of a total rate spread over agents: the
// remainder goes to the first ones, so the parts add up to the total.
func Share(total, agents, index int) int {
	if agents < 1 {
		return 0
	}
	s := total / agents
	if index < total%agents {
		s++
	}
	return s
}

// ParseArgs reads an agent's configuration from its command line (the
// whole load; the agent takes its share) and its index from the Indexed
// Job's JOB_COMPLETION_INDEX.
func ParseArgs(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("loadagent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Config
	var rate, rampTo int
	fs.StringVar(&c.Load.Target, "target", "", "URL of the Service to load (NAME.NAMESPACE.svc)")
	fs.IntVar(&rate, "rate", 0, "requests per second of all agents together")
	fs.IntVar(&rampTo, "ramp-to", 0, "rate all agents together ramp to (0: constant)")
	fs.DurationVar(&c.Load.Duration, "duration", 0, "how long the load runs")
	fs.DurationVar(&c.Load.Timeout, "timeout", 2*time.Second, "timeout of each request")
	fs.StringVar(&c.Load.Method, "method", http.MethodGet, "HTTP method")
	fs.BoolVar(&c.Load.KeepAlive, "keep-alive", false, "reuse connections")
	fs.IntVar(&c.Agents, "agents", 1, "how many agents share the load")
	fs.StringVar(&c.Listen, "listen", ":"+strconv.Itoa(Port), "control address")
	fs.DurationVar(&c.StartWithin, "start-within", 5*time.Minute, "how long to wait for the gate's start")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if getenv("KUBERNETES_SERVICE_HOST") == "" {
		// the agent's load goes to the cluster's Services, from a pod
		return c, errors.New("not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is unset): the load agent only runs as a pod of the gate's Job")
	}
	idx := getenv("JOB_COMPLETION_INDEX")
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return c, fmt.Errorf("JOB_COMPLETION_INDEX=%q: want the index of an Indexed Job's pod", idx)
	}
	c.Index = n
	if c.Agents < 1 || c.Index >= c.Agents {
		return c, fmt.Errorf("--agents %d, index %d: want an index below the number of agents", c.Agents, c.Index)
	}
	if rate < c.Agents {
		return c, fmt.Errorf("--rate %d: below one request per second per agent (%d agents)", rate, c.Agents)
	}
	c.Load.Rate = Share(rate, c.Agents, c.Index)
	if rampTo > 0 {
		c.Load.RampTo = max(Share(rampTo, c.Agents, c.Index), 1)
	}
	c.Load.InCluster = true
	if c.StartWithin <= 0 {
		return c, fmt.Errorf("--start-within %s: must be positive", c.StartWithin)
	}
	if err := c.Load.Validate(); err != nil {
		return c, err
	}
	c.Load.Target = Qualify(c.Load.Target, searchDomains(ResolvConf))
	return c, nil
}

// ResolvConf is where a pod's resolver settings are.
var ResolvConf = "/etc/resolv.conf"

// Qualify turns a target's NAME.NAMESPACE.svc host into the absolute name
// NAME.NAMESPACE.svc.DOMAIN. (DOMAIN from the pod's "svc.DOMAIN" search
// entry), so each request costs one DNS lookup, as a client that names a
// Service fully does; with the relative name and the usual ndots:5, every
// request would first try two names that do not exist. Anything else is
// left as it is.
func Qualify(target string, search []string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	host := u.Hostname()
	if labels := strings.Split(host, "."); len(labels) != 3 || labels[2] != "svc" {
		return target
	}
	for _, s := range search {
		if domain, ok := strings.CutPrefix(s, "svc."); ok && domain != "" {
			abs := host + "." + strings.TrimSuffix(domain, ".") + "."
			if p := u.Port(); p != "" {
				u.Host = net.JoinHostPort(abs, p)
			} else {
				u.Host = abs
			}
			return u.String()
		}
	}
	return target
}

// searchDomains reads the search list of a resolv.conf (none if it
// cannot be read).
func searchDomains(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "search" {
			out = f[1:]
		}
	}
	return out
}

// Done is the last line of an agent's output: how many results it wrote,
// for the gate to check that it read every one.
type Done struct {
	Index int `json:"index"`
	Total int `json:"total"`
	OK    int `json:"ok"`
	// LateUS is how long after the agreed start the load began.
	LateUS      int64 `json:"late_us"`
	Interrupted bool  `json:"interrupted,omitempty"`
}

// DoneLine wraps Done on the output, so it cannot be mistaken for a
// result line: {"done":{...}}.
type DoneLine struct {
	Done *Done `json:"done"`
}

// Serve runs one agent: it answers the gate on ln (cfg.Listen), waits for
// the start, sends its share of the load from the agreed time, writes every
// result and then its Done line to out, and returns. A /stop or ctx ends
// the load early.
func Serve(ctx context.Context, ln net.Listener, cfg Config, out io.Writer, log *slog.Logger) error {
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	c := &control{started: make(chan time.Time, 1), stop: stopLoad}
	srv := &http.Server{Handler: c.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control server", "err", err)
		}
	}()
	log.Info("load agent waiting for the start", "index", cfg.Index, "agents", cfg.Agents, "rate", cfg.Load.Rate, "target", cfg.Load.Target)
	defer func() {
		// answers in flight (a /start that came late) still reach the gate
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	var at time.Time
	select {
	case at = <-c.started:
	case <-lctx.Done():
		return fmt.Errorf("stopped before the start: %w", context.Cause(lctx))
	case <-time.After(cfg.StartWithin):
		return fmt.Errorf("no start from the gate within %s", cfg.StartWithin)
	}
	select {
	case <-time.After(time.Until(at)):
	case <-lctx.Done():
		return fmt.Errorf("stopped before the start: %w", context.Cause(lctx))
	}
	late := time.Since(at)
	if late > MaxLate {
		return fmt.Errorf("started %s after the agreed time %s (at most %s)", late.Round(time.Millisecond), at.Format(time.RFC3339Nano), MaxLate)
	}
	rec := load.NewRecorder(out, at)
	runErr := load.Run(lctx, cfg.Load, rec)
	total, ok := rec.Counts()
	line, err := json.Marshal(DoneLine{Done: &Done{Index: cfg.Index, Total: total, OK: ok, LateUS: late.Microseconds(), Interrupted: lctx.Err() != nil}})
	if err != nil {
		return err
	}
	if _, err := out.Write(append(line, '\n')); err != nil {
		return err
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return nil
}

// control is an agent's endpoint for the gate.
type control struct {
	mu      sync.Mutex
	at      time.Time
	started chan time.Time
	stop    func()
}

func (c *control) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /start", func(w http.ResponseWriter, r *http.Request) {
		at, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("at"))
		if err != nil {
			http.Error(w, "at: "+err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case c.at.IsZero():
			c.at = at
			c.started <- at
		case !c.at.Equal(at):
			// a retried start is fine; a second, different one is not
			http.Error(w, "already starting at "+c.at.Format(time.RFC3339Nano), http.StatusConflict)
			return
		}
		io.WriteString(w, "starting\n")
	})
	mux.HandleFunc("GET /stop", func(w http.ResponseWriter, _ *http.Request) {
		c.stop()
		io.WriteString(w, "stopping\n")
	})
	return mux
}
