package suites

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/plan"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// GameDay is the suite of a game day's plan: one sequential scenario whose
// steps, checks and abort rules are the plan's, on the same engine, specs
// and reports as the gate's suites. p gives what the plan leaves out (the
// gate's SLO defaults, the request timeout). Run it with Options.Only.
func GameDay(pl *plan.Plan, p Params) Suite {
	return Suite{
		Name:     "gameday",
		Labels:   []string{"gameday", "disruptive"},
		defaults: func(*Params) {},
		Flags:    func(*flag.FlagSet, *Params) {},
		Validate: func(Params, *workload.Workload, func(string) bool) error { return nil },
		Scenarios: func(_ Params, w *workload.Workload) []engine.Scenario {
			return []engine.Scenario{gameDayScenario(pl, p, w)}
		},
	}
}

func gameDayScenario(pl *plan.Plan, p Params, w *workload.Workload) engine.Scenario {
	slo := p.SLO
	c := pl.Checks
	if c.Availability > 0 {
		slo.Availability = c.Availability
	}
	if c.MaxFailedInterval > 0 {
		slo.MaxFailedInterval = c.MaxFailedInterval
	}
	if c.MaxRecovery > 0 {
		slo.MaxRecovery = c.MaxRecovery
	}
	if c.MaxP99 > 0 {
		slo.MaxP99 = c.MaxP99
	}
	if c.MinRateRatio > 0 {
		slo.MinRateRatio = c.MinRateRatio
	}
	ld := p.Load
	ld.Rate, ld.RampTo, ld.Duration, ld.Agents = pl.Load.Rate, pl.Load.RampTo, pl.Load.Duration, pl.Load.Agents
	if pl.Load.Timeout > 0 {
		ld.Timeout = pl.Load.Timeout
	}
	under := fmt.Sprintf("%d req/s", pl.Load.Rate)
	if pl.Load.None {
		// real traffic is the signal: nothing is sent
		ld = engine.Load{None: true, Duration: pl.Load.Duration, Timeout: ld.Timeout}
		under = "real traffic (no generated load)"
	}
	p.Load = ld // what the faults' effect timeouts count with
	sc := engine.Scenario{
		Name: pl.Name, Title: "game day " + pl.Name,
		Description: fmt.Sprintf("The plan %s: %d step(s) in order under %s for %s.", pl.Name, len(pl.Steps), under, pl.Load.Duration),
		Labels:      []string{"plan:" + pl.Name},
		Load:        ld, Path: pl.Load.Path, Sequential: true,
		Settle: slo.MaxRecovery, EffectTimeout: p.EffectTimeout,
	}
	waits := false
	for _, st := range pl.Steps {
		es := engine.Step{Name: st.Name, At: st.At, After: st.After}
		if st.Wait != "" {
			es.Wait, es.WaitTimeout = engine.Condition(st.Wait), st.Timeout
			waits = true
		} else {
			es.Times, es.Every, es.Hold = st.Times, st.Every, st.Hold
			es.Fault, es.NeedsDocker, es.EffectTimeout = planFault(st, p, w)
		}
		sc.Steps = append(sc.Steps, es)
	}
	sc.Checks = []engine.Check{
		engine.Availability(slo.Availability),
		engine.LongestFailedInterval(slo.MaxFailedInterval),
		engine.RecoveryWithin(slo.MaxRecovery, "fault"),
		engine.FaultsTookEffect("fault"),
		engine.LatencyP99(slo.MaxP99),
		engine.LoadRate(slo.MinRateRatio),
	}
	if pl.Load.None {
		// what the pods' counters can tell: no failed intervals, no
		// client-side latency, no rate of our own
		sc.Checks = []engine.Check{
			engine.ServedAvailability(slo.Availability),
			engine.RecoveryWithin(slo.MaxRecovery, "fault"),
			engine.FaultsTookEffect("fault"),
		}
	}
	if waits {
		sc.Checks = append(sc.Checks, engine.WaitsMet())
	}
	if len(pl.Abort) > 0 {
		rules := make([]engine.AbortRule, len(pl.Abort))
		for i, a := range pl.Abort {
			if a.Metric == "p99" {
				rules[i] = engine.AbortRule{MaxP99: a.Above, Window: a.For}
			} else {
				rules[i] = engine.AbortRule{MinAvailability: a.Below, Window: a.Window}
			}
		}
		sc.Abort = rules
		sc.Checks = append(sc.Checks, engine.AbortRulesHeld(rules))
	}
	return sc
}

