package suites

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// HPAParams are the parameters of the hpa suite.
type HPAParams struct {
	// Path is what the load requests; empty: the autoscaler's
	// workload.LoadPathAnnotation, else --path.
	Path string
	// BaselineRate is the load before and after the step; StepRate the
	// step's (0: derived from what the baseline costs, StepFactor times
	// what the minimum replicas absorb at the CPU target, at most MaxRate).
	BaselineRate int
	StepRate     int
	StepFactor   float64
	MaxRate      int
	// Calibration is how long the baseline load runs before the timeline
	// starts, to measure its CPU cost; Baseline how long the timeline
	// runs at the baseline before the step, Hold how long the step lasts.
	Calibration time.Duration
	Baseline    time.Duration
	Hold        time.Duration
	// MaxReaction bounds the time from the step to the first scale-out,
	// MaxReach the time to reach the formula's replicas, MaxScaleIn the
	// time from the step down to the replicas before it, beyond the
	// autoscaler's scale-down stabilization window.
	MaxReaction time.Duration
	MaxReach    time.Duration
	MaxScaleIn  time.Duration
	// MaxP99 bounds the p99 latency over the whole profile: scale-out
	// starts pods, which on a small machine stalls every request for a
	// moment, so it has its own bound rather than --slo-max-p99.
	MaxP99 time.Duration
}

