package suites

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// RolloutParams are the parameters of the rollout suites.
type RolloutParams struct {
	// Image and Env are what the rolling update changes; neither: a
	// restart, as `kubectl rollout restart` does.
	Image string
	Env   envFlag
	// Start is when the rollout begins, after the load started.
	Start time.Duration
	// MaxFailed is the failed requests a rollout may cause: zero downtime
	// means zero.
	MaxFailed int
	// BadImage is the release the rollback scenario rolls out: an image the
	// nodes do not have, with imagePullPolicy Never, so it can never start.
	BadImage string
	// DetectAfter is how long the gate waits for the bad release's pods
	// before it declares the release failed (the Deployment's own progress
	// deadline may say so first); MaxRestore bounds the rollback.
	DetectAfter time.Duration
	MaxRestore  time.Duration
}

// envFlag is a repeatable K=V flag.
type envFlag map[string]string

func (e *envFlag) String() string {
	var out []string
	for k, v := range *e {
		out = append(out, k+"="+v)
	}
	return strings.Join(out, ",")
}

func (e *envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || strings.ContainsAny(k, " =") {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	if *e == nil {
		*e = envFlag{}
	}
	(*e)[k] = v
	return nil
}

func rolloutDefaults(p *Params) {
	p.Rollouts = RolloutParams{Start: 8 * time.Second, BadImage: "chaosgate.local/sampleapp:does-not-exist",
		DetectAfter: 20 * time.Second, MaxRestore: 60 * time.Second}
}

func rolloutFlags(fs *flag.FlagSet, p *Params) {
	r := &p.Rollouts
	fs.StringVar(&r.Image, "update-image", r.Image, "image the rolling update rolls to (default: a restart, as kubectl rollout restart)")
	fs.Var(&r.Env, "update-env", "NAME=VALUE the rolling update sets in the target's container (repeatable)")
	fs.DurationVar(&r.Start, "rollout-start", r.Start, "time from load start to the rollout")
	fs.IntVar(&r.MaxFailed, "rollout-max-failed", r.MaxFailed, "failed requests a rollout may cause (zero downtime means 0)")
	fs.StringVar(&r.BadImage, "bad-image", r.BadImage, "image of the release the rollback scenario rolls out (imagePullPolicy Never: one the nodes do not have)")
	fs.DurationVar(&r.DetectAfter, "bad-release-after", r.DetectAfter, "how long the bad release's pods may take before it is declared failed")
	fs.DurationVar(&r.MaxRestore, "slo-max-restore", r.MaxRestore, "longest allowed rollback, from its start until the previous release serves in full")
}

// maxUnavailable resolves the Deployment's rolling update maxUnavailable for
// its replica count the way the Deployment controller does: 25% by default,
// rounded down, while maxSurge rounds up; when both come to 0 the
// controller lets one replica be unavailable.
func maxUnavailable(w *workload.Workload) int {
	n := int(w.Replicas())
	unavail, surge := intstr.FromString("25%"), intstr.FromString("25%")
	s := w.Deployment.Spec.Strategy
	if s.Type == "Recreate" {
		return n
	}
	if s.RollingUpdate != nil && s.RollingUpdate.MaxUnavailable != nil {
		unavail = *s.RollingUpdate.MaxUnavailable
	}
	if s.RollingUpdate != nil && s.RollingUpdate.MaxSurge != nil {
		surge = *s.RollingUpdate.MaxSurge
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(&unavail, n, false)
	if err != nil {
		return n
	}
	su, err := intstr.GetScaledValueFromIntOrPercent(&surge, n, true)
	if err != nil {
		return n
	}
	if u == 0 && su == 0 {
		return 1
	}
	return min(u, n)
}

func progressDeadline(w *workload.Workload) time.Duration {
	if d := w.Deployment.Spec.ProgressDeadlineSeconds; d != nil {
		return time.Duration(*d) * time.Second
	}
	return 600 * time.Second
}

func rolloutFault(p Params, bad bool) engine.FaultBuilder {
	r := p.Rollouts
	return func(env engine.Env) (faults.Fault, error) {
		f := &faults.Rollout{Client: env.Client, Namespace: env.Target.Namespace, Deployment: env.Target.Deployment,
			Image: r.Image, Env: r.Env}
		if bad {
			f.Image, f.Env, f.PullNever, f.Bad, f.DetectAfter = r.BadImage, nil, true, true, r.DetectAfter
		}
		return f, nil
	}
}

// strategy returns the target's replica count, the replicas its rolling
// update may take away at once, and its progress deadline.
func strategy(w *workload.Workload) (desired, unavailable int, deadline time.Duration) {
	if w == nil {
		return 1, 1, 600 * time.Second
	}
	return int(w.Replicas()), maxUnavailable(w), progressDeadline(w)
}

func validateRolloutStart(p Params) error {
	if r := p.Rollouts; r.Start < 0 || r.Start > p.Load.Duration-20*time.Second {
		return fmt.Errorf("--rollout-start %s: must leave at least 20s of the %s load after it", r.Start, p.Load.Duration)
	}
	return nil
}

// rolloutEarlyEnd ends a rollout scenario's load once when has held for
// margin after its schedule is done: every request that could fail on the
// rollout itself was sent by then. A good release's schedule is done once
// it is issued (the cluster carries it out), so its conditions include
// FaultsInEffect: the rollout completed. Every replica serving with none
// on its way out (ReplicasBack) means the old pods' shutdowns were seen,
// and the margin catches a release that fails soon after it becomes Ready;
// one that fails later is seen only with --full-duration.
func rolloutEarlyEnd(p Params, when []engine.Condition, margin, typical time.Duration) *engine.EarlyEnd {
	return earlyEnd(p, engine.EarlyEnd{When: when, Margin: margin, Typical: typical})
}

// rollingUpdate: a rolling update under load must be invisible to users:
// zero failed requests, not 99.5%.
var rollingUpdate = Suite{
	Name:     "rolling-update",
	Labels:   []string{"rollout"},
	defaults: rolloutDefaults,
	Flags:    rolloutFlags,
	Validate: func(p Params, _ *workload.Workload, _ func(string) bool) error {
		if p.Rollouts.MaxFailed < 0 {
			return fmt.Errorf("--rollout-max-failed %d: must not be negative", p.Rollouts.MaxFailed)
		}
		return validateRolloutStart(p)
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		desired, unavailable, deadline := strategy(w)
		// the gate watches the rollout for the rest of the load and the
		// settle time, not for the whole progress deadline (10 minutes by
		// default): rollout-complete says when that was too short to judge
		effect := min(deadline+30*time.Second, p.Load.Duration-p.Rollouts.Start+p.SLO.MaxRecovery)
		return []engine.Scenario{{
			Name: "rolling-update", Title: "rolling update under load",
			Description: "Under load, the target Deployment rolls out a new release (a restart by default, or --update-image/--update-env); users must see nothing.",
			Labels:      []string{"fault:rollout"},
			Load:        p.Load,
			Steps: []engine.Step{{Name: "rollout", At: p.Rollouts.Start, Times: 1, EffectTimeout: effect,
				Fault: rolloutFault(p, false)}},
			Settle: p.SLO.MaxRecovery, EffectTimeout: effect,
			// typically: the rollout done 4-13s after it began, its old pods
			// gone a few seconds later, then the margin
			EndEarly: rolloutEarlyEnd(p, []engine.Condition{engine.FaultsInEffect, engine.ReplicasBack}, 10*time.Second, p.Rollouts.Start+22*time.Second),
			Checks: []engine.Check{
				engine.FailedRequestsAtMost(p.Rollouts.MaxFailed),
				engine.RolloutCompletedWithin(deadline),
				engine.ServingAtLeast(desired-unavailable, fmt.Sprintf("replicas - maxUnavailable = %d - %d", desired, unavailable)),
				engine.LatencyP99(p.SLO.MaxP99),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}

// rollback: a release that can never become Ready must be detected and
// rolled back (as kubectl rollout undo does) while users see nothing.
var rollback = Suite{
	Name:     "rollback",
	Labels:   []string{"rollout"},
	defaults: func(*Params) {},
	Flags:    func(*flag.FlagSet, *Params) {},
	Validate: func(p Params, _ *workload.Workload, _ func(string) bool) error {
		r := p.Rollouts
		if r.BadImage == "" || r.DetectAfter < 5*time.Second || r.MaxRestore <= 0 {
			return errors.New("--bad-image must be set, --bad-release-after at least 5s, --slo-max-restore positive")
		}
		return validateRolloutStart(p)
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		r := p.Rollouts
		desired, unavailable, _ := strategy(w)
		return []engine.Scenario{{
			Name: "rollback", Title: "rollback of a release that cannot become Ready",
			Description: "Under load, a release that can never become Ready is rolled out; it must be detected and rolled back (as kubectl rollout undo) while users see nothing.",
			Labels:      []string{"fault:bad-release"},
			Load:        p.Load,
			Steps: []engine.Step{{Name: "bad release", At: r.Start, Times: 1, EffectTimeout: r.DetectAfter + 60*time.Second,
				Fault: rolloutFault(p, true)}},
			Settle: p.SLO.MaxRecovery, EffectTimeout: r.DetectAfter + 60*time.Second,
			// the schedule is done once the rollback is: then the previous
			// release's replicas, all serving, none on its way out
			EndEarly: rolloutEarlyEnd(p, []engine.Condition{engine.ReplicasBack}, 5*time.Second, r.Start+r.DetectAfter+10*time.Second),
			Checks: []engine.Check{
				engine.BadReleaseDetectedWithin(r.DetectAfter + 15*time.Second),
				engine.RolledBackWithin(r.MaxRestore),
				engine.Availability(p.SLO.Availability),
				engine.ServingAtLeast(desired-unavailable, fmt.Sprintf("replicas - maxUnavailable = %d - %d", desired, unavailable)),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}
