package suites

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agents"
	"github.com/chaosgate/chaosgate/suites/engine"
)

// Params are the settings of every suite: the common ones (load, SLOs)
// and each suite's own. They are set from flags, or by name from a plan
// file through the same flag set, so a suite's parameters are declared
// once, by the suite.
type Params struct {
	Load engine.Load
	// Path and Method are what the load requests.
	Path   string
	Method string
	SLO    SLO
	// EffectTimeout bounds how long a fault may take to take effect.
	EffectTimeout time.Duration
	// FullDuration keeps every load for its whole duration: by default
	// the node and hpa scenarios end theirs once the target is back.
	FullDuration bool

	SelfHealing SelfHealingParams
	Nodes       NodeParams
	Rollouts    RolloutParams
	Config      ConfigParams
	Discovery   DiscoveryParams
	HPA         HPAParams
}

// SLO holds the thresholds common to the suites.
type SLO struct {
	// Availability is the minimum share of successful requests, in percent.
	Availability float64
	// MaxFailedInterval bounds the longest run of failed requests.
	MaxFailedInterval time.Duration
	// MaxRecovery bounds the time from each fault until every replica
	// serves again.
	MaxRecovery time.Duration
	// MaxP99 bounds the p99 latency of successful requests.
	MaxP99 time.Duration
	// MinRateRatio is the share of the target request rate the load must
	// achieve for the run to count (a starved generator proves nothing).
	MinRateRatio float64
}

// DefaultParams are the documented defaults: 100 requests/s for 40s on
// GET /, a new connection per request, 2s timeout; availability 99.5%, no
// failed interval over 2s, recovery within 30s, p99 within 500ms, 95% of
// the rate achieved, faults in effect within 20s.
func DefaultParams() Params {
	p := Params{
		Load:   engine.Load{Rate: 100, Duration: 40 * time.Second, Timeout: 2 * time.Second, SpreadSources: true},
		Path:   "/",
		Method: "GET",
		SLO: SLO{Availability: 99.5, MaxFailedInterval: 2 * time.Second, MaxRecovery: 30 * time.Second,
			MaxP99: 500 * time.Millisecond, MinRateRatio: 0.95},
		EffectTimeout: 20 * time.Second,
	}
	for _, s := range All {
		s.defaults(&p)
	}
	return p
}

// RegisterFlags declares the common parameters and every suite's own on
// fs, bound to p (whose values are the defaults shown).
func (p *Params) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&p.Load.Rate, "rate", p.Load.Rate, "requests per second")
	fs.IntVar(&p.Load.RampTo, "ramp-to", p.Load.RampTo, "ramp the rate linearly to this value over the run (0: constant)")
	fs.DurationVar(&p.Load.Duration, "duration", p.Load.Duration, "load duration per scenario")
	fs.DurationVar(&p.Load.Timeout, "request-timeout", p.Load.Timeout, "timeout of each request")
	fs.BoolVar(&p.Load.KeepAlive, "keep-alive", p.Load.KeepAlive, "reuse connections (off: one connection per request, spreading load over pods)")
	fs.BoolVar(&p.FullDuration, "full-duration", p.FullDuration, "run every scenario's load for its whole duration and hold a lost node --node-down-for (by default the node, rollout and hpa scenarios end their load once the target is back: 5s after replicas serve, nodes are Ready, a rollback is done, it scaled back in; 10s after a rolling update is done and its old pods are gone; a lost node is restarted once its pods serve elsewhere)")
	fs.BoolVar(&p.Load.SpreadSources, "spread-sources", p.Load.SpreadSources, "open load connections from the source addresses of "+load.SpreadNetwork+" (off: 127.0.0.1 only)")
	fs.IntVar(&p.Load.Agents, "load-agents", p.Load.Agents, "send every suite's load from this many agent pods inside the cluster, to the target Service's DNS name (0: from this machine through the NodePort; service-discovery always uses agents, --discovery-agents)")
	fs.StringVar(&p.Path, "path", p.Path, "path (and query) the load requests")
	fs.StringVar(&p.Method, "method", p.Method, "HTTP method of the load: "+strings.Join(load.Methods, ", "))
	fs.Float64Var(&p.SLO.Availability, "slo-availability", p.SLO.Availability, "minimum availability, percent")
	fs.DurationVar(&p.SLO.MaxFailedInterval, "slo-max-failed-interval", p.SLO.MaxFailedInterval, "longest allowed run of failed requests")
	fs.DurationVar(&p.SLO.MaxRecovery, "slo-max-recovery", p.SLO.MaxRecovery, "longest allowed time from a fault to all replicas serving again")
	fs.DurationVar(&p.SLO.MaxP99, "slo-max-p99", p.SLO.MaxP99, "highest allowed p99 latency of successful requests")
	fs.Float64Var(&p.SLO.MinRateRatio, "min-rate-ratio", p.SLO.MinRateRatio, "share of the target rate the load must achieve")
	fs.DurationVar(&p.EffectTimeout, "fault-effect-timeout", p.EffectTimeout, "time a fault may take to show its effect before it counts as not taken")
	for _, s := range All {
		s.Flags(fs, p)
	}
}