// hpaSuite: the workload's own HorizontalPodAutoscaler under a load step.
// It must scale out soon enough and far enough for the CPU the step costs,
// keep every request working while pods come and go, and scale back in.
var hpaSuite = Suite{
	Name:   "hpa",
	Labels: []string{"autoscaling"},
	defaults: func(p *Params) {
		// the step's bounds are sized for the two-core reference machine:
		// at 160 req/s on the sample it ran out of CPU (484 timeouts). The
		// reach: pods the autoscaler just started have no CPU sample yet and
		// count as idle when it scales up, so the last step waits for their
		// first (measured on the healthy sample: 48s, and once just over 60s)
		p.HPA = HPAParams{BaselineRate: 20, StepFactor: 2.5, MaxRate: 120, Calibration: 30 * time.Second, Baseline: 10 * time.Second,
			Hold: 75 * time.Second, MaxReaction: 60 * time.Second, MaxReach: 75 * time.Second, MaxScaleIn: 40 * time.Second,
			MaxP99: time.Second}
	},
	Flags: func(fs *flag.FlagSet, p *Params) {
		h := &p.HPA
		fs.StringVar(&h.Path, "hpa-path", h.Path, "path (and query) the hpa suite's load requests, one that costs CPU (default: the autoscaler's "+workload.LoadPathAnnotation+" annotation, else --path)")
		fs.IntVar(&h.BaselineRate, "hpa-baseline-rate", h.BaselineRate, "the hpa suite's load before and after its step, requests per second")
		fs.IntVar(&h.StepRate, "hpa-step-rate", h.StepRate, "the hpa suite's step, requests per second (0: --hpa-step-factor times what the minimum replicas absorb at the CPU target, measured at the baseline)")
		fs.Float64Var(&h.StepFactor, "hpa-step-factor", h.StepFactor, "a derived step is this many times the rate the minimum replicas absorb at the autoscaler's CPU target")
		fs.IntVar(&h.MaxRate, "hpa-max-rate", h.MaxRate, "a derived step is at most this many requests per second")
		fs.DurationVar(&h.Calibration, "hpa-calibration", h.Calibration, "baseline load before the hpa suite's timeline, to measure what a request costs (at least 20s: the metrics API resolves 15s)")
		fs.DurationVar(&h.Baseline, "hpa-baseline", h.Baseline, "time at the baseline rate before the hpa suite's step")
		fs.DurationVar(&h.Hold, "hpa-hold", h.Hold, "how long the hpa suite's step lasts")
		fs.DurationVar(&h.MaxReaction, "hpa-max-reaction", h.MaxReaction, "longest allowed time from the step up to the first scale-out")
		fs.DurationVar(&h.MaxReach, "hpa-max-reach", h.MaxReach, "longest allowed time from the step up to the replicas the autoscaler's formula predicts")
		fs.DurationVar(&h.MaxP99, "hpa-max-p99", h.MaxP99, "highest allowed p99 latency over the hpa suite's load (scale-out starts pods, which stalls a small machine: measured 474ms on the two-core reference machine)")
		fs.DurationVar(&h.MaxScaleIn, "hpa-max-scale-in", h.MaxScaleIn, "longest allowed time from the step down to the replicas before the step, beyond the autoscaler's scale-down stabilization window")
	},
	Skip: func(_ Params, w *workload.Workload) string {
		_, reason := w.Autoscaler()
		return reason
	},
	Validate: func(p Params, w *workload.Workload, _ func(string) bool) error {
		h := p.HPA
		var errs []error
		add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
		// the scenario's path replaces the target URL's: "//host/x" would
		// name another host there
		if path, from := hpaPath(p, w); !isLoadPath(path) || strings.HasPrefix(path, "//") {
			add("%s %q: must be an absolute path such as /work?ms=2", from, path)
		}
		if h.BaselineRate < 1 || h.BaselineRate > 20000 {
			add("--hpa-baseline-rate %d: must be 1-20000", h.BaselineRate)
		}
		if h.MaxRate <= h.BaselineRate || h.MaxRate > 20000 {
			add("--hpa-max-rate %d: must be above --hpa-baseline-rate %d and at most 20000", h.MaxRate, h.BaselineRate)
		}
		if h.StepRate != 0 && (h.StepRate <= h.BaselineRate || h.StepRate > 20000) {
			add("--hpa-step-rate %d: must be 0 (derived) or above --hpa-baseline-rate %d, at most 20000", h.StepRate, h.BaselineRate)
		}
		if h.StepFactor <= 1 || h.StepFactor > 20 {
			add("--hpa-step-factor %g: must be above 1 and at most 20", h.StepFactor)
		}
		peak, peakFlag := h.MaxRate, "--hpa-max-rate"
		if h.StepRate > peak {
			peak, peakFlag = h.StepRate, "--hpa-step-rate"
		}
		if inflight := float64(peak) * p.Load.Timeout.Seconds(); inflight > load.MaxInFlight {
			add("%s %d x --request-timeout %s: %.0f requests could be in flight, at most %d are allowed", peakFlag, peak, p.Load.Timeout, inflight, load.MaxInFlight)
		}
		if h.Calibration < 20*time.Second || h.Calibration > 10*time.Minute {
			add("--hpa-calibration %s: must be 20s-10m (the metrics API resolves 15s)", h.Calibration)
		}
		if h.Baseline < 0 || h.Baseline > 10*time.Minute {
			add("--hpa-baseline %s: must be 0-10m", h.Baseline)
		}
		if h.Hold < 15*time.Second || h.Hold > 30*time.Minute {
			add("--hpa-hold %s: must be 15s-30m", h.Hold)
		}
		for _, b := range []struct {
			flag string
			d    time.Duration
		}{{"--hpa-max-reaction", h.MaxReaction}, {"--hpa-max-reach", h.MaxReach}, {"--hpa-max-scale-in", h.MaxScaleIn}, {"--hpa-max-p99", h.MaxP99}} {
			if b.d <= 0 || b.d > 30*time.Minute {
				add("%s %s: must be positive and at most 30m", b.flag, b.d)
			}
		}
		a, _ := w.Autoscaler()
		if a.ScaleDownWindow > time.Hour {
			add("%s: HorizontalPodAutoscaler %s waits %s before scaling in: the hpa suite would hold its load that long; at most 1h", a.Pos, a.Name, a.ScaleDownWindow)
		} else if total := h.Baseline + h.Hold + hpaTail(h, a); total > load.MaxDuration {
			add("--hpa-baseline %s + --hpa-hold %s + the scale-down window %s + --hpa-max-scale-in: %s of load, at most %s", h.Baseline, h.Hold, a.ScaleDownWindow, total, load.MaxDuration)
		}
		return errors.Join(errs...)
	},
	Scenarios: func(p Params, w *workload.Workload) []engine.Scenario {
		h := p.HPA
		a, _ := w.Autoscaler()
		tail := hpaTail(h, a)
		step := h.StepRate
		if step == 0 {
			// the highest the derivation may choose, until it has
			step = h.MaxRate
		}
		phases := []load.Phase{{Rate: h.BaselineRate, Duration: h.Baseline}, {Rate: step, Duration: h.Hold}, {Rate: h.BaselineRate, Duration: tail}}
		if h.Baseline == 0 {
			phases = phases[1:]
		}
		l := p.Load
		// from this machine, whatever --load-agents says: the calibration
		// and the step are measured here
		l.Phases, l.RampTo, l.Rate, l.Agents = phases, 0, step, 0
		_, l.Duration = load.PhasePacer{Phases: phases}.Total()
		at := engine.LoadStep{Up: h.Baseline, Down: h.Baseline + h.Hold}
		path, _ := hpaPath(p, w)
		formula := engine.CPUFormula{Autoscaler: a.Name, RequestMilli: w.CPURequestMilli(), TargetPercent: a.CPUTargetPercent, Min: a.Min, Max: a.Max}
		description := fmt.Sprintf("HorizontalPodAutoscaler %s (%d-%d replicas) under a load step: %d req/s, then the step for %s, then %d req/s for %s (its %s scale-down window and %s); it must scale out and back in without failing a request.",
			a.Name, a.Min, a.Max, h.BaselineRate, h.Hold, h.BaselineRate, tail, a.ScaleDownWindow, tail-a.ScaleDownWindow)
		if a.ScaleDownWindow >= 5*time.Minute {
			description += fmt.Sprintf(" The autoscaler keeps a %s scale-down window, so this run is long: set behavior.scaleDown.stabilizationWindowSeconds to shorten it.", a.ScaleDownWindow)
		}
		var early *engine.EarlyEnd
		if !p.FullDuration {
			// back to the replicas at the step up (which scale-in judges),
			// the last pods gone: the tail's rest is the baseline on them.
			// Typically 12-24s beyond the window, then the pods' drain
			early = &engine.EarlyEnd{When: []engine.Condition{engine.ReplicasBack}, ReplicasAt: at.Up, NotBefore: at.Down + a.ScaleDownWindow,
				Margin: 5 * time.Second, Typical: at.Down + a.ScaleDownWindow + 30*time.Second}
		}
		return []engine.Scenario{{
			Name: "hpa", Title: "horizontal pod autoscaling under a load step",
			Description: description,
			Labels:      []string{"load:step"},
			Load:        l,
			Path:        path,
			Prepare:     prepareStep(h, formula),
			// the calibration, then the autoscaler's ScalingActive (at once
			// on a warm cluster, up to a minute)
			PrepareTime: h.Calibration + 5*time.Second,
			PrepareMax:  h.Calibration + time.Minute,
			EndEarly:    early,
			Checks: []engine.Check{
				engine.ScalingActive(a.Name),
				engine.ScaleOutWithin(a.Name, at, h.MaxReaction),
				engine.ScaleOutReach(formula, at, h.MaxReach),
				engine.ScaleInWithin(a.Name, at, a.ScaleDownWindow, h.MaxScaleIn),
				engine.FailedRequestsAtMost(0),
				engine.LatencyP99(h.MaxP99),
				engine.LoadRate(p.SLO.MinRateRatio),
			},
		}}
	},
}