// planFault builds a plan step's fault: its parameters, the target's pods
// by default, and how long its effect may take to show.
func planFault(st plan.Step, p Params, w *workload.Workload) (b engine.FaultBuilder, needsDocker bool, effect time.Duration) {
	str := func(k string) string { v, _ := st.Params[k].(string); return v }
	num := func(k string) int { v, _ := st.Params[k].(int); return v }
	flag := func(k string) bool { v, _ := st.Params[k].(bool); return v }
	dur := func(k string, def time.Duration) time.Duration {
		if v, ok := st.Params[k].(time.Duration); ok && v > 0 {
			return v
		}
		return def
	}
	selector := func(env engine.Env) string {
		if s := str("selector"); s != "" {
			return s
		}
		return env.Target.Selector
	}
	count := num("count")
	if count == 0 && num("percent") == 0 {
		count = 1
	}
	// onNodes builds a fault that reaches the nodes through Docker, which
	// only kind clusters give
	onNodes := func(build func(env engine.Env) faults.Fault) engine.FaultBuilder {
		return func(env engine.Env) (faults.Fault, error) {
			if err := needDocker(env, st.Fault); err != nil {
				return nil, err
			}
			return build(env), nil
		}
	}
	n := p.Nodes
	switch st.Fault {
	case "pod-kill":
		return func(env engine.Env) (faults.Fault, error) {
			return &faults.PodKill{Client: env.Client, Namespace: env.Target.Namespace, Selector: selector(env),
				Count: count, Percent: num("percent"), Force: flag("force"), IncludeNotReady: flag("notReady")}, nil
		}, false, p.EffectTimeout
	case "container-kill":
		return onNodes(func(env engine.Env) faults.Fault {
			return &faults.ContainerKill{Client: env.Client, Docker: env.Docker, Namespace: env.Target.Namespace, Selector: selector(env),
				Container: str("container"), Count: count}
		}), true, p.EffectTimeout
	case "node-shutdown":
		return onNodes(func(env engine.Env) faults.Fault {
			return &faults.NodeShutdown{Docker: env.Docker, Client: env.Client, Node: str("node"), Namespace: env.Target.Namespace,
				Selector: env.Target.Selector, Kill: flag("powerOff")}
		}), true, n.EffectTimeout
	case "kubelet-stop":
		return onNodes(func(env engine.Env) faults.Fault {
			return &faults.KubeletStop{Docker: env.Docker, Client: env.Client, Node: str("node"), Namespace: env.Target.Namespace, Selector: env.Target.Selector}
		}), true, n.EffectTimeout
	case "network-partition":
		return onNodes(func(env engine.Env) faults.Fault {
			return &faults.NetworkPartition{Docker: env.Docker, Client: env.Client, Node: str("node"), Namespace: env.Target.Namespace,
				Selector: env.Target.Selector, FromWorkers: flag("fromWorkers")}
		}), true, n.EffectTimeout
	case "drain":
		deadline := dur("evictionDeadline", n.DrainDeadline)
		return func(env engine.Env) (faults.Fault, error) {
			return &faults.Drain{Client: env.Client, Node: str("node"), Namespace: env.Target.Namespace, Selector: env.Target.Selector,
				EvictionDeadline: deadline, IncludeKubeSystem: flag("includeKubeSystem")}, nil
		}, false, deadline + 30*time.Second
	case "rollout", "bad-release":
		bad := st.Fault == "bad-release"
		env, _ := st.Params["env"].(map[string]string)
		detect := dur("detectAfter", p.Rollouts.DetectAfter)
		// as the rollout suites: a release is watched for its progress
		// deadline, a bad one until it is detected and rolled back
		_, _, deadline := strategy(w)
		effect := min(deadline+30*time.Second, p.Load.Duration+p.SLO.MaxRecovery)
		if bad {
			effect = detect + 60*time.Second
		}
		return func(e engine.Env) (faults.Fault, error) {
			f := &faults.Rollout{Client: e.Client, Namespace: e.Target.Namespace, Deployment: e.Target.Deployment, Image: str("image"), Env: env}
			if bad {
				f.PullNever, f.Bad, f.DetectAfter = true, true, detect
				if f.Image == "" {
					f.Image = p.Rollouts.BadImage
				}
			}
			return f, nil
		}, false, effect
	}
	return func(engine.Env) (faults.Fault, error) {
		return nil, fmt.Errorf("step %s: unknown fault %q", st.Name, st.Fault)
	}, false, p.EffectTimeout
}

