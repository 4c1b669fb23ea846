// Package engine runs scenarios: load on a target, a fault schedule while
// the load runs, observers of what the cluster did, and checks that judge
// what was observed. A suite is a Scenario (data) plus the checks that
// judge it; one runner does everything else: preflight, observers, load
// and faults in parallel, reverts, settling, evaluation.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agents"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/reports/live"
)

// Target is the workload a scenario exercises.
type Target struct {
	Namespace string
	// Deployment runs the pods behind the Service.
	Deployment string
	// Selector picks the target's pods (the Service's selector).
	Selector string
	// Service is the Service the load goes through; its EndpointSlices are
	// observed when it is set.
	Service string
	// URL is where load goes (127.0.0.1, the exposed NodePort, the path).
	URL string
	// App is where the target's pods serve their own metrics; no path:
	// they are not scraped.
	App AppMetrics
	// ServiceURL is the target Service's URL inside the cluster
	// (http://NAME.NAMESPACE.svc:PORT/PATH), where load agents send load.
	ServiceURL string
	// Method is the HTTP method of the load; default GET.
	Method string
}

// Env is what a scenario runs against.
type Env struct {
	REST   *rest.Config
	Client kubernetes.Interface
	// Docker reaches the nodes of a kind cluster; nil elsewhere, where
	// faults that need it are refused.
	Docker   faults.Docker
	Target   Target
	Injector *faults.Injector
	// ReportDir receives the raw per-request results.
	ReportDir string
	Progress  io.Writer
	Logger    *slog.Logger
	// AgentImage is the load agent's image (cmd/loadagent), for scenarios
	// whose load comes from inside the cluster.
	AgentImage string
	// AgentCPULimit caps each load agent's CPU (empty: no cap).
	AgentCPULimit string
	// Live, when set, is given a function that describes the run's state
	// right now (for progress reports); it returns a function that detaches
	// it.
	Live func(status func() string) (detach func())
	// Display, when set, shows the run's state every second while the
	// load runs (a terminal's panel); without it a line every 5s goes to
	// Progress.
	Display live.Display
}

// Load is the load put on the target during a scenario.
type Load struct {
	// None generates no load: the scenario lasts Duration and real
	// traffic is the signal, as the target's pods count it in their own
	// metrics (Target.App). Rate, Agents and Phases must then be unset.
	None      bool
	Rate      int
	RampTo    int
	Duration  time.Duration
	Timeout   time.Duration
	KeepAlive bool
	// SpreadSources opens connections from many loopback source
	// addresses (see load.SpreadNetwork).
	SpreadSources bool
	// Agents, when positive, sends the load from that many pods inside
	// the cluster (package load/agents) to Target.ServiceURL instead of
	// from this machine.
	Agents int
	// Phases, when set, is the load's profile (see load.Phase); Duration
	// must then be the profile's length.
	Phases []load.Phase
}

// FaultBuilder makes a step's fault for the environment it will hit.
type FaultBuilder func(Env) (faults.Fault, error)

// Step is one entry of a fault schedule: Times injections of a fault, one
// every Every from At (counted from the start of the load), each held for
// Hold once in effect (faults the cluster heals, like pod kills, are not
// held).
type Step struct {
	Name  string
	Fault FaultBuilder
	At    time.Duration
	Every time.Duration
	Times int
	Hold  time.Duration
	// EffectTimeout bounds waiting for each injection's effect; zero uses
	// the scenario's.
	EffectTimeout time.Duration
	// NeedsDocker marks faults that reach the nodes through Docker, which
	// only kind clusters allow.
	NeedsDocker bool
	// After, when set, starts the step that long after the previous step
	// ended instead of at At (sequential scenarios only).
	After *time.Duration
	// Wait, when set, makes the step a wait instead of a fault: the run
	// waits until the condition holds, WaitTimeout at most, before its next
	// step (sequential scenarios only).
	Wait        Condition
	WaitTimeout time.Duration
	// HoldUntil, when set, ends each injection's Hold early once the
	// condition has held for a second (faults the cluster heals have no
	// hold to end).
	HoldUntil Condition
}

