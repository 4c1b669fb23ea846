package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agents"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/reports/live"
)

// Outcome is what a run produced: the report section (checks evaluated)
// and the raw observation behind it.
type Outcome struct {
	Report      *reports.Scenario
	Observation *Observation
}

// Check returns the evaluated check with id, if the scenario has it.
func (o *Outcome) Check(id string) (reports.Check, bool) {
	if o == nil || o.Report == nil {
		return reports.Check{}, false
	}
	for _, c := range o.Report.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return reports.Check{}, false
}

// InterruptedError says the run was stopped from outside (a signal, a
// timeout) after its faults were reverted.
type InterruptedError struct{ Cause error }

func (e *InterruptedError) Error() string { return "interrupted: " + e.Cause.Error() }
func (e *InterruptedError) Unwrap() error { return e.Cause }

// Run runs the scenario once against env: preflight, observers, load and
// the fault schedule in parallel, revert, settle, evaluate.
//
// The outcome is always returned, with as much as was observed. The error
// is for what stops the run from judging the workload: invalid input, the
// cluster or the disk failing, a panic, or an interruption
// (*InterruptedError). Whatever the workload does, heal or not, is measured
// and judged by the checks, never an error.
func Run(ctx context.Context, env Env, sc Scenario) (out *Outcome, err error) {
	started := time.Now()
	env.Target, err = env.Target.withPath(sc.Path)
	rep := &reports.Scenario{
		Name: sc.Name, Description: sc.Description, Labels: sc.Labels, Started: started, Status: reports.StatusRunning,
		ResultsFile: "results-" + sc.Name + ".jsonl",
		Load: reports.Load{Target: env.Target.URL, Rate: sc.Load.Rate, RampTo: sc.Load.RampTo, Method: env.Target.Method,
			DurationSeconds: sc.Load.Duration.Seconds(), TimeoutSeconds: sc.Load.Timeout.Seconds(), KeepAlive: sc.Load.KeepAlive},
	}
	out = &Outcome{Report: rep}
	if err != nil {
		rep.Error = err.Error()
		rep.Finish(time.Now())
		return out, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scenario %s panicked: %v\n%s", sc.Name, r, debug.Stack())
		}
		if err != nil {
			rep.Error = err.Error()
		}
		rep.Finish(time.Now())
	}()
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	if env.Progress == nil {
		env.Progress = io.Discard
	}
	if err := sc.Validate(); err != nil {
		return out, err
	}
	if err := env.Target.validate(!sc.Load.None); err != nil {
		return out, err
	}
	if sc.Load.None && env.Target.App.Path == "" {
		return out, errors.New("a scenario without generated load judges the traffic the target's pods count themselves: say where their metrics are (--app-metrics-path, a plan's target.metrics)")
	}
	if sc.Load.Agents > 0 {
		if err := sc.LoadOptions(env.Target).Validate(); err != nil {
			return out, fmt.Errorf("target service: %w", err)
		}
		if env.AgentImage == "" {
			return out, errors.New("the scenario's load comes from agents in the cluster, but no agent image was given")
		}
		rep.Load.Agents, rep.Load.Target = sc.Load.Agents, env.Target.ServiceURL
	}
	r := &run{env: env, sc: sc, rep: rep}
	return out, r.run(ctx, out)
}

type run struct {
	env Env
	sc  Scenario
	rep *reports.Scenario

	pods      *PodObserver
	nodes     *NodeObserver
	metrics   *MetricsObserver
	hpa       *HPAObserver
	endpoints *EndpointObserver // nil without a Service
	rec       *load.Recorder
	// origin is the start of the load; every offset counts from it.
	origin time.Time
	ids    []string
	seqState
}