// hpaPath is what the hpa suite's load requests, and where that was set.
func hpaPath(p Params, w *workload.Workload) (path, from string) {
	if p.HPA.Path != "" {
		return p.HPA.Path, "--hpa-path"
	}
	if a, _ := w.Autoscaler(); a.LoadPath != "" {
		return a.LoadPath, fmt.Sprintf("%s: annotation %s", a.Pos, workload.LoadPathAnnotation)
	}
	return p.Path, "--path"
}

// hpaTail is how long the load stays at the baseline after the step: the
// autoscaler's scale-down window and the scale-in budget (the metrics'
// resolution and the autoscaler's sync period, 15s each, come first: a
// budget under 30s is for a workload that never scales in).
func hpaTail(h HPAParams, a workload.Autoscaler) time.Duration {
	return a.ScaleDownWindow + h.MaxScaleIn
}

// prepareStep runs the baseline load for the calibration time and, unless
// the step's rate was given, derives it: StepFactor times the rate at
// which the minimum replicas would run at the CPU target, at most MaxRate.
func prepareStep(h HPAParams, f engine.CPUFormula) func(context.Context, engine.Env, *engine.Scenario) ([]string, error) {
	return func(ctx context.Context, env engine.Env, sc *engine.Scenario) ([]string, error) {
		fmt.Fprintf(env.Progress, "[%s] calibrating: %d req/s for %s on %s, then waiting for the autoscaler to be active (up to 1m)\n", sc.Name, h.BaselineRate, h.Calibration, env.Target.URL)
		o := sc.LoadOptions(env.Target)
		o.Phases, o.Rate, o.Duration = nil, h.BaselineRate, h.Calibration
		c, err := engine.Calibrate(ctx, env, o)
		if err != nil {
			return nil, err
		}
		notes := []string{fmt.Sprintf("calibration: %.1f req/s for %s cost %.0fm CPU over %d pod(s) (%.2fm per req/s, idle work included; %d of %d requests failed)",
			c.Rate, h.Calibration, c.CPUMilli, c.Pods, c.MilliPerRPS(), c.Failed, c.Total)}
		// the step is judged against a working autoscaler: a fresh one
		// reports ScalingActive False until it has its pods' metrics
		active, err := engine.WaitScalingActive(ctx, env.Client, env.Target.Namespace, f.Autoscaler, time.Minute)
		if err != nil {
			return notes, err
		}
		notes = append(notes, "autoscaler before the step: "+active)
		if h.StepRate != 0 {
			return append(notes, fmt.Sprintf("step: %d req/s, as given (--hpa-step-rate)", h.StepRate)), nil
		}
		step, why := deriveStep(h, f, c.MilliPerRPS())
		notes = append(notes, "step: "+why)
		// a copy: the scenario the gate holds keeps its own
		sc.Load.Phases = slices.Clone(sc.Load.Phases)
		sc.Load.Phases[len(sc.Load.Phases)-2].Rate = step
		sc.Load.Rate = load.PhasePacer{Phases: sc.Load.Phases}.Peak()
		return notes, nil
	}
}