// Scenario is one run of load and faults and the checks that judge it.
type Scenario struct {
	// Name names the scenario in the report, its label and its results
	// file; Title is the sentence its specs are grouped under.
	Name        string
	Title       string
	Description string
	Labels      []string
	Load        Load
	// Path, when set, is the path (and query) the load requests instead of
	// the target's own (the hpa suite loads a path that costs CPU).
	Path  string
	Steps []Step
	// Settle bounds how long the observers keep watching after the load,
	// for the target to recover from the last fault.
	Settle time.Duration
	// EffectTimeout bounds how long each fault may take to take effect.
	EffectTimeout time.Duration
	Checks        []Check
	// Prepare, when set, runs once the target is whole and before the
	// load starts: it may measure the target and adjust the scenario's
	// load (the hpa suite derives its step from what its baseline costs).
	// What it returns is noted in the report; an error is an
	// infrastructure error. PrepareTime is how long it usually takes,
	// PrepareMax how long it may take (0: PrepareTime).
	Prepare     func(ctx context.Context, env Env, sc *Scenario) (notes []string, err error)
	PrepareTime time.Duration
	PrepareMax  time.Duration
	// Sequential runs the steps one after another, in order (a game day's
	// plan): each starts at its At, or its After after the previous step
	// ended, never before the previous step ended. Otherwise every step
	// keeps its own schedule, in parallel.
	Sequential bool
	// Abort rules stop the load and revert every fault at once when the
	// service burns its budget (see AbortRulesHeld).
	Abort []AbortRule
	// EndEarly, when set, ends the load before its duration once the
	// target is back (see EarlyEnd).
	EndEarly *EarlyEnd
}

// Check judges one aspect of a run. Spec is the sentence its Ginkgo spec is
// named by; Eval measures and compares.
type Check struct {
	ID   string
	Spec string
	Eval func(*Observation) reports.Check
}

// LongestPrepare is how long Prepare may take.
func (s Scenario) LongestPrepare() time.Duration {
	return max(s.PrepareTime, s.PrepareMax)
}

// Planned is how many injections the schedule holds.
func (s Scenario) Planned() int {
	n := 0
	for _, st := range s.Steps {
		if st.Wait == "" {
			n += st.Times
		}
	}
	return n
}

// LoadOptions is the load of the scenario against target: from this
// machine to its URL, or from agents to its Service.
func (s Scenario) LoadOptions(t Target) load.Options {
	o := load.Options{Target: t.URL, Rate: s.Load.Rate, RampTo: s.Load.RampTo, Duration: s.Load.Duration,
		Timeout: s.Load.Timeout, KeepAlive: s.Load.KeepAlive, Method: t.Method, SpreadSources: s.Load.SpreadSources, Phases: s.Load.Phases}
	if s.Load.Agents > 0 {
		o.Target, o.InCluster, o.SpreadSources = t.ServiceURL, true, false
	}
	return o
}