// GameDayOptions are the gate's options for running the plan in file: its
// target and load over base (report folder, journal, cluster settings).
// What the plan asks that the gate cannot do yet is an input error.
func GameDayOptions(pl *plan.Plan, file string, base Options) (Options, error) {
	t := pl.Target
	o := base
	knownMetrics := false // the sample app's
	if m := t.Metrics; m.Path != "" {
		o.AppMetrics = engine.AppMetrics{Path: m.Path, Port: m.Port, RequestsMetric: m.RequestsMetric, CodeLabel: m.CodeLabel, LatencyMetric: m.LatencyMetric}
	}
	if t.Workload == "" {
		// a Deployment already running: read from the cluster when the run
		// starts, and judged as it runs. A release would change it for good
		// (a good one is not reverted, and either leaves chaosgate owning
		// fields of the team's manifest).
		for i, st := range pl.Steps {
			if st.Fault == "rollout" || st.Fault == "bad-release" {
				return base, &InputError{fmt.Errorf("%s:%d: steps[%d].fault: %s changes the Deployment for good; a plan without target.workload judges a Deployment as it runs (give target.workload to roll out)", file, st.Pos.Line, i, st.Fault)}
			}
		}
		o.Deployment = t.Deployment
	} else {
		w, err := workload.LoadWorkload(t.Workload, t.Service, t.Port)
		if err != nil {
			return base, &InputError{fmt.Errorf("%s: target.workload: %w", file, err)}
		}
		if w.Deployment.Name != t.Deployment {
			return base, &InputError{fmt.Errorf("%s: target.deployment: %q is not the workload's Deployment (%s has %s)", file, t.Deployment, t.Workload, w.Deployment.Name)}
		}
		knownMetrics = w.UsesImage(workload.SampleImage)
	}
	if pl.Load.None && t.Metrics.Path == "" && !knownMetrics {
		return base, &InputError{fmt.Errorf("%s: load.none: without generated load the pods' own request counters are the signal: give target.metrics (path, and the counter's name)", file)}
	}
	o.Context, o.Namespace, o.Workload = t.Context, t.Namespace, t.Workload
	o.TargetService, o.TargetPort = t.Service, t.Port
	if t.AllowContext {
		o.AllowContext = t.Context
	}
	o.Suites, o.LabelFilter = "", ""
	// the wait for steady answers before the load asks as the load will
	o.Params.Method, o.Params.Path = pl.Load.Method, pl.Load.Path
	if pl.Load.Timeout > 0 {
		o.Params.Load.Timeout = pl.Load.Timeout
	}
	o.Only = []Suite{GameDay(pl, o.Params)}
	return o, nil
}

// DryRun prints a game day's resolved schedule and, from the live cluster,
// what each fault step would hit now, without deploying or injecting
// anything.
func DryRun(ctx context.Context, o Options, w io.Writer) error {
	if o.Context == "" {
		// the local kind cluster, only if it exists: creating or repairing
		// it (and this machine's routes) is not a dry run's business
		ok, err := clusters.Exists(o.Cluster.Name)
		if err != nil {
			return err
		}
		if !ok {
			return &InputError{fmt.Errorf("no kind cluster %q: a dry run reads a live cluster (chaosgate cluster up --name %s creates it)", o.Cluster.Name, o.Cluster.Name)}
		}
		o.Context = "kind-" + o.Cluster.Name
	}
	g, err := newGate(ctx, o)
	if err != nil {
		return err
	}
	c, err := g.connect(ctx)
	if err != nil {
		return err
	}
	env := engine.Env{REST: c.REST, Client: c.Client,
		Target: engine.Target{Namespace: o.Namespace, Deployment: g.w.Deployment.Name, Selector: g.w.Selector()}}
	if c.Name != "" {
		env.Docker = faults.DockerCLI{}
	}
	for _, sc := range g.selected {
		load := fmt.Sprintf("%d req/s", sc.Load.Rate)
		if sc.Load.None {
			load = "no generated load (real traffic, as the pods count it)"
		}
		fmt.Fprintf(w, "Plan %s on context %s, namespace %s: %s for %s\n", sc.Name, c.Context, o.Namespace, load, sc.Load.Duration)
		for i, st := range sc.Steps {
			when := fmt.Sprintf("at %s", st.At)
			if st.After != nil {
				when = fmt.Sprintf("%s after step %d ends", *st.After, i)
			}
			if i > 0 && st.After == nil {
				when += fmt.Sprintf(", not before step %d ends", i)
			}
			if st.Wait != "" {
				fmt.Fprintf(w, "  %d. %s: wait for %s (up to %s), %s\n", i+1, st.Name, st.Wait, st.WaitTimeout, when)
				continue
			}
			f, err := st.Fault(env)
			if err != nil {
				fmt.Fprintf(w, "  %d. %s: refused: %v\n", i+1, st.Name, err)
				continue
			}
			fmt.Fprintf(w, "  %d. %s: %s, %d time(s) every %s, held %s, %s\n", i+1, st.Name, f.Describe(), st.Times, st.Every, st.Hold, when)
			inj, err := f.Plan(ctx)
			switch {
			case faults.IsNoTarget(err):
				fmt.Fprintf(w, "     would hit nothing now: %v\n", err)
			case err != nil:
				fmt.Fprintf(w, "     cannot tell what it would hit: %v\n", err)
			default:
				for _, t := range inj.Targets() {
					fmt.Fprintf(w, "     would hit %s\n", t)
				}
			}
		}
		for _, a := range sc.Abort {
			fmt.Fprintf(w, "  abort when %s\n", a)
		}
	}
	fmt.Fprintln(w, "Nothing was deployed or injected (dry run).")
	return nil
}
