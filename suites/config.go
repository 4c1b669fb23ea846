// Package suites holds chaosgate's resilience suites (Ginkgo v2 specs) and
// the gate that deploys a workload, runs the suites against it under load
// and faults, and writes the report.
package suites

import (
	"fmt"
	"strings"
	"time"
)

// LoadConfig is the load put on the target during a scenario.
type LoadConfig struct {
	Rate      int
	RampTo    int
	Duration  time.Duration
	Timeout   time.Duration
	KeepAlive bool
}

// PodKillConfig says how the self-healing suite kills pods.
type PodKillConfig struct {
	Count    int
	Percent  int
	Times    int
	Interval time.Duration
	// Start is when the first kill happens, after load starts.
	Start time.Duration
	Force bool
}

// SLO holds the thresholds a scenario is judged by.
type SLO struct {
	// Availability is the minimum share of successful requests, in percent.
	Availability float64
	// MaxFailedInterval bounds the longest run of failed requests.
	MaxFailedInterval time.Duration
	// MaxRecovery bounds the time from each fault until every replica is
	// ready again.
	MaxRecovery time.Duration
	// MaxP99 bounds the p99 latency of successful requests.
	MaxP99 time.Duration
	// MinRateRatio is the share of the target request rate the load must
	// achieve for the run to count (a starved generator proves nothing).
	MinRateRatio float64
}

// SelfHealingConfig configures the self-healing suite.
type SelfHealingConfig struct {
	Load    LoadConfig
	PodKill PodKillConfig
	SLO     SLO
}

// DefaultSelfHealing returns the defaults: 100 requests/s for 60s, one pod
// killed gracefully every 8s from 10s on, five times; availability 99.5%,
// no failed interval over 2s, recovery within 30s, p99 under 500ms.
func DefaultSelfHealing() SelfHealingConfig {
	return SelfHealingConfig{
		Load:    LoadConfig{Rate: 100, Duration: 60 * time.Second, Timeout: 2 * time.Second},
		PodKill: PodKillConfig{Count: 1, Times: 5, Interval: 8 * time.Second, Start: 10 * time.Second},
		SLO: SLO{Availability: 99.5, MaxFailedInterval: 2 * time.Second, MaxRecovery: 30 * time.Second,
			MaxP99: 500 * time.Millisecond, MinRateRatio: 0.95},
	}
}

// Validate checks the configuration; errors name the flag at fault.
func (c SelfHealingConfig) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Load.Rate < 1 || c.Load.Rate > 20000 {
		add("--rate %d: must be 1-20000", c.Load.Rate)
	}
	if c.Load.RampTo < 0 || c.Load.RampTo > 20000 {
		add("--ramp-to %d: must be 0-20000", c.Load.RampTo)
	}
	if c.Load.Duration < 10*time.Second || c.Load.Duration > time.Hour {
		add("--duration %s: must be 10s-1h", c.Load.Duration)
	}
	if c.Load.Timeout <= 0 || c.Load.Timeout > 30*time.Second {
		add("--request-timeout %s: must be positive and at most 30s", c.Load.Timeout)
	}
	k := c.PodKill
	if (k.Count > 0) == (k.Percent > 0) {
		add("--kill-count %d / --kill-percent %d: set exactly one", k.Count, k.Percent)
	}
	if k.Count < 0 || k.Percent < 0 || k.Percent > 100 {
		add("--kill-count must be positive, --kill-percent 1-100")
	}
	if k.Times < 1 || k.Times > 100 {
		add("--kills %d: must be 1-100", k.Times)
	}
	if k.Times > 1 && k.Interval < time.Second {
		add("--kill-interval %s: must be at least 1s", k.Interval)
	}
	if k.Start < 0 {
		add("--kill-start %s: must not be negative", k.Start)
	}
	if last := k.Start + time.Duration(k.Times-1)*k.Interval; k.Times >= 1 && last >= c.Load.Duration-5*time.Second {
		add("the last kill at %s must come at least 5s before the load ends at %s (lengthen --duration or reduce --kills/--kill-interval)", last, c.Load.Duration)
	}
	s := c.SLO
	if s.Availability <= 0 || s.Availability > 100 {
		add("--slo-availability %g: must be in (0, 100]", s.Availability)
	}
	if s.MaxFailedInterval <= 0 {
		add("--slo-max-failed-interval must be positive")
	}
	if s.MaxRecovery <= 0 || s.MaxRecovery > 30*time.Minute {
		add("--slo-max-recovery %s: must be positive and at most 30m", s.MaxRecovery)
	}
	if s.MaxP99 <= 0 {
		add("--slo-max-p99 must be positive")
	}
	if s.MinRateRatio <= 0 || s.MinRateRatio > 1 {
		add("--min-rate-ratio %g: must be in (0, 1]", s.MinRateRatio)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// Suite names the gate accepts.
const SuiteSelfHealing = "self-healing"

// KnownSuites lists the suites in the order they run.
var KnownSuites = []string{SuiteSelfHealing}

// ParseSuites validates a comma-separated suite list; "all" or "" selects
// every suite.
func ParseSuites(s string) ([]string, error) {
	if s == "" || s == "all" {
		return append([]string(nil), KnownSuites...), nil
	}
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		known := false
		for _, k := range KnownSuites {
			known = known || k == name
		}
		if !known {
			return nil, fmt.Errorf("--suites: unknown suite %q (known: %s)", name, strings.Join(KnownSuites, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}
