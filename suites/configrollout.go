package suites

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// ConfigParams are the parameters of the config-rollout suite.
type ConfigParams struct {
	// ConfigMap is the one the change goes to (default: the one ConfigMap
	// of the workload the target's pods read).
	ConfigMap string
	// Set are the keys the change sets; default: a key of chaosgate's own
	// (ReleaseKey) with a value new to the run.
	Set envFlag
	// ProbePath is what the gate asks, through the target's Service, to see
	// the configuration served: every answer's body must contain every new
	// value. Default: /config for the sample app; a workload of another
	// image must name its own, or the suite is skipped.
	ProbePath string
	// MaxServed bounds the time from the change until every answer shows it.
	MaxServed time.Duration
	// release is the default value, new to every run (set by the gate).
	release string
}

// ReleaseKey is the ConfigMap key the config-rollout suite sets by default.
const ReleaseKey = "chaosgate-release"

// SampleConfigPath is where the sample app shows its configuration.
const SampleConfigPath = "/config"

// configProbes is how many answers, all at once on new connections, each
// round of the served check asks for.
const configProbes = 10

func configDefaults(p *Params) {
	p.Config = ConfigParams{MaxServed: 60 * time.Second}
}

func configFlags(fs *flag.FlagSet, p *Params) {
	c := &p.Config
	fs.StringVar(&c.ConfigMap, "config-map", c.ConfigMap, "ConfigMap the config-rollout suite changes (default: the one of the workload the target's pods read)")
	fs.Var(&c.Set, "config-set", "KEY=VALUE the config-rollout suite sets in the ConfigMap (repeatable; default: "+ReleaseKey+"=<a value new to the run>)")
	fs.StringVar(&c.ProbePath, "config-probe-path", c.ProbePath, "path whose answers must contain every new value once the change is rolled out (default: "+SampleConfigPath+" for the sample app; required for other images)")
	fs.DurationVar(&c.MaxServed, "slo-max-config-served", c.MaxServed, "longest allowed time from the config change until every answer shows it")
}

// configPlan is what the config-rollout suite changes, and where it looks.
type configPlan struct {
	configMap string
	set       map[string]string
	probePath string
}

// configChange returns what the suite changes (the defaults filled in), or
// why the workload gives it nothing to change.
func configChange(p Params, w *workload.Workload) (cp configPlan, skip string) {
	read, declared := w.ConfigMaps()
	var own []string
	for _, n := range read {
		if declared[n] {
			own = append(own, n)
		}
	}
	cp.configMap = p.Config.ConfigMap
	switch {
	case cp.configMap != "":
	case len(own) == 0:
		return cp, fmt.Sprintf("the target Deployment %s (%s) reads no ConfigMap of the workload", w.Deployment.Name, w.DeploymentPos())
	case len(own) > 1:
		return cp, fmt.Sprintf("the target Deployment %s (%s) reads %d ConfigMaps of the workload (%s): name one with --config-map",
			w.Deployment.Name, w.DeploymentPos(), len(own), strings.Join(own, ", "))
	default:
		cp.configMap = own[0]
	}
	cp.probePath = p.Config.ProbePath
	if cp.probePath == "" {
		if !w.UsesImage(workload.SampleImage) {
			return cp, "the gate cannot see what configuration the target serves: give --config-probe-path, a path whose answers show the values --config-set sets"
		}
		cp.probePath = SampleConfigPath
	}
	cp.set = p.Config.Set
	if len(cp.set) == 0 {
		release := p.Config.release
		if release == "" {
			release = "release-unset"
		}
		cp.set = map[string]string{ReleaseKey: release}
	}
	return cp, ""
}

// newRelease is a default value new to every run.
func newRelease() string { return "release-" + time.Now().UTC().Format("20060102-150405.000") }

// configWatch is how long the gate watches after the change: the rest of
// the load and the settle time.
func configWatch(p Params) time.Duration {
	return p.Load.Duration - p.Rollouts.Start + p.SLO.MaxRecovery
}

func validateConfig(p Params, w *workload.Workload) error {
	c := p.Config
	if c.ProbePath != "" {
		if u, err := url.Parse("http://127.0.0.1" + c.ProbePath); err != nil || !strings.HasPrefix(c.ProbePath, "/") || u.Host != "127.0.0.1" {
			return fmt.Errorf("--config-probe-path %q: must be an absolute path such as /config", c.ProbePath)
		}
	}
	if c.MaxServed <= 0 || c.MaxServed > configWatch(p) {
		return fmt.Errorf("--slo-max-config-served %s: must be positive and at most %s, how long the gate watches after the change (the rest of --duration after --rollout-start, plus --slo-max-recovery)",
			c.MaxServed, configWatch(p))
	}
	for k, v := range c.Set {
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			return fmt.Errorf("--config-set %s=%s: not a ConfigMap key: %s", k, v, strings.Join(errs, "; "))
		}
		if v == "" || strings.TrimSpace(v) != v {
			return fmt.Errorf("--config-set %s=%q: the value must not be empty or start or end with a space (the gate looks for it in the answers)", k, v)
		}
	}
	if w == nil {
		return nil
	}
	cp, skip := configChange(p, w)
	if skip != "" {
		return fmt.Errorf("--suites config-rollout: %s", skip)
	}
	read, declared := w.ConfigMaps()
	if !declared[cp.configMap] {
		return fmt.Errorf("--config-map %s: not a ConfigMap of the workload (it declares %s)", cp.configMap, orNone(slices.Sorted(maps.Keys(declared))))
	}
	if !slices.Contains(read, cp.configMap) {
		return fmt.Errorf("--config-map %s: the target Deployment %s (%s) does not read it (it reads %s)", cp.configMap, w.Deployment.Name, w.DeploymentPos(), orNone(read))
	}
	return validateRolloutStart(p)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// afterSignal is a fault whose planning waits until another step signals
