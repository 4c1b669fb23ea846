package suites

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load/agents"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// DiscoveryParams are the parameters of the service-discovery suite.
type DiscoveryParams struct {
	// Agents is how many pods send the load from inside the cluster.
	Agents int
	// Kills pods are killed, one every KillInterval from KillStart; the
	// Deployment then rolls out (a restart) at RolloutAt.
	Kills        int
	KillStart    time.Duration
	KillInterval time.Duration
	RolloutAt    time.Duration
	// MaxFailed is how many requests may fail: the Service and its DNS
	// name must keep every one working.
	MaxFailed int
}

// serviceDiscovery: clients inside the cluster call the target by its
// Service's DNS name while its pods churn (kills, then a rollout); DNS and
// the Service must keep every request working.
var serviceDiscovery = Suite{
	Name:   "service-discovery",
	Labels: []string{"disruptive"},
	defaults: func(p *Params) {
		p.Discovery = DiscoveryParams{Agents: 2, Kills: 2, KillStart: 8 * time.Second, KillInterval: 6 * time.Second, RolloutAt: 18 * time.Second}
	},
	Flags: func(fs *flag.FlagSet, p *Params) {
		d := &p.Discovery
		fs.IntVar(&d.Agents, "discovery-agents", d.Agents, "pods that send the service-discovery suite's load from inside the cluster (the rate is shared)")
		fs.IntVar(&d.Kills, "discovery-kills", d.Kills, "pods the service-discovery suite kills before its rollout")
		fs.DurationVar(&d.KillStart, "discovery-kill-start", d.KillStart, "time from load start to the service-discovery suite's first kill")
		fs.DurationVar(&d.KillInterval, "discovery-kill-interval", d.KillInterval, "time between the service-discovery suite's kills")
		fs.DurationVar(&d.RolloutAt, "discovery-rollout-at", d.RolloutAt, "time from load start to the service-discovery suite's rollout (a restart)")
		fs.IntVar(&d.MaxFailed, "discovery-max-failed", d.MaxFailed, "requests from inside the cluster that may fail (0: DNS and the Service keep every one working)")
	},
	Validate: func(p Params, w *workload.Workload, _ func(string) bool) error {
		d := p.Discovery
		var errs []error
		add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
		if d.Agents < 1 || d.Agents > agents.MaxAgents {
			add("--discovery-agents %d: must be 1-%d", d.Agents, agents.MaxAgents)
		}
		if p.Load.Rate < d.Agents {
			add("--rate %d: below one request per second per agent (--discovery-agents %d)", p.Load.Rate, d.Agents)
		}
		if d.Kills < 0 || d.Kills > 100 || (d.Kills > 1 && d.KillInterval < time.Second) || d.KillStart < 0 {
			add("--discovery-kills %d / --discovery-kill-interval %s / --discovery-kill-start %s: 0-100 kills at least 1s apart, from a non-negative start", d.Kills, d.KillInterval, d.KillStart)
		}
		if last := d.KillStart + time.Duration(d.Kills-1)*d.KillInterval; d.Kills > 0 && last >= d.RolloutAt {
			add("the last kill at %s must come before the rollout at %s (--discovery-rollout-at)", last, d.RolloutAt)
		}
		if d.RolloutAt < 0 || d.RolloutAt > p.Load.Duration-20*time.Second {
			add("--discovery-rollout-at %s: must leave at least 20s of the %s load after it", d.RolloutAt, p.Load.Duration)
		}
		if d.MaxFailed < 0 {
			add("--discovery-max-failed %d: must not be negative", d.MaxFailed)
		}
		return errors.Join(errs...)
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		d := p.Discovery
		_, _, deadline := strategy(w)
		effect := min(deadline+30*time.Second, p.Load.Duration-d.RolloutAt+p.SLO.MaxRecovery)
		l := p.Load
		l.Agents = d.Agents
		steps := []engine.Step{}
		if d.Kills > 0 {
			steps = append(steps, engine.Step{Name: "pod kills", At: d.KillStart, Every: d.KillInterval, Times: d.Kills, EffectTimeout: p.EffectTimeout,
				Fault: func(env engine.Env) (faults.Fault, error) {
					return &faults.PodKill{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector, Count: 1}, nil
				}})
		}
		steps = append(steps, engine.Step{Name: "rollout", At: d.RolloutAt, Times: 1, EffectTimeout: effect,
			Fault: func(env engine.Env) (faults.Fault, error) {
				return &faults.Rollout{Client: env.Client, Namespace: env.Target.Namespace, Deployment: env.Target.Deployment}, nil
			}})
		return []engine.Scenario{{
			Name: "service-discovery", Title: "service discovery from inside the cluster while pods churn",
			Description: fmt.Sprintf("%d load agent pod(s) call the target by its Service's DNS name while %d of its pods are killed and it then rolls out; DNS and the Service must keep every request working.",
				d.Agents, d.Kills),
			Labels: []string{"fault:pod-kill", "fault:rollout", "load:in-cluster"},
			Load:   l,
			Steps:  steps,
			Settle: p.SLO.MaxRecovery, EffectTimeout: effect,
			// no latency check: the other suites judge latency through the
			// NodePort; from inside, every request adds a DNS lookup, and
			// on two shared cores a rollout's pod starts stall the agents,
			// CoreDNS and the control plane together (p99 186-531 ms
			// measured on the same healthy run), which would judge the
			// machine, not the workload. The report still shows it.
			Checks: []engine.Check{
				engine.FailedRequestsAtMost(d.MaxFailed),
				engine.FaultsTookEffect("fault"),
				engine.RolloutCompletedWithin(deadline),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}
