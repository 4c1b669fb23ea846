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

// NodeParams are the parameters of the node-level suites (node-failure,
// node-unreachable, drain).
type NodeParams struct {
	// Node is the worker to hit; empty: the one hosting the most target
	// pods.
	Node string
	// Duration is the load of each node scenario: a node takes about a
	// minute to be declared NotReady, and its pods longer to move.
	Duration time.Duration
	// Start is when the node fault comes, after the load started.
	Start time.Duration
	// DownFor is how long at most a lost node stays down once it is
	// NotReady (it comes back once its pods serve elsewhere);
	// UnreachableFor how long an unreachable node stays so (its pods are not
	// replaced within a run, so a short hold shows all there is to see).
	DownFor        time.Duration
	UnreachableFor time.Duration
	// UnreachableDuration is the load of each node-unreachable scenario.
	UnreachableDuration time.Duration
	PowerOff            bool
	// EffectTimeout bounds the wait for the node to go NotReady.
	EffectTimeout time.Duration
	// FromWorkers also cuts a partitioned node off from the other workers.
	FromWorkers bool

	MaxNotReady        time.Duration
	MaxEndpointRemoval time.Duration
	MaxRejoin          time.Duration

	DrainDeadline  time.Duration
	DrainHold      time.Duration
	DrainMaxFailed int
}

func nodeDefaults(p *Params) {
	p.Nodes = NodeParams{Duration: 85 * time.Second, Start: 6 * time.Second, DownFor: 35 * time.Second, EffectTimeout: 2 * time.Minute,
		UnreachableFor: 15 * time.Second, UnreachableDuration: 65 * time.Second,
		MaxNotReady: 70 * time.Second, MaxEndpointRemoval: 20 * time.Second, MaxRejoin: 60 * time.Second,
		DrainDeadline: time.Minute, DrainHold: 20 * time.Second}
}

// nodeFlags are shared by the node suites; declared once (by node-failure).
func nodeFlags(fs *flag.FlagSet, p *Params) {
	n := &p.Nodes
	fs.StringVar(&n.Node, "node", n.Node, "worker node the node suites hit (default: the one hosting the most target pods)")
	fs.DurationVar(&n.Duration, "node-duration", n.Duration, "load duration of each node scenario")
	fs.DurationVar(&n.Start, "node-fault-start", n.Start, "time from load start to the node fault")
	fs.DurationVar(&n.DownFor, "node-down-for", n.DownFor, "how long a lost node stays down at most once it is NotReady (it is restarted once its pods serve elsewhere, unless --full-duration)")
	fs.DurationVar(&n.UnreachableFor, "node-unreachable-for", n.UnreachableFor, "how long an unreachable node stays so once it is NotReady")
	fs.DurationVar(&n.UnreachableDuration, "node-unreachable-duration", n.UnreachableDuration, "load duration of each node-unreachable scenario")
	fs.BoolVar(&n.PowerOff, "node-power-off", n.PowerOff, "kill the node container (power loss) instead of stopping it cleanly")
	fs.DurationVar(&n.EffectTimeout, "node-effect-timeout", n.EffectTimeout, "how long the control plane may take to mark a node NotReady before the fault counts as not taken")
	fs.BoolVar(&n.FromWorkers, "partition-workers", n.FromWorkers, "cut a partitioned node off from the other workers too, not only from the control plane")
	fs.DurationVar(&n.MaxNotReady, "slo-max-notready", n.MaxNotReady, "longest allowed time for the control plane to mark a lost node NotReady")
	fs.DurationVar(&n.MaxEndpointRemoval, "slo-max-endpoint-removal", n.MaxEndpointRemoval, "longest allowed time from NotReady until the lost pods leave the Service")
	fs.DurationVar(&n.MaxRejoin, "slo-max-rejoin", n.MaxRejoin, "longest allowed time for a restarted node to be Ready again")
	fs.DurationVar(&n.DrainDeadline, "drain-eviction-deadline", n.DrainDeadline, "how long a drain retries an eviction a PodDisruptionBudget refuses")
	fs.DurationVar(&n.DrainHold, "drain-hold", n.DrainHold, "how long a drained node stays cordoned")
	fs.IntVar(&n.DrainMaxFailed, "drain-max-failed", n.DrainMaxFailed, "failed requests a drain may cause")
}

