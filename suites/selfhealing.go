package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Env is what a scenario runs against.
type Env struct {
	REST      *rest.Config
	Client    kubernetes.Interface
	Namespace string
	Workload  *Workload
	// TargetURL is where load goes (127.0.0.1 and the exposed NodePort).
	TargetURL string
	ReportDir string
	Injector  *faults.Injector
	Progress  io.Writer
	Logger    *slog.Logger
}

// Check ids of the self-healing suite.
const (
	CheckAvailability   = "availability"
	CheckFailedInterval = "longest-failed-interval"
	CheckRecovery       = "recovery-time"
	CheckFaultsInEffect = "faults-took-effect"
	CheckLoadRate       = "load-rate"
	CheckP99            = "latency-p99"
)

// RunSelfHealing puts steady load on the target, kills pods repeatedly
// while it runs, and judges what users saw. Infrastructure problems are
// returned in Scenario.Error; SLO breaches are failed checks.
func RunSelfHealing(ctx context.Context, env Env, cfg SelfHealingConfig) *reports.Scenario {
	sc := &reports.Scenario{
		Name:        SuiteSelfHealing,
		Description: "Under steady load, pods of the target are killed repeatedly; users must barely notice and the Deployment must heal.",
		Labels:      []string{"suite:" + SuiteSelfHealing, "fault:pod-kill"},
		Started:     time.Now(),
		Status:      reports.StatusRunning,
		ResultsFile: "results-" + SuiteSelfHealing + ".jsonl",
		Load: reports.Load{Target: env.TargetURL, Rate: cfg.Load.Rate, RampTo: cfg.Load.RampTo,
			DurationSeconds: cfg.Load.Duration.Seconds(), TimeoutSeconds: cfg.Load.Timeout.Seconds(), KeepAlive: cfg.Load.KeepAlive},
	}
	if err := runSelfHealing(ctx, env, cfg, sc); err != nil {
		sc.Error = err.Error()
	}
	sc.Finish(time.Now())
	return sc
}