// Validate checks the scenario's own consistency; errors name what is
// wrong. It does not need a cluster.
func (s Scenario) Validate() error {
	var errs []error
	if s.Name == "" || strings.ContainsAny(s.Name, "/\\ ") {
		errs = append(errs, fmt.Errorf("scenario name %q: must be a non-empty word", s.Name))
	}
	if len(s.Checks) == 0 {
		// a scenario that judges nothing would always pass
		errs = append(errs, fmt.Errorf("scenario %s: no checks", s.Name))
	}
	seen := map[string]bool{}
	for _, c := range s.Checks {
		if c.ID == "" || c.Eval == nil || c.Spec == "" {
			errs = append(errs, fmt.Errorf("scenario %s: check %q needs an id, a spec and an evaluation", s.Name, c.ID))
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("scenario %s: check %q twice", s.Name, c.ID))
		}
		seen[c.ID] = true
	}
	if s.Settle < 0 || s.EffectTimeout < 0 {
		errs = append(errs, fmt.Errorf("scenario %s: settle and effect timeout must not be negative", s.Name))
	}
	if err := s.validateSequence(); err != nil {
		errs = append(errs, err)
	}
	if s.EndEarly != nil {
		if err := s.EndEarly.validate(s); err != nil {
			errs = append(errs, err)
		}
	}
	for i, st := range s.Steps {
		if st.Wait != "" {
			if st.HoldUntil != "" {
				errs = append(errs, fmt.Errorf("scenario %s: step %d: a wait holds nothing: no hold-until", s.Name, i+1))
			}
			continue
		}
		sched := faults.Schedule{Fault: placeholder{}, Every: st.Every, Times: st.Times, Hold: st.Hold, Start: st.At}
		if st.Fault == nil {
			errs = append(errs, fmt.Errorf("scenario %s: step %d has no fault", s.Name, i+1))
		}
		if err := sched.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("scenario %s: step %d: %w", s.Name, i+1, err))
		}
		if st.HoldUntil != "" && (!knownCondition(st.HoldUntil) || st.Hold <= 0) {
			errs = append(errs, fmt.Errorf("scenario %s: step %d: hold-until %q needs a known condition and a hold", s.Name, i+1, st.HoldUntil))
		}
		if last := st.At + time.Duration(st.Times-1)*st.Every; st.After == nil && st.Times > 0 && last >= s.Load.Duration {
			errs = append(errs, fmt.Errorf("scenario %s: step %d: the last injection at %s comes after the load ends at %s", s.Name, i+1, last, s.Load.Duration))
		}
	}
	if len(s.Load.Phases) > 0 {
		if _, d := (load.PhasePacer{Phases: s.Load.Phases}).Total(); d != s.Load.Duration {
			errs = append(errs, fmt.Errorf("scenario %s: load phases last %s, but the load's duration is %s", s.Name, d, s.Load.Duration))
		}
	}
	if s.Load.None {
		if s.Load.Rate != 0 || s.Load.RampTo != 0 || s.Load.Agents != 0 || len(s.Load.Phases) > 0 {
			errs = append(errs, fmt.Errorf("scenario %s: a scenario without generated load has no rate, agents or phases", s.Name))
		}
		if s.Load.Duration <= 0 {
			errs = append(errs, fmt.Errorf("scenario %s: a scenario without generated load still needs a duration", s.Name))
		}
		return errors.Join(errs...)
	}
	// the load itself, against a stand-in target
	stand, err := Target{URL: "http://127.0.0.1/", ServiceURL: "http://target.default.svc/"}.withPath(s.Path)
	if err != nil {
		errs = append(errs, fmt.Errorf("scenario %s: %w", s.Name, err))
	}
	o := s.LoadOptions(stand)
	if err := o.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("scenario %s: load: %w", s.Name, err))
	}
	if a := s.Load.Agents; a < 0 || a > agents.MaxAgents || (a > 0 && s.Load.Rate < a) {
		errs = append(errs, fmt.Errorf("scenario %s: %d load agents: want 0-%d, and at least one request per second each (rate %d)", s.Name, a, agents.MaxAgents, s.Load.Rate))
	}
	return errors.Join(errs...)
}

// placeholder stands in for a step's fault when only the timing is
// validated.
type placeholder struct{ faults.Fault }

// withPath is the target with its URLs' path (and query) replaced by path;
// an empty path keeps them.
func (t Target) withPath(path string) (Target, error) {
	if path == "" {
		return t, nil
	}
	for _, u := range []*string{&t.URL, &t.ServiceURL} {
		if *u == "" {
			continue
		}
		parsed, err := url.Parse(*u)
		if err != nil {
			return t, fmt.Errorf("target URL %q: %w", *u, err)
		}
		ref, err := url.Parse(path)
		if err != nil || !strings.HasPrefix(path, "/") || ref.Host != "" {
			return t, fmt.Errorf("load path %q: must be an absolute path such as /work?ms=2", path)
		}
		parsed.Path, parsed.RawPath, parsed.RawQuery = ref.Path, ref.RawPath, ref.RawQuery
		*u = parsed.String()
	}
	return t, nil
}

// validate checks what the runner needs of the target.
func (t Target) validate(sendsLoad bool) error {
	u, err := url.Parse(t.URL)
	switch {
	case t.Namespace == "" || t.Deployment == "" || t.Selector == "":
		return fmt.Errorf("target: namespace, deployment and selector are required")
	case !sendsLoad:
		return nil // no request goes to the URL
	case err != nil:
		return fmt.Errorf("target URL %q: %w", t.URL, err)
	case !load.IsLoopback(u.Hostname()):
		return fmt.Errorf("target URL %q: load only goes to this machine", t.URL)
	}
	return nil
}