func (n NodeParams) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if n.Duration < 30*time.Second || n.Duration > time.Hour {
		add("--node-duration %s: must be 30s-1h", n.Duration)
	}
	if n.Start < 0 || n.DownFor < 0 || n.UnreachableFor < 0 || n.DrainHold < 0 {
		add("--node-fault-start, --node-down-for, --node-unreachable-for and --drain-hold must not be negative")
	}
	if n.UnreachableDuration < 30*time.Second || n.UnreachableDuration > time.Hour || n.Start >= n.UnreachableDuration-20*time.Second {
		add("--node-unreachable-duration %s: must be 30s-1h and leave 20s after --node-fault-start", n.UnreachableDuration)
	}
	if n.EffectTimeout < 10*time.Second || n.EffectTimeout > 10*time.Minute {
		add("--node-effect-timeout %s: must be 10s-10m", n.EffectTimeout)
	}
	if n.Start >= n.Duration-20*time.Second {
		add("--node-fault-start %s must come at least 20s before the node load ends at %s", n.Start, n.Duration)
	}
	if n.MaxNotReady <= 0 || n.MaxEndpointRemoval <= 0 || n.MaxRejoin <= 0 {
		add("--slo-max-notready, --slo-max-endpoint-removal and --slo-max-rejoin must be positive")
	}
	if n.DrainDeadline < time.Second || n.DrainMaxFailed < 0 {
		add("--drain-eviction-deadline must be at least 1s and --drain-max-failed not negative")
	}
	return errors.Join(errs...)
}

// nodeEarlyEnd ends a node scenario's load 5s after the node is back and
// every replica serves, unless --full-duration. typical is how long that
// usually takes after the fault (measured with chaosgate's 20s
// node-monitor-grace-period).
func nodeEarlyEnd(p Params, typical time.Duration) *engine.EarlyEnd {
	return earlyEnd(p, engine.EarlyEnd{When: []engine.Condition{engine.FaultsRecovered, engine.NodesReady, engine.ReplicasReady}, Margin: 5 * time.Second,
		Typical: p.Nodes.Start + typical})
}

// nodeHoldUntil ends a lost node's hold once its pods serve elsewhere: what
// its return does after that is the rejoin's business. --full-duration
// holds it --node-down-for.
func nodeHoldUntil(p Params) engine.Condition {
	if p.FullDuration {
		return ""
	}
	return engine.FaultsRecovered
}

// nodeLoad is the load of a node scenario: the common load, longer.
func nodeLoad(p Params) engine.Load {
	l := p.Load
	l.Duration = p.Nodes.Duration
	return l
}

func needDocker(env engine.Env, kind string) error {
	if env.Docker == nil {
		return fmt.Errorf("%s needs Docker access to the cluster's nodes, which only kind clusters give", kind)
	}
	return nil
}

