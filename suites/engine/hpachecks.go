package engine

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/reports"
)

// IDs of the autoscaling checks.
const (
	CheckScaleOutReaction = "scale-out-reaction"
	CheckScaleOutReach    = "scale-out-reach"
	CheckScaleIn          = "scale-in"
	CheckScalingActive    = "scaling-active"
)

// LoadStep is when the load stepped up and back down, counted from the load's
// start: what the autoscaling checks measure from.
type LoadStep struct {
	Up, Down time.Duration
}

// CPUFormula is what the HorizontalPodAutoscaler's formula needs to
// predict its replicas from the pods' CPU: desired = ceil(total CPU /
// (request x target)), within [Min, Max].
type CPUFormula struct {
	// Autoscaler names the HPA judged.
	Autoscaler string
	// RequestMilli is each pod's CPU request (every container's, summed);
	// TargetPercent the HPA's CPU utilization target. Either zero: the
	// formula cannot be computed.
	RequestMilli  float64
	TargetPercent int32
	Min, Max      int32
}

// hpaTolerance is the controller's default tolerance: it leaves the
// replicas alone while usage is within 10% of the target.
const hpaTolerance = 0.1

// Predict is the fewest replicas the autoscaler settles at for totalMilli
// of CPU: within its tolerance of the target, between Min and Max.
func (f CPUFormula) Predict(totalMilli float64) int32 {
	n := int32(math.Ceil(totalMilli/(f.RequestMilli*float64(f.TargetPercent)/100*(1+hpaTolerance)) - 1e-9))
	return min(max(n, f.Min), f.Max)
}

// hpaStates are the states of the named autoscaler in effect from at on:
// the last one before at, then every one after, in time order.
func hpaStates(o *Observation, name string, at time.Time) []HPAState {
	var out []HPAState
	for _, s := range o.HPA {
		if s.Name != name {
			continue
		}
		if !s.At.After(at) {
			out = []HPAState{s}
			continue
		}
		out = append(out, s)
	}
	return out
}

// wanted is the replicas the autoscaler asks for: its desired count, or
// its current one while it has computed none (desired 0: never active).
func (s HPAState) wanted() int32 {
	if s.Desired > 0 {
		return s.Desired
	}
	return s.Current
}

func describeState(s HPAState) string {
	d := fmt.Sprintf("%d desired, %d current", s.Desired, s.Current)
	if len(s.Metrics) > 0 {
		d += ", " + strings.Join(s.Metrics, ", ")
	}
	return d
}

// ScaleOutWithin passes when the autoscaler asked for more replicas than it
// had at the step up within bound of it (its own sync period and the
// metrics' resolution set a floor of about 15-30s).
func ScaleOutWithin(hpa string, step LoadStep, bound time.Duration) Check {
	name := fmt.Sprintf("first scale-out <= %s after the load steps up", bound)
	return Check{
		ID: CheckScaleOutReaction, Spec: fmt.Sprintf("scales out within %s of the load stepping up", bound),
		Eval: func(o *Observation) reports.Check {
			up := o.Origin.Add(step.Up)
			states := hpaStates(o, hpa, up)
			if len(states) == 0 {
				return withDetail(reports.Unmeasured(CheckScaleOutReaction, name, "<=", bound.Seconds(), "s", "no autoscaler"), "no state of HorizontalPodAutoscaler "+hpa+" was seen")
			}
			base := states[0].wanted()
			for _, s := range states[1:] {
				if s.wanted() > base {
					c := reports.AtMost(CheckScaleOutReaction, name, secs(s.At.Sub(up)), bound.Seconds(), "s")
					c.Detail = fmt.Sprintf("%d -> %d desired replicas %.1fs after the step up (polled every 2s); the autoscaler then read %s", base, s.wanted(), s.At.Sub(up).Seconds(), describeState(s))
					return c
				}
			}
			last := states[len(states)-1]
			return withDetail(reports.Unmeasured(CheckScaleOutReaction, name, "<=", bound.Seconds(), "s", "never"),
				fmt.Sprintf("still %d desired replicas %.0fs after the step up; last state: %s%s", base, o.End.Sub(up).Seconds(), describeState(last), conditionsNote(last)))
		},
	}
}