// (the rollout of a config change waits for the ConfigMap to hold the new
// values: two steps run concurrently, and a fixed gap between them could
// let new pods start with the old values on a busy machine).
type afterSignal struct {
	faults.Fault
	signal <-chan struct{}
	within time.Duration
}

// SelfHealing forwards the wrapped fault's answer.
func (a afterSignal) SelfHealing() bool {
	sh, ok := a.Fault.(faults.SelfHealing)
	return ok && sh.SelfHealing()
}

// Validate forwards to the wrapped fault, for the engine's preflight.
func (a afterSignal) Validate() error {
	if v, ok := a.Fault.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return nil
}

// Plan waits for the signal, then plans the wrapped fault.
func (a afterSignal) Plan(ctx context.Context) (faults.Injection, error) {
	select {
	case <-a.signal:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(a.within):
		return nil, &faults.NoTargetError{Reason: fmt.Sprintf("the step it follows did not apply within %s", a.within)}
	}
	return a.Fault.Plan(ctx)
}

// configRollout: a configuration change rolled out under load must reach
// every pod and users must see nothing of it.
var configRollout = Suite{
	Name:     "config-rollout",
	Labels:   []string{"rollout"},
	defaults: configDefaults,
	Flags:    configFlags,
	Skip: func(p Params, w *workload.Workload) string {
		_, skip := configChange(p, w)
		return skip
	},
	Validate: func(p Params, w *workload.Workload, _ func(string) bool) error {
		if p.Rollouts.MaxFailed < 0 {
			return fmt.Errorf("--rollout-max-failed %d: must not be negative", p.Rollouts.MaxFailed)
		}
		return validateConfig(p, w)
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		desired, unavailable, deadline := strategy(w)
		start := p.Rollouts.Start
		watch := configWatch(p)
		effect := min(deadline+30*time.Second, watch)
		var cp configPlan
		if w != nil {
			cp, _ = configChange(p, w)
		}
		values := make([]string, 0, len(cp.set))
		pairs := make([]string, 0, len(cp.set))
		for k, v := range cp.set {
			values = append(values, v)
			pairs = append(pairs, k+"="+v)
		}
		sort.Strings(pairs)
		// the engine builds a run's faults in step order: the change's
		// builder makes the signal the rollout's then waits for
		var applied chan struct{}
		change := func(env engine.Env) (faults.Fault, error) {
			probe := workload.ServingProbe{Method: "GET", URL: strings.TrimSuffix(env.Target.URL, p.Path) + cp.probePath, RequestTimeout: p.Load.Timeout}
			ch := make(chan struct{})
			applied = ch
			var once sync.Once
			return &faults.ConfigChange{Client: env.Client, Namespace: env.Target.Namespace, ConfigMap: cp.configMap, Data: cp.set,
				Served:  func(ctx context.Context) error { return workload.ServesValues(ctx, probe, values, configProbes) },
				Applied: func() { once.Do(func() { close(ch) }) }}, nil
		}
		// a restart only: --update-image/--update-env are the rolling
		// update's
		restart := func(env engine.Env) (faults.Fault, error) {
			return afterSignal{signal: applied, within: effect, Fault: &faults.Rollout{Client: env.Client,
				Namespace: env.Target.Namespace, Deployment: env.Target.Deployment}}, nil
		}
		return []engine.Scenario{{
			Name: "config-rollout", Title: "configuration rollout under load",
			Description: fmt.Sprintf("Under load, ConfigMap %s gets %s and the target Deployment rolls out (a restart) so its pods read it; every answer of %s must then show it, and users must see nothing.",
				cp.configMap, strings.Join(pairs, ", "), cp.probePath),
			Labels: []string{"fault:config-change", "fault:rollout"},
			Load:   p.Load,
			Steps: []engine.Step{
				{Name: "config change", At: start, Times: 1, EffectTimeout: min(p.Config.MaxServed+15*time.Second, watch), Fault: change},
				{Name: "rollout", At: start, Times: 1, EffectTimeout: effect, Fault: restart},
			},
			Settle: p.SLO.MaxRecovery, EffectTimeout: effect,
			// as the rolling update's, with the change in effect once every
			// answer shows it: typically served 5s after the change, the
			// old pods gone a few seconds later, then the margin
			EndEarly: rolloutEarlyEnd(p, []engine.Condition{engine.FaultsInEffect, engine.ReplicasBack}, 10*time.Second, start+22*time.Second),
			Checks: []engine.Check{
				engine.FailedRequestsAtMost(p.Rollouts.MaxFailed),
				engine.ConfigServedWithin(p.Config.MaxServed, cp.probePath),
				engine.RolloutCompletedWithin(deadline),
				engine.ServingAtLeast(desired-unavailable, fmt.Sprintf("replicas - maxUnavailable = %d - %d", desired, unavailable)),
				engine.LatencyP99(p.SLO.MaxP99),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}