func runSelfHealing(ctx context.Context, env Env, cfg SelfHealingConfig, sc *reports.Scenario) error {
	log := env.Logger
	dep := env.Workload.Deployment.Name
	if err := WaitDeploymentComplete(ctx, env.REST, env.Namespace, dep, 3*time.Minute); err != nil {
		return fmt.Errorf("before load: %w", err)
	}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var ready ReadinessRecorder
	if err := ready.Watch(wctx, env.Client, env.Namespace, dep); err != nil {
		return fmt.Errorf("watch deployment: %w", err)
	}

	f, err := os.Create(filepath.Join(env.ReportDir, sc.ResultsFile))
	if err != nil {
		return err
	}
	defer f.Close()
	origin := time.Now()
	rec := load.NewRecorder(f, origin)
	lopts := load.Options{Target: env.TargetURL, Rate: cfg.Load.Rate, RampTo: cfg.Load.RampTo, Duration: cfg.Load.Duration,
		Timeout: cfg.Load.Timeout, KeepAlive: cfg.Load.KeepAlive}

	kill := &faults.PodKill{Client: env.Client, Namespace: env.Namespace, Selector: env.Workload.Selector(),
		Count: cfg.PodKill.Count, Percent: cfg.PodKill.Percent, Force: cfg.PodKill.Force}
	sched := faults.Schedule{Fault: kill, Every: cfg.PodKill.Interval, Times: cfg.PodKill.Times, Start: cfg.PodKill.Start}
	if err := sched.Validate(); err != nil {
		return err
	}
	if err := kill.Validate(); err != nil {
		return err
	}

	fmt.Fprintf(env.Progress, "[%s] load %d req/s for %s on %s; %s, %d times every %s from %s\n",
		sc.Name, cfg.Load.Rate, cfg.Load.Duration, env.TargetURL, kill.Describe(), sched.Times, sched.Every, sched.Start)

	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	var loadErr, faultErr error
	var ids []string
	wg.Add(2)
	go func() {
		defer wg.Done()
		loadErr = load.Run(lctx, lopts, rec)
	}()
	go func() {
		defer wg.Done()
		ids, faultErr = sched.Run(lctx, env.Injector)
		if faultErr != nil && !errors.Is(faultErr, context.Canceled) {
			// without faults the run proves nothing: stop the load
			stopLoad()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progress(ctx, env.Progress, sc.Name, rec, origin, cfg.Load.Duration, done)

	// faults still active (cancelled run) are reverted by the caller's
	// cleanup too; doing it here keeps the report's revert times right
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := env.Injector.RevertAll(rctx); err != nil {
		log.Error("revert failed", "err", err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if faultErr != nil {
		return fmt.Errorf("fault injection: %w", faultErr)
	}
	if loadErr != nil {
		return fmt.Errorf("load: %w", loadErr)
	}

	// keep watching until the last fault has healed (or its bound passed)
	deadline := time.Now().Add(cfg.SLO.MaxRecovery)
	for time.Now().Before(deadline) {
		s := ready.Samples()
		if len(s) > 0 && s[len(s)-1].Whole() {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	stopWatch()

	tl := rec.Timeline()
	events := env.Injector.Events()
	evByID := map[string]faults.Event{}
	for _, e := range events {
		evByID[e.ID] = e
	}
	var ordered []faults.Event
	for _, id := range ids {
		ordered = append(ordered, evByID[id])
	}
	fillScenario(sc, tl, ordered, ready.Samples(), origin, lopts.TargetRate(), cfg)
	return nil
}

// progress prints a line every 5s while the scenario runs.
func progress(ctx context.Context, w io.Writer, name string, rec *load.Recorder, origin time.Time, total time.Duration, done <-chan struct{}) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			<-done
			return
		case <-t.C:
			n, ok := rec.Counts()
			avail := 100.0
			if n > 0 {
				avail = 100 * float64(ok) / float64(n)
			}
			fmt.Fprintf(w, "[%s] %4.0fs/%s  requests %d  ok %.2f%%  failed %d\n", name, time.Since(origin).Seconds(), total, n, avail, n-ok)
		}
	}
}

// fillScenario turns raw observations into the report's timeline, faults,
// recoveries and SLO checks. It is pure, so the arithmetic is unit-tested.
func fillScenario(sc *reports.Scenario, tl *load.Timeline, evs []faults.Event, ready []ReadySample, origin time.Time, targetRate float64, cfg SelfHealingConfig) {
	sum := tl.Summarize()
	const window = time.Second
	sc.Timeline = reports.Timeline{
		Total: sum.Total, OK: sum.OK, Failed: sum.Failed, Availability: sum.Availability,
		TargetRate: targetRate, AchievedRate: sum.AchievedRate,
		LatencyMS:      latencyMS(sum.Latency),
		LongestFailure: interval(sum.LongestFailure),
		WindowSeconds:  window.Seconds(),
	}
	for _, iv := range sum.FailedIntervals {
		sc.Timeline.FailedIntervals = append(sc.Timeline.FailedIntervals, interval(iv))
	}
	for _, e := range sum.TopErrors {
		sc.Timeline.TopErrors = append(sc.Timeline.TopErrors, reports.ErrorCount{Message: e.Message, Count: e.Count})
	}
	for _, w := range tl.Windows(window) {
		sc.Timeline.Windows = append(sc.Timeline.Windows, reports.Window{T: w.Start.Seconds(), Total: w.Total, OK: w.OK,
			Availability: w.Availability, P50MS: ms(w.P50), P99MS: ms(w.P99)})
	}
	for _, s := range ready {
		sc.Replicas = append(sc.Replicas, reports.ReplicaPoint{T: s.At.Sub(origin).Seconds(), Ready: int(s.Ready), Desired: int(s.Desired)})
	}

	inEffect := 0
	worst := time.Duration(0)
	never := 0
	for i, e := range evs {
		sc.Faults = append(sc.Faults, reports.Fault{ID: e.ID, Kind: e.Kind, Description: e.Description, Targets: e.Targets,
			Issued: e.Issued, InEffect: e.InEffect, Reverted: e.Reverted, Offset: e.Issued.Sub(origin).Seconds(),
			TookEffect: e.TookEffect(), Error: e.Error})
		if e.TookEffect() {
			inEffect++
		}
		until := time.Time{}
		if i+1 < len(evs) {
			until = evs[i+1].Issued
		}
		rec := reports.Recovery{FaultID: e.ID, Issued: e.Issued, Seconds: -1}
		if d, ok := RecoveryTime(ready, e.Issued, until); ok && !e.Issued.IsZero() {
			rec.Recovered, rec.Seconds = e.Issued.Add(d), d.Seconds()
			worst = max(worst, d)
		} else {
			never++
		}
		sc.Recoveries = append(sc.Recoveries, rec)
	}

	slo := cfg.SLO
	avail := reports.AtLeast(CheckAvailability, fmt.Sprintf("availability >= %g%%", slo.Availability), round(sum.Availability*100, 3), slo.Availability, "%")
	avail.Detail = fmt.Sprintf("%d of %d requests failed", sum.Failed, sum.Total)
	longest := reports.AtMost(CheckFailedInterval, fmt.Sprintf("longest failed interval <= %s", slo.MaxFailedInterval),
		round(sum.LongestFailure.Duration().Seconds(), 3), slo.MaxFailedInterval.Seconds(), "s")
	longest.Detail = fmt.Sprintf("%d failed interval(s)", len(sum.FailedIntervals))
	recovery := reports.AtMost(CheckRecovery, fmt.Sprintf("all replicas Ready within %s of every kill", slo.MaxRecovery),
		round(worst.Seconds(), 3), slo.MaxRecovery.Seconds(), "s")
	recovery.Detail = fmt.Sprintf("worst of %d kill(s)", len(evs))
	if never > 0 || len(evs) == 0 {
		recovery.Passed = false
		recovery.Detail = fmt.Sprintf("%d of %d kill(s) never recovered", never, len(evs))
		if len(evs) == 0 {
			recovery.Detail = "no kill was injected"
		}
	}
	effect := reports.AtLeast(CheckFaultsInEffect, "every pod kill took effect", float64(inEffect), float64(max(cfg.PodKill.Times, 1)), "kills")
	rate := reports.AtLeast(CheckLoadRate, fmt.Sprintf("load achieved >= %g%% of %g req/s", slo.MinRateRatio*100, targetRate),
		round(sum.AchievedRate, 1), round(targetRate*slo.MinRateRatio, 1), "req/s")
	p99 := reports.AtMost(CheckP99, fmt.Sprintf("p99 latency <= %s", slo.MaxP99), ms(sum.Latency.P99), ms(slo.MaxP99), "ms")
	p99.Detail = fmt.Sprintf("over %d successful requests", sum.Latency.Count)
	sc.Checks = []reports.Check{avail, longest, recovery, effect, rate, p99}
}

func latencyMS(q load.Quantiles) reports.Latency {
	return reports.Latency{P50: ms(q.P50), P90: ms(q.P90), P95: ms(q.P95), P99: ms(q.P99), P999: ms(q.P999), Max: ms(q.Max)}
}

func interval(iv load.Interval) reports.Interval {
	return reports.Interval{Start: iv.Start.Seconds(), End: iv.End.Seconds(), DurationSeconds: iv.Duration().Seconds(), Failed: iv.Failed}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := 1.0
	for i := 0; i < places; i++ {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}