// conditionsNote names the autoscaler's conditions that are not True.
func conditionsNote(s HPAState) string {
	var bad []string
	for _, k := range []string{"AbleToScale", "ScalingActive", "ScalingLimited"} {
		if v, ok := s.Conditions[k]; ok && (k == "ScalingLimited") == strings.HasPrefix(v, "True") {
			bad = append(bad, k+" "+v)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return "; " + strings.Join(bad, "; ")
}

// ScaleOutReach passes when, within bound of the step up, the autoscaler
// asked for at least the replicas its formula predicts from the CPU the
// target's pods used in the second half of the step (metrics API),
// capped by its maximum.
func ScaleOutReach(f CPUFormula, step LoadStep, bound time.Duration) Check {
	name := fmt.Sprintf("desired replicas reach the formula's prediction within %s of the step up", bound)
	spec := fmt.Sprintf("reaches the replicas its formula predicts from the observed CPU within %s", bound)
	return Check{
		ID: CheckScaleOutReach, Spec: spec,
		Eval: func(o *Observation) reports.Check {
			if f.RequestMilli <= 0 || f.TargetPercent <= 0 {
				return reports.NotJudged(CheckScaleOutReach, name, "the formula needs a CPU utilization target and a CPU request on every container of the target's pods")
			}
			cpu, n, _ := meanPodsCPU(o.Usage, o.Origin.Add(step.Up+(step.Down-step.Up)/2), o.Origin.Add(step.Down))
			up := o.Origin.Add(step.Up)
			states := hpaStates(o, f.Autoscaler, up)
			switch {
			case len(states) == 0:
				return withDetail(reports.Unmeasured(CheckScaleOutReach, name, ">=", float64(f.Min), "replicas", "no autoscaler"), "no state of HorizontalPodAutoscaler "+f.Autoscaler+" was seen")
			case n == 0:
				return withDetail(reports.Unmeasured(CheckScaleOutReach, name, ">=", float64(f.Min), "replicas", "no CPU sample"),
					"the metrics API gave no CPU of the target's pods during the step")
			}
			want := f.Predict(cpu)
			var reached int32
			var at time.Time
			for _, s := range states {
				if s.At.After(up.Add(bound)) {
					break
				}
				if s.wanted() > reached {
					reached, at = s.wanted(), s.At
				}
			}
			c := reports.AtLeast(CheckScaleOutReach, name, float64(reached), float64(want), "replicas")
			c.Detail = fmt.Sprintf("the pods used %.0fm CPU in the step's second half; at %.0fm requested and a %d%% target the formula asks for at least %d (min %d, max %d)",
				cpu, f.RequestMilli, f.TargetPercent, want, f.Min, f.Max)
			if reached > 0 && at.After(up) {
				c.Detail += fmt.Sprintf("; %d desired %.1fs after the step up", reached, at.Sub(up).Seconds())
			}
			return c
		},
	}
}

// ScaleInWithin passes when, after the load steps back down, the
// autoscaler returns to the replicas it had before the step up within its
// scale-down stabilization window plus budget. A run that never scaled
// out has nothing to judge.
func ScaleInWithin(hpa string, step LoadStep, window, budget time.Duration) Check {
	bound := window + budget
	name := fmt.Sprintf("back to the replicas before the step <= %s after the load steps down", bound)
	spec := fmt.Sprintf("scales back in within its %s stabilization window and %s after the load drops", window, budget)
	return Check{
		ID: CheckScaleIn, Spec: spec,
		Eval: func(o *Observation) reports.Check {
			up, down := o.Origin.Add(step.Up), o.Origin.Add(step.Down)
			states := hpaStates(o, hpa, up)
			if len(states) == 0 {
				return withDetail(reports.Unmeasured(CheckScaleIn, name, "<=", bound.Seconds(), "s", "no autoscaler"), "no state of HorizontalPodAutoscaler "+hpa+" was seen")
			}
			base, peak := states[0].wanted(), states[0].wanted()
			// out: more replicas than before the step when the load dropped;
			// a scale-out on metrics that lag the drop counts too
			out := false
			for _, s := range states {
				peak = max(peak, s.wanted())
				if !s.At.After(down) {
					out = s.wanted() > base
				}
			}
			if peak <= base {
				return reports.NotJudged(CheckScaleIn, name, fmt.Sprintf("the autoscaler never scaled out (%d desired replicas throughout the run): nothing to scale in", base))
			}
			for _, s := range states {
				if s.At.Before(down) {
					continue
				}
				if s.wanted() > base {
					out = true
					continue
				}
				if !out {
					continue
				}
				c := reports.AtMost(CheckScaleIn, name, secs(s.At.Sub(down)), bound.Seconds(), "s")
				c.Detail = fmt.Sprintf("%d -> %d desired replicas %.1fs after the step down (stabilization window %s)", peak, s.wanted(), s.At.Sub(down).Seconds(), window)
				return c
			}
			last := states[len(states)-1]
			return withDetail(reports.Unmeasured(CheckScaleIn, name, "<=", bound.Seconds(), "s", "never"),
				fmt.Sprintf("still %d desired replicas (%d before the step) %.0fs after the step down; last state: %s", last.wanted(), base, o.End.Sub(down).Seconds(), describeState(last)))
		},
	}
}

// ScalingActive passes when the autoscaler's ScalingActive condition was
// never False while the load ran: False means it could not compute its
// metric (no CPU requests, no metrics) and would not scale at all.
func ScalingActive(hpa string) Check {
	name := "time with ScalingActive False"
	return Check{
		ID: CheckScalingActive, Spec: "keeps its autoscaler able to compute its metrics (ScalingActive never False)",
		Eval: func(o *Observation) reports.Check {
			states := hpaStates(o, hpa, o.Origin)
			if len(states) == 0 {
				return withDetail(reports.Unmeasured(CheckScalingActive, name, "<=", 0, "s", "no autoscaler"), "no state of HorizontalPodAutoscaler "+hpa+" was seen")
			}
			var off time.Duration
			first := ""
			for i, s := range states {
				v := s.Conditions["ScalingActive"]
				if !strings.HasPrefix(v, "False") {
					continue
				}
				from, to := s.At, o.End
				if from.Before(o.Origin) {
					from = o.Origin
				}
				if i+1 < len(states) {
					to = states[i+1].At
				}
				off += to.Sub(from)
				if first == "" {
					first = v
				}
			}
			c := reports.AtMost(CheckScalingActive, name, secs(off), 0, "s")
			if first != "" {
				c.Detail = "ScalingActive " + first
			} else {
				c.Detail = fmt.Sprintf("%d state(s) seen, ScalingActive never False", len(states))
			}
			return c
		},
	}
}