func (r *run) run(ctx context.Context, out *Outcome) error {
	env, sc := r.env, r.sc
	// preflight: every fault is built and validated before anything runs
	scheds := make([]faults.Schedule, len(sc.Steps))
	for i, st := range sc.Steps {
		if st.Wait != "" {
			continue
		}
		f, err := st.Fault(env)
		if err != nil {
			return fmt.Errorf("step %d (%s): %w", i+1, st.Name, err)
		}
		if v, ok := f.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return fmt.Errorf("step %d (%s): %w", i+1, st.Name, err)
			}
		}
		effect := st.EffectTimeout
		if effect <= 0 {
			// the injector is shared by every scenario: its own default is
			// left alone
			effect = sc.EffectTimeout
		}
		scheds[i] = faults.Schedule{Fault: f, Every: st.Every, Times: st.Times, Hold: st.Hold, Start: st.At, EffectTimeout: effect}
		if st.HoldUntil != "" {
			scheds[i].Release = r.releaseWhen(st)
		}
	}
	octx, stopObservers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopObservers()
	r.pods = &PodObserver{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector, Deployment: env.Target.Deployment}
	if err := r.pods.Start(octx); err != nil {
		return err
	}
	r.nodes = &NodeObserver{Client: env.Client}
	if err := r.nodes.Start(octx); err != nil {
		return err
	}
	if env.Target.Service != "" {
		r.endpoints = &EndpointObserver{Client: env.Client, Namespace: env.Target.Namespace, Service: env.Target.Service}
		if err := r.endpoints.Start(octx); err != nil {
			return err
		}
	}
	if err := r.waitWhole(ctx, wholeTimeout); err != nil {
		return err
	}
	if sc.Prepare != nil {
		notes, err := sc.Prepare(ctx, env, &r.sc)
		r.rep.Notes = append(r.rep.Notes, notes...)
		for _, n := range notes {
			fmt.Fprintf(env.Progress, "[%s] %s\n", sc.Name, n)
		}
		switch {
		case ctx.Err() != nil:
			return &InterruptedError{Cause: ctx.Err()}
		case err != nil:
			return fmt.Errorf("prepare: %w", err)
		}
		sc = r.sc
		if err := sc.Validate(); err != nil {
			return fmt.Errorf("prepare left an invalid scenario: %w", err)
		}
	}
	r.rep.Load.Rate, r.rep.Load.Phases, r.rep.Load.None = sc.Load.Rate, phasesOf(sc.Load.Phases), sc.Load.None
	// after Prepare: what it sent is not part of the run
	r.metrics = &MetricsObserver{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector, App: env.Target.App}
	r.metrics.Start(octx)
	r.hpa = &HPAObserver{Client: env.Client, Namespace: env.Target.Namespace, Deployment: env.Target.Deployment}
	r.hpa.Start(octx)

	f, err := os.Create(filepath.Join(env.ReportDir, r.rep.ResultsFile))
	if err != nil {
		return err
	}
	defer f.Close()
	lopts := sc.LoadOptions(env.Target)
	// the load from this machine starts now; agents start together once
	// every one of them answers
	r.origin = time.Now()
	var fleet *agents.Run
	if sc.Load.Agents > 0 {
		fmt.Fprintf(env.Progress, "[%s] starting %d load agent(s) in the cluster\n", sc.Name, sc.Load.Agents)
		fleet, err = agents.Start(ctx, env.Client, agents.Spec{Namespace: env.Target.Namespace, Name: agentJobName(sc.Name, r.origin),
			Image: env.AgentImage, Agents: sc.Load.Agents, Load: lopts, CPULimit: env.AgentCPULimit})
		if err != nil {
			return fmt.Errorf("load agents: %w", err)
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := fleet.Delete(dctx); err != nil {
				env.Logger.Error("load agents left behind", "err", err)
			}
		}()
		r.origin = fleet.StartAt()
		fmt.Fprintf(env.Progress, "[%s] load agents ready (%s)\n", sc.Name, fleet.Placement(ctx))
	}
	r.rec = load.NewRecorder(f, r.origin)
	for _, a := range sc.Abort {
		r.rec.KeepRecent(a.Window)
	}
	if env.Live != nil {
		defer env.Live(r.status)()
	}
	steps := make([]string, 0, len(sc.Steps))
	for i, st := range sc.Steps {
		from := fmt.Sprintf("from %s", st.At)
		if st.After != nil {
			from = fmt.Sprintf("%s after the previous step", *st.After)
		}
		if st.Wait != "" {
			steps = append(steps, fmt.Sprintf("wait for %s (up to %s), %s", st.Wait, st.WaitTimeout, from))
			continue
		}
		s := scheds[i]
		steps = append(steps, fmt.Sprintf("%s, %d time(s) every %s %s", s.Fault.Describe(), s.Times, s.Every, from))
	}
	rate := fmt.Sprintf("%d req/s for %s", sc.Load.Rate, sc.Load.Duration)
	if len(r.rep.Load.Phases) > 0 {
		rate = reports.DescribePhases(r.rep.Load.Phases)
	}
	if sc.Load.None {
		fmt.Fprintf(env.Progress, "[%s] no generated load for %s: real traffic is the signal, as the pods count it (%s on port %s); %s\n",
			sc.Name, sc.Load.Duration, env.Target.App.RequestsMetric, env.Target.App.Port, strings.Join(steps, "; "))
	} else {
		fmt.Fprintf(env.Progress, "[%s] load %s on %s %s; %s\n", sc.Name, rate, lopts.Method, lopts.Target, strings.Join(steps, "; "))
	}

	// load and faults in parallel; a panic in either is an infrastructure
	// error, raised only after everything was reverted
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	// an early end stops the load alone; the schedules are done by then
	loadCtx, endLoad := context.WithCancel(lctx)
	defer endLoad()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var loadErr error
	faultErrs := make([]error, len(scheds))
	ids := make([][]string, len(scheds))
	r.loadDone = make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			r.mu.Lock()
			r.loadEnd = time.Now()
			r.mu.Unlock()
			close(r.loadDone)
		}()
		err := guard("load", func() error {
			switch {
			case sc.Load.None:
				// real traffic is the signal: the run lasts the duration
				select {
				case <-lctx.Done():
					return lctx.Err()
				case <-time.After(sc.Load.Duration):
					return nil
				}
			case fleet != nil:
				return fleet.Stream(lctx, r.rec)
			}
			return load.Run(loadCtx, lopts, r.rec)
		})
		if errors.Is(err, context.Canceled) && lctx.Err() == nil && r.endedEarlyAt() != nil {
			// ended on purpose: what was sent is complete
			err = nil
		}
		mu.Lock()
		loadErr = err
		mu.Unlock()
		if err != nil {
			// faults without load judge nothing: stop injecting
			stopLoad()
		}
	}()
	var schedsLeft atomic.Int32
	runSchedule := func(i int, run func() ([]string, error)) {
		wg.Add(1)
		schedsLeft.Add(1)
		go func() {
			defer wg.Done()
			var got []string
			err := guard("fault schedule", func() error {
				var err error
				got, err = run()
				return err
			})
			mu.Lock()
			ids[i], faultErrs[i] = got, err
			mu.Unlock()
			if err == nil {
				schedsLeft.Add(-1)
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				// the injector cannot guarantee its reverts: stop
				stopLoad()
			}
		}()
	}
	if sc.Sequential && len(scheds) > 0 {
		runSchedule(0, func() ([]string, error) { return r.runSequence(lctx, scheds) })
	} else {
		for i, s := range scheds {
			runSchedule(i, func() ([]string, error) { return s.Run(lctx, env.Injector, r.origin) })
		}
	}
	abortDone := make(chan struct{})
	go func() {
		defer close(abortDone)
		r.abortWatch(lctx, stopLoad)
	}()
	earlyDone := make(chan struct{})
	go func() {
		defer close(earlyDone)
		r.earlyEndWatch(lctx, func() bool { return schedsLeft.Load() == 0 }, endLoad)
	}()
	var hookErr error
	if os.Getenv(PanicHook) == "after-effect" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := guard("test hook", func() error { return panicOnceInEffect(lctx, env.Injector, r.origin) })
			if err != nil {
				mu.Lock()
				hookErr = err
				mu.Unlock()
				stopLoad()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	r.progress(ctx, done)
	// the watches end with the load: what they decided is final before
	// the reverts and the report
	<-abortDone
	<-earlyDone
	if e := r.endedEarlyAt(); e != nil {
		r.rep.Load.EndedSeconds = round(e.At.Sub(r.origin).Seconds(), 3)
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("The load ended at %.0fs of its %s: %s.", e.At.Sub(r.origin).Seconds(), sc.Load.Duration, e.Why))
	}

	// faults still active are reverted here, so the report has their revert
	// times; the caller's cleanup reverts whatever this could not
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer cancel()
	revertErr := env.Injector.RevertAll(rctx)
	if revertErr != nil {
		env.Logger.Error("revert failed", "err", revertErr)
	}
	for _, l := range ids {
		r.ids = append(r.ids, l...)
	}
	if ctx.Err() != nil {
		r.finish(out, false)
		return &InterruptedError{Cause: ctx.Err()}
	}
	// the cause first; schedules cancelled because of it are not news
	var errs []error
	if hookErr != nil {
		errs = append(errs, hookErr)
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		errs = append(errs, fmt.Errorf("load: %w", loadErr))
	}
	for _, e := range faultErrs {
		// an abort cancels injections midway: what they return is the
		// abort's doing; their reverts are judged below
		if e != nil && !errors.Is(e, context.Canceled) && r.abortedAt() == nil {
			errs = append(errs, fmt.Errorf("fault injection: %w", e))
		}
	}
	if r.abortedAt() == nil && len(errs) == 0 && (loadErr != nil || lctx.Err() != nil) {
		// the load stopped early with no other cause recorded
		errs = append(errs, fmt.Errorf("load stopped early: %v", loadErr))
	}
	if revertErr != nil {
		errs = append(errs, fmt.Errorf("revert: %w", revertErr))
	}
	if len(errs) > 0 {
		r.finish(out, false)
		return errors.Join(errs...)
	}
	// every verification ends within the effect timeout
	if err := env.Injector.WaitVerified(ctx); err != nil {
		r.finish(out, false)
		return &InterruptedError{Cause: err}
	}
	if err := r.settle(ctx); err != nil {
		r.finish(out, false)
		return &InterruptedError{Cause: err}
	}
	r.finish(out, true)
	return nil
}