// isLoadPath reports whether path is an absolute path (and query) on the
// target, with no host of its own.
func isLoadPath(path string) bool {
	u, err := url.Parse("http://127.0.0.1" + path)
	return err == nil && strings.HasPrefix(path, "/") && u.Host == "127.0.0.1"
}

// Validate checks the common parameters; errors name the flag at fault.
func (p Params) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	l := p.Load
	if l.Rate < 1 || l.Rate > 20000 {
		add("--rate %d: must be 1-20000", l.Rate)
	}
	if l.RampTo < 0 || l.RampTo > 20000 {
		add("--ramp-to %d: must be 0-20000", l.RampTo)
	}
	if l.Duration < 10*time.Second || l.Duration > time.Hour {
		add("--duration %s: must be 10s-1h", l.Duration)
	}
	if l.Timeout <= 0 || l.Timeout > 30*time.Second {
		add("--request-timeout %s: must be positive and at most 30s", l.Timeout)
	}
	if inflight := float64(max(l.Rate, l.RampTo)) * l.Timeout.Seconds(); inflight > load.MaxInFlight {
		add("--rate %d x --request-timeout %s: %.0f requests could be in flight during an outage, at most %d are allowed (lower either)", max(l.Rate, l.RampTo), l.Timeout, inflight, load.MaxInFlight)
	}
	if l.Agents < 0 || l.Agents > agents.MaxAgents {
		add("--load-agents %d: must be 0-%d", l.Agents, agents.MaxAgents)
	} else if l.Agents > 0 && l.Rate < l.Agents {
		add("--rate %d: below one request per second per agent (--load-agents %d)", l.Rate, l.Agents)
	}
	if !isLoadPath(p.Path) {
		add("--path %q: must be an absolute path such as / or /work?ms=5", p.Path)
	}
	if !slices.Contains(load.Methods, p.Method) {
		add("--method %q: must be one of %s", p.Method, strings.Join(load.Methods, ", "))
	}
	s := p.SLO
	if s.Availability <= 0 || s.Availability > 100 {
		add("--slo-availability %g: must be in (0, 100]", s.Availability)
	}
	if s.MaxFailedInterval <= 0 {
		add("--slo-max-failed-interval %s: must be positive", s.MaxFailedInterval)
	}
	if s.MaxRecovery <= 0 || s.MaxRecovery > 30*time.Minute {
		add("--slo-max-recovery %s: must be positive and at most 30m", s.MaxRecovery)
	}
	if s.MaxP99 <= 0 {
		add("--slo-max-p99 %s: must be positive", s.MaxP99)
	}
	if s.MinRateRatio <= 0 || s.MinRateRatio > 1 {
		add("--min-rate-ratio %g: must be in (0, 1]", s.MinRateRatio)
	}
	if p.EffectTimeout < time.Second || p.EffectTimeout > 10*time.Minute {
		add("--fault-effect-timeout %s: must be 1s-10m", p.EffectTimeout)
	}
	return errors.Join(errs...)
}