// nodeFailure: the worker hosting the most target pods shuts down under
// load. The cluster's settings decide how fast it notices (NotReady, then
// the lost pods leave the Service); the workload decides what users see
// after that and how soon its pods come back elsewhere (its tolerations).
var nodeFailure = Suite{
	Name:     "node-failure",
	Labels:   []string{"disruptive", "node"},
	defaults: nodeDefaults,
	Flags:    nodeFlags,
	Validate: func(p Params, _ *workload.Workload, _ func(string) bool) error { return p.Nodes.validate() },
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		n := p.Nodes
		tol := workload.DefaultToleration
		if w != nil {
			tol = w.UnreachableToleration()
		}
		return []engine.Scenario{{
			Name: "node-failure", Title: "node failure: a worker hosting the target shuts down",
			Description: "Under load, the worker hosting the most target pods shuts down; the control plane notices, the Service moves on, the pods come back elsewhere, and the node rejoins once restarted.",
			Labels:      []string{"fault:node-shutdown"},
			Load:        nodeLoad(p),
			Steps: []engine.Step{{
				Name: "node shutdown", At: n.Start, Times: 1, Hold: n.DownFor, HoldUntil: nodeHoldUntil(p), EffectTimeout: n.EffectTimeout, NeedsDocker: true,
				Fault: func(env engine.Env) (faults.Fault, error) {
					if err := needDocker(env, "node-shutdown"); err != nil {
						return nil, err
					}
					return &faults.NodeShutdown{Docker: env.Docker, Client: env.Client, Node: n.Node, Namespace: env.Target.Namespace,
						Selector: env.Target.Selector, Kill: n.PowerOff}, nil
				},
			}},
			Settle:        p.SLO.MaxRecovery,
			EffectTimeout: n.EffectTimeout,
			// NotReady, the pods' 20s toleration, their replacement, the
			// node's return: 57s after the fault on the reference machine
			EndEarly: nodeEarlyEnd(p, 57*time.Second),
			Checks: []engine.Check{
				engine.NodeNotReadyWithin(n.MaxNotReady),
				engine.EndpointsRemovedWithin(n.MaxEndpointRemoval),
				engine.AvailabilityAfterEndpointsMoved(p.SLO.Availability),
				engine.ReplacementsReadyWithin(tol, p.SLO.MaxRecovery),
				engine.NodeRejoinWithin(n.MaxRejoin),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}

// nodeUnreachable: a worker's kubelet stops, then (a second scenario) the
// worker is cut off from the control plane by the network; either way its
// pods live on. Users must not notice.
var nodeUnreachable = Suite{
	Name:     "node-unreachable",
	Labels:   []string{"disruptive", "node"},
	defaults: func(*Params) {},
	Flags:    func(*flag.FlagSet, *Params) {},
	Validate: func(p Params, _ *workload.Workload, _ func(string) bool) error { return p.Nodes.validate() },
	Scenarios: func(p Params, _ *workload.Workload) []engine.Scenario {
		n := p.Nodes
		sc := func(name, title, label, what string, build engine.FaultBuilder) engine.Scenario {
			load := p.Load
			load.Duration = n.UnreachableDuration
			return engine.Scenario{
				Name: name, Title: title, Labels: []string{label}, Load: load,
				Description: "Under load, " + what + "; the control plane loses the node while its pods keep running. Users must not notice.",
				Steps:       []engine.Step{{Name: name, At: n.Start, Times: 1, Hold: n.UnreachableFor, EffectTimeout: n.EffectTimeout, Fault: build, NeedsDocker: true}},
				Settle:      p.SLO.MaxRecovery, EffectTimeout: n.EffectTimeout,
				// NotReady, the hold, the node's return: 49-51s after the fault
				EndEarly: nodeEarlyEnd(p, 51*time.Second),
				Checks: []engine.Check{
					engine.Availability(p.SLO.Availability),
					engine.LongestFailedInterval(p.SLO.MaxFailedInterval),
					engine.NodeNotReadyWithin(n.MaxNotReady),
					engine.NodeRejoinWithin(n.MaxRejoin),
					engine.LoadRate(p.SLO.MinRateRatio),
				},
			}
		}
		return []engine.Scenario{
			sc("kubelet-stop", "node unreachable: a worker's kubelet stops", "fault:kubelet-stop", "the kubelet of the worker hosting the most target pods stops",
				func(env engine.Env) (faults.Fault, error) {
					if err := needDocker(env, "kubelet-stop"); err != nil {
						return nil, err
					}
					return &faults.KubeletStop{Docker: env.Docker, Client: env.Client, Node: n.Node, Namespace: env.Target.Namespace, Selector: env.Target.Selector}, nil
				}),
			sc("network-partition", "node unreachable: a worker is cut off from the control plane", "fault:network-partition", "the worker hosting the most target pods is cut off from the control plane",
				func(env engine.Env) (faults.Fault, error) {
					if err := needDocker(env, "network-partition"); err != nil {
						return nil, err
					}
					return &faults.NetworkPartition{Docker: env.Docker, Client: env.Client, Node: n.Node, Namespace: env.Target.Namespace,
						Selector: env.Target.Selector, FromWorkers: n.FromWorkers}, nil
				}),
		}
	},
}

// drain: the worker hosting the most target pods is drained under load, as
// an upgrade would. A workload with readiness, graceful shutdown, spread
// replicas and a PodDisruptionBudget loses nothing.
var drain = Suite{
	Name:     "drain",
	Labels:   []string{"disruptive", "node"},
	defaults: func(*Params) {},
	Flags:    func(*flag.FlagSet, *Params) {},
	Validate: func(p Params, _ *workload.Workload, _ func(string) bool) error {
		if err := p.Nodes.validate(); err != nil {
			return err
		}
		if p.Load.Duration < p.Nodes.Start+20*time.Second {
			return fmt.Errorf("--duration %s: the drain at %s needs at least 20s of load after it", p.Load.Duration, p.Nodes.Start)
		}
		return nil
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		n := p.Nodes
		var budget workload.Budget
		if w != nil {
			budget, _ = w.DisruptionBudget()
		}
		return []engine.Scenario{{
			Name: "drain", Title: "drain: a worker hosting the target is drained",
			Description: "Under load, the worker hosting the most target pods is cordoned and drained through the Eviction API, then uncordoned.",
			Labels:      []string{"fault:drain"},
			Load:        p.Load,
			Steps: []engine.Step{{
				Name: "drain", At: n.Start, Times: 1, Hold: n.DrainHold, EffectTimeout: n.DrainDeadline + 30*time.Second,
				Fault: func(env engine.Env) (faults.Fault, error) {
					return &faults.Drain{Client: env.Client, Node: n.Node, Namespace: env.Target.Namespace, Selector: env.Target.Selector,
						EvictionDeadline: n.DrainDeadline}, nil
				},
			}},
			Settle: p.SLO.MaxRecovery, EffectTimeout: n.DrainDeadline + 30*time.Second,
			Checks: []engine.Check{
				engine.FailedRequestsAtMost(n.DrainMaxFailed),
				engine.LongestFailedInterval(p.SLO.MaxFailedInterval),
				engine.BudgetRespected(budget.MinServing, budget.Name, budget.SelectsTarget),
				engine.FaultsTookEffect("drain"),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}