// phasesOf is a load profile for the report.
func phasesOf(phases []load.Phase) []reports.LoadPhase {
	var out []reports.LoadPhase
	var start time.Duration
	for _, p := range phases {
		out = append(out, reports.LoadPhase{StartSeconds: start.Seconds(), DurationSeconds: p.Duration.Seconds(), Rate: p.Rate, RampTo: p.RampTo})
		start += p.Duration
	}
	return out
}

// agentJobName names the Job of a scenario's load agents, unique per run.
func agentJobName(scenario string, t time.Time) string {
	name := strings.TrimSuffix(fmt.Sprintf("chaosgate-load-%.28s", scenario), "-")
	return fmt.Sprintf("%s-%s", name, strconv.FormatInt(t.UnixMilli()%(1<<31), 36))
}

// PanicHook names the environment variable of a test hook: set to
// "after-effect", a scenario panics as soon as one of its faults is in
// effect, the way a bug in the runner would. The end-to-end tests use it
// to prove that a panic leaves nothing broken behind.
const PanicHook = "CHAOSGATE_TEST_PANIC"

func panicOnceInEffect(ctx context.Context, in *faults.Injector, origin time.Time) error {
	for {
		for _, e := range in.Events() {
			// only this scenario's faults: the injector keeps every suite's
			if e.TookEffect() && !e.Issued.Before(origin) {
				panic(fmt.Sprintf("%s: injected panic with %s in effect", PanicHook, e.ID))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// guard runs fn and turns a panic into an error.
func guard(what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s panicked: %v\n%s", what, p, debug.Stack())
		}
	}()
	return fn()
}

// settle keeps the observers watching until the target has recovered from
// every fault it was dealt, or the settle budget has passed.
func (r *run) settle(ctx context.Context) error {
	deadline := time.Now().Add(r.sc.Settle)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		obs := r.observe()
		pending := 0
		for _, rc := range obs.Recoveries {
			if rc.Applied && !rc.Recovered {
				pending++
			}
		}
		if pending == 0 || !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// finish evaluates what was observed into the report. Checks are evaluated
// only for a run that completed: a partial run is reported, not judged.
func (r *run) finish(out *Outcome, judge bool) {
	if r.rec == nil {
		return
	}
	obs := r.observe()
	ectx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if evs, err := r.hpa.Events(ectx); err == nil {
		obs.HPAEvents = evs
	}
	out.Observation = obs
	fillReport(r.rep, obs)
	if judge {
		for _, c := range r.sc.Checks {
			r.rep.Checks = append(r.rep.Checks, c.Eval(obs))
		}
	}
}

// observe assembles the observation from the recorder, the injector and
// the observers.
func (r *run) observe() *Observation {
	events := r.env.Injector.Events()
	byID := map[string]faults.Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	r.mu.Lock()
	loadEnd := r.loadEnd
	r.mu.Unlock()
	lopts := r.sc.LoadOptions(r.env.Target)
	obs := &Observation{
		Origin: r.origin, End: time.Now(), LoadEnd: loadEnd, Timeline: r.rec.Timeline(), Planned: r.sc.Planned(),
		TargetRate: lopts.TargetRate(), Pods: r.pods.History(), Nodes: r.nodes.Changes(),
	}
	if e := r.endedEarlyAt(); e != nil {
		// judged by what was scheduled until the load ended
		obs.TargetRate = lopts.TargetRateOver(e.At.Sub(r.origin))
	}
	obs.Summary = obs.Timeline.Summarize()
	if r.endpoints != nil {
		obs.Endpoints = r.endpoints.Changes()
	}
	for _, id := range r.ids {
		if e, ok := byID[id]; ok {
			obs.Faults = append(obs.Faults, e)
		}
	}
	obs.Recoveries = recoveries(obs.Pods, obs.Faults)
	r.mu.Lock()
	obs.Waits, obs.Aborted = append([]WaitResult(nil), r.waits...), r.aborted
	r.mu.Unlock()
	obs.Usage, obs.App, obs.MetricsProblems = r.metrics.Samples()
	var err error
	if obs.HPA, err = r.hpa.States(); err != nil {
		if obs.MetricsProblems == nil {
			obs.MetricsProblems = map[string]string{}
		}
		obs.MetricsProblems["autoscalers"] = err.Error()
	}
	return obs
}

// snapshot is the run's state right now, for the live view.
func (r *run) snapshot() live.Status {
	now := time.Now()
	serving, desired := r.pods.Now()
	recent, overall := r.window(load.DefaultRecent, now), r.window(0, now)
	st := live.Status{
		Scenario: r.sc.Name, Elapsed: now.Sub(r.origin), Planned: r.sc.Load.Duration,
		Recent: recent, Overall: overall, RecentSpan: load.DefaultRecent, Serving: serving, Desired: desired,
	}
	for _, ev := range r.events() {
		// not undone, or undone lately
		if !ev.Applied() || (!ev.Reverted.IsZero() && now.Sub(ev.Reverted) >= load.DefaultRecent) {
			continue
		}
		targets := make([]string, len(ev.Targets))
		for i, t := range ev.Targets {
			targets[i] = t.Kind + "/" + t.Name
		}
		st.Faults = append(st.Faults, live.Fault{Kind: ev.Kind, Target: strings.Join(targets, ","), Since: ev.Issued.Sub(r.origin), State: faultState(ev)})
	}
	for _, nd := range r.nodes.Now() {
		state := nd.problem()
		if state == "" {
			state = "Ready"
		}
		st.Nodes = append(st.Nodes, live.Node{Name: nd.Node, State: state})
	}
	r.mu.Lock()
	next := r.next
	r.mu.Unlock()
	switch {
	case next.name != "":
		st.Next, st.NextAt, st.Started = next.name, next.at.Sub(r.origin), !now.Before(next.at)
	case !r.sc.Sequential:
		st.Next, st.NextAt = nextScheduled(r.sc.Steps, st.Elapsed)
	}
	return st
}

// nextScheduled is the first injection after elapsed of steps that run on
// their own schedules: its step's name (with which of how many when the
// step repeats) and when it is due; "" when none is left.
func nextScheduled(steps []Step, elapsed time.Duration) (string, time.Duration) {
	name, at := "", time.Duration(-1)
	for _, s := range steps {
		for i := range max(s.Times, 1) {
			due := s.At + time.Duration(i)*s.Every
			if due <= elapsed {
				continue
			}
			if at < 0 || due < at {
				name, at = s.Name, due
				if s.Times > 1 {
					name = fmt.Sprintf("%s %d of %d", s.Name, i+1, s.Times)
				}
			}
			break
		}
	}
	return name, max(at, 0)
}

// window is what the requests that completed in the span before now saw
// (a zero span: since the start): the generated load's, or, without one,
// the real traffic the target's pods counted.
func (r *run) window(span time.Duration, now time.Time) load.Recent {
	if r.sc.Load.None {
		_, app, _ := r.metrics.Samples()
		from := r.origin
		if span > 0 {
			from = now.Add(-span)
		}
		return servedIn(app, from, now)
	}
	if span == 0 {
		return r.rec.Overall()
	}
	return r.rec.Recent(span, now)
}

// faultState names where a fault is, for the live view.
func faultState(ev faults.Event) string {
	switch {
	case ev.SelfHealing && ev.TookEffect():
		return "healing"
	case ev.SelfHealing:
		return "applying" // "reverted" at once: nothing to undo
	case !ev.Reverted.IsZero():
		return "reverted"
	case !ev.RevertIssued.IsZero():
		return "reverting"
	case ev.TookEffect():
		return "in effect"
	}
	return "applying"
}

// status describes the run right now in one line, for progress reports.
func (r *run) status() string { return live.Line(r.snapshot()) }

// progress shows the run's state until done: on the environment's
// display every second, or else as a line every 5s.
func (r *run) progress(ctx context.Context, done <-chan struct{}) {
	every := 5 * time.Second
	if r.env.Display != nil {
		every = time.Second
		defer r.env.Display.Hide()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			if r.env.Display != nil {
				r.env.Display.Show(r.snapshot())
			} else {
				fmt.Fprintf(r.env.Progress, "[%s] %s\n", r.sc.Name, r.status())
			}
		}
	}
}

// wholeTimeout bounds the wait for every replica to serve before the load:
// on a crowded machine a readiness probe misses now and then, so a pod
// that served a moment ago may be unready for a few seconds.
var wholeTimeout = time.Minute

// waitWhole waits until every desired replica of the target serves.
func (r *run) waitWhole(ctx context.Context, timeout time.Duration) error {
	var state string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var whole bool
		whole, state = r.holds(ReplicasReady)
		return whole, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &InterruptedError{Cause: ctx.Err()}
	}
	return fmt.Errorf("target %s/%s is not whole before the load: %s after %s", r.env.Target.Namespace, r.env.Target.Deployment, state, timeout)
}
