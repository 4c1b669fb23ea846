package suites

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// SelfHealingParams say how the self-healing suite kills pods.
type SelfHealingParams struct {
	Count   int
	Percent int
	Times   int
	// Interval between kills; Start is the first kill's time after the
	// load started.
	Interval time.Duration
	Start    time.Duration
	// Force deletes with grace period 0.
	Force bool
	// IncludeNotReady lets kills hit running pods that are not Ready.
	IncludeNotReady bool
	// ContainerKills containers are SIGKILLed in their nodes, one every
	// ContainerInterval from Start.
	ContainerKills    int
	ContainerInterval time.Duration
	// CrashAvailability is the availability SLO under container kills, in
	// percent. A crash, unlike a deletion, costs the pod's share of the
	// traffic until the kubelet notices the dead container (about a second
	// or two); no workload can avoid that, a client without retries sees it.
	CrashAvailability float64
}

// selfHealing: under steady load, one serving pod is killed every 8s from
// 10s on, five times. Users must barely notice, and the Deployment must be
// whole again within the recovery bound after every kill.
var selfHealing = Suite{
	Name:   "self-healing",
	Labels: []string{"disruptive"},
	defaults: func(p *Params) {
		p.SelfHealing = SelfHealingParams{Count: 1, Times: 4, Interval: 8 * time.Second, Start: 8 * time.Second,
			ContainerKills: 3, ContainerInterval: 10 * time.Second, CrashAvailability: 95}
	},
	Flags: func(fs *flag.FlagSet, p *Params) {
		k := &p.SelfHealing
		fs.IntVar(&k.Count, "kill-count", k.Count, "pods killed per injection")
		fs.IntVar(&k.Percent, "kill-percent", k.Percent, "percentage of the serving pods killed per injection (instead of --kill-count)")
		fs.IntVar(&k.Times, "kills", k.Times, "number of injections")
		fs.DurationVar(&k.Interval, "kill-interval", k.Interval, "time between injections")
		fs.DurationVar(&k.Start, "kill-start", k.Start, "time from load start to the first injection")
		fs.BoolVar(&k.Force, "force", k.Force, "kill with grace period 0 instead of the pods' own")
		fs.BoolVar(&k.IncludeNotReady, "kill-not-ready", k.IncludeNotReady, "let kills hit running pods that are not Ready (default: only pods that serve)")
		fs.IntVar(&k.ContainerKills, "container-kills", k.ContainerKills, "containers SIGKILLed in their nodes (the container-kill scenario)")
		fs.DurationVar(&k.ContainerInterval, "container-kill-interval", k.ContainerInterval, "time between container kills")
		fs.Float64Var(&k.CrashAvailability, "slo-crash-availability", k.CrashAvailability, "minimum availability under container kills, percent (a crash costs the pod's share of traffic until the kubelet notices)")
	},
	Validate: func(p Params, w *workload.Workload, selected func(string) bool) error {
		k := p.SelfHealing
		var errs []error
		add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
		if selected("self-healing") {
			if (k.Count > 0) == (k.Percent > 0) {
				add("--kill-count %d / --kill-percent %d: set exactly one", k.Count, k.Percent)
			}
			if k.Count < 0 || k.Percent < 0 || k.Percent > 100 {
				add("--kill-count must be positive, --kill-percent 1-100")
			}
			if w != nil && k.Count > int(w.Replicas()) {
				add("--kill-count %d: the target Deployment %s has only %d replica(s)", k.Count, w.Deployment.Name, w.Replicas())
			}
			if k.Times < 1 || k.Times > 100 {
				add("--kills %d: must be 1-100", k.Times)
			}
			if k.Times > 1 && k.Interval < time.Second {
				add("--kill-interval %s: must be at least 1s", k.Interval)
			}
			if last := k.Start + time.Duration(k.Times-1)*k.Interval; k.Times >= 1 && last >= p.Load.Duration-5*time.Second {
				add("the last kill at %s must come at least 5s before the load ends at %s (lengthen --duration or reduce --kills/--kill-interval)", last, p.Load.Duration)
			}
		}
		if k.Start < 0 {
			add("--kill-start %s: must not be negative", k.Start)
		}
		if selected("container-kill") {
			if k.ContainerKills < 1 || k.ContainerKills > 100 || (k.ContainerKills > 1 && k.ContainerInterval < time.Second) {
				add("--container-kills %d / --container-kill-interval %s: 1-100 kills at least 1s apart", k.ContainerKills, k.ContainerInterval)
			}
			if k.CrashAvailability <= 0 || k.CrashAvailability > 100 {
				add("--slo-crash-availability %g: must be in (0, 100]", k.CrashAvailability)
			}
			if last := k.Start + time.Duration(k.ContainerKills-1)*k.ContainerInterval; last >= p.Load.Duration-5*time.Second {
				add("the last container kill at %s must come at least 5s before the load ends at %s (lengthen --duration or reduce --container-kills)", last, p.Load.Duration)
			}
		}
		return errors.Join(errs...)
	},
	Scenarios: func(p Params, _ *workload.Workload) []engine.Scenario {
		k := p.SelfHealing
		return []engine.Scenario{{
			Name:        "self-healing",
			Title:       "self-healing under pod kills",
			Labels:      []string{"fault:pod-kill"},
			Description: "Under steady load, serving pods of the target are killed repeatedly; users must barely notice and the Deployment must heal.",
			Load:        p.Load,
			Steps: []engine.Step{{
				Name: "pod kills", At: k.Start, Every: k.Interval, Times: k.Times,
				Fault: func(env engine.Env) (faults.Fault, error) {
					return &faults.PodKill{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector,
						Count: k.Count, Percent: k.Percent, Force: k.Force, IncludeNotReady: k.IncludeNotReady}, nil
				},
			}},
			Settle:        p.SLO.MaxRecovery,
			EffectTimeout: p.EffectTimeout,
			Checks: []engine.Check{
				engine.Availability(p.SLO.Availability),
				engine.LongestFailedInterval(p.SLO.MaxFailedInterval),
				engine.RecoveryWithin(p.SLO.MaxRecovery, "kill"),
				engine.FaultsTookEffect("kill"),
				engine.LoadRate(p.SLO.MinRateRatio),
				engine.LatencyP99(p.SLO.MaxP99),
			},
		}, {
			Name:        "container-kill",
			Title:       "self-healing under container kills",
			Description: "Under steady load, a serving pod's container is SIGKILLed inside its node (a crash); the kubelet must restart it and users must barely notice.",
			Labels:      []string{"fault:container-kill"},
			Load:        p.Load,
			Steps: []engine.Step{{
				Name: "container kills", At: k.Start, Every: k.ContainerInterval, Times: k.ContainerKills, NeedsDocker: true,
				Fault: func(env engine.Env) (faults.Fault, error) {
					if err := needDocker(env, "container-kill"); err != nil {
						return nil, err
					}
					return &faults.ContainerKill{Client: env.Client, Docker: env.Docker, Namespace: env.Target.Namespace, Selector: env.Target.Selector,
						Count: 1, IncludeNotReady: k.IncludeNotReady}, nil
				},
			}},
			Settle:        p.SLO.MaxRecovery,
			EffectTimeout: p.EffectTimeout,
			Checks: []engine.Check{
				engine.Availability(k.CrashAvailability),
				engine.LongestFailedInterval(p.SLO.MaxFailedInterval),
				engine.RecoveryWithin(p.SLO.MaxRecovery, "container kill"),
				engine.FaultsTookEffect("container kill"),
				engine.LoadRate(p.SLO.MinRateRatio),
				engine.LatencyP99(p.SLO.MaxP99),
			},
		}}
	},
}