// deriveStep is the step's rate for a request cost (millicores per req/s)
// and why.
func deriveStep(h HPAParams, f engine.CPUFormula, cost float64) (int, string) {
	// without a derivation, a step the factor above the baseline: a
	// guess at the maximum could take the whole machine
	fallback := min(int(math.Ceil(h.StepFactor*float64(h.BaselineRate))), h.MaxRate)
	switch {
	case f.RequestMilli <= 0 || f.TargetPercent <= 0:
		return fallback, fmt.Sprintf("%d req/s, %g times the baseline: without a CPU request on every container and a CPU utilization target, what the replicas absorb cannot be computed", fallback, h.StepFactor)
	case cost <= 0:
		return fallback, fmt.Sprintf("%d req/s, %g times the baseline: the metrics API measured no CPU during the calibration", fallback, h.StepFactor)
	}
	absorb := float64(f.Min) * f.RequestMilli * float64(f.TargetPercent) / 100 / cost
	step := int(math.Ceil(h.StepFactor * absorb))
	why := fmt.Sprintf("%d req/s: %d replica(s) absorb %.0f req/s at the %d%% CPU target of %.0fm, times %g", step, f.Min, absorb, f.TargetPercent, f.RequestMilli, h.StepFactor)
	switch {
	case step > h.MaxRate:
		step = h.MaxRate
		why = fmt.Sprintf("%d req/s (--hpa-max-rate), below the %s", step, why)
	case step <= h.BaselineRate:
		step = h.BaselineRate + 1
		why = fmt.Sprintf("%d req/s, just above the baseline: %s", step, why)
	}
	return step, why
}
