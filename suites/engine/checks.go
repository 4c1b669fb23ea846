package engine

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/reports"
)

// Check ids of the checks below; suites use them as the checks' labels.
const (
	CheckAvailability   = "availability"
	CheckFailedInterval = "longest-failed-interval"
	CheckRecovery       = "recovery-time"
	CheckFaultsInEffect = "faults-took-effect"
	CheckLoadRate       = "load-rate"
	CheckP99            = "latency-p99"
	CheckServed         = "served-availability"
)

// ServedAvailability passes when the target's pods answered at least
// minPercent of the requests they counted themselves with anything but a
// 5xx: the verdict of a run without generated load, on real traffic. What
// never reached a pod (a refused connection, a dead node's share) is not
// in their counters: the detail says so.
func ServedAvailability(minPercent float64) Check {
	name := fmt.Sprintf("served availability >= %g%%", minPercent)
	return Check{
		ID: CheckServed, Spec: fmt.Sprintf("keeps the share of real requests the pods answered without a 5xx at or above %g%% (by their own counters)", minPercent),
		Eval: func(o *Observation) reports.Check {
			// the traffic while the scenario ran, not the calm after it
			to := o.LoadEnd
			if to.IsZero() {
				to = o.End
			}
			s := servedIn(o.App, o.Origin, to)
			if s.Total == 0 {
				return withDetail(reports.Unmeasured(CheckServed, name, ">=", minPercent, "%", "no request"),
					"the pods counted no request: no real traffic reached them, or their metrics are not where the run looked")
			}
			c := reports.AtLeast(CheckServed, name, floor3(100*float64(s.OK)/float64(s.Total)), minPercent, "%")
			c.Detail = fmt.Sprintf("%d of %d requests the pods counted were answered 5xx (requests that never reached a pod are not counted)", s.Total-s.OK, s.Total)
			if s.P99 > 0 {
				c.Detail += fmt.Sprintf("; p99 %s by their histograms", s.P99.Round(time.Millisecond))
			}
			return c
		},
	}
}

// Availability passes when at least minPercent of the requests succeeded.
func Availability(minPercent float64) Check {
	name := fmt.Sprintf("availability >= %g%%", minPercent)
	return Check{
		ID: CheckAvailability, Spec: fmt.Sprintf("keeps availability at or above %g%%", minPercent),
		Eval: func(o *Observation) reports.Check {
			s := o.Summary
			if s.Total == 0 {
				return withDetail(reports.Unmeasured(CheckAvailability, name, ">=", minPercent, "%", "no request"), "the load sent nothing")
			}
			c := reports.AtLeast(CheckAvailability, name, floor3(s.Availability*100), minPercent, "%")
			c.Detail = fmt.Sprintf("%d of %d requests failed", s.Failed, s.Total)
			if len(s.TopErrors) > 0 {
				c.Detail += fmt.Sprintf("; most often: %s (%d)", s.TopErrors[0].Message, s.TopErrors[0].Count)
			}
			return c
		},
	}
}

// LongestFailedInterval passes when no run of failed requests, from the
// first failure to the next request that succeeded, lasted longer than bound.
func LongestFailedInterval(bound time.Duration) Check {
	name := fmt.Sprintf("longest failed interval <= %s", bound)
	return Check{
		ID: CheckFailedInterval, Spec: fmt.Sprintf("keeps the longest run of failed requests within %s", bound),
		Eval: func(o *Observation) reports.Check {
			s := o.Summary
			c := reports.AtMost(CheckFailedInterval, name, ceil3(s.LongestFailure.Duration().Seconds()), bound.Seconds(), "s")
			c.Detail = fmt.Sprintf("%d failed interval(s)", len(s.FailedIntervals))
			if s.LongestFailure.Failed > 0 {
				c.Detail += fmt.Sprintf("; the longest from %.1fs, %d failed requests", s.LongestFailure.Start.Seconds(), s.LongestFailure.Failed)
			}
			return c
		},
	}
}

// RecoveryWithin passes when, after every fault that reached the cluster,
// the target was whole again (all desired replicas serving) within bound.
// A fault after which it never was is reported as "never"; a run in which
// no fault reached the cluster measured no recovery at all and fails.
func RecoveryWithin(bound time.Duration, what string) Check {
	name := fmt.Sprintf("all replicas serving within %s of every %s", bound, what)
	return Check{
		ID: CheckRecovery, Spec: fmt.Sprintf("returns to all replicas serving within %s after every %s", bound, what),
		Eval: func(o *Observation) reports.Check {
			var worst time.Duration
			applied, never := 0, 0
			var durations []string
			for _, r := range o.Recoveries {
				if !r.Applied {
					continue
				}
				applied++
				if !r.Recovered {
					never++
					durations = append(durations, "never")
					continue
				}
				worst = max(worst, r.Duration())
				durations = append(durations, fmt.Sprintf("%.1fs", r.Duration().Seconds()))
			}
			switch {
			case applied == 0:
				return withDetail(reports.Unmeasured(CheckRecovery, name, "<=", bound.Seconds(), "s", "nothing to recover from"),
					fmt.Sprintf("no %s reached the cluster", what))
			case never > 0:
				serving := o.Pods.ServingAt(o.End, nil)
				return withDetail(reports.Unmeasured(CheckRecovery, name, "<=", bound.Seconds(), "s", "never"),
					fmt.Sprintf("%d of %d %s(s) never recovered; %d of %d replicas serving at the end; per %s: %s",
						never, applied, what, serving, o.Pods.DesiredAt(o.End), what, strings.Join(durations, ", ")))
			}
			c := reports.AtMost(CheckRecovery, name, ceil3(worst.Seconds()), bound.Seconds(), "s")
			c.Detail = fmt.Sprintf("worst of %d; per %s: %s", applied, what, strings.Join(durations, ", "))
			return c
		},
	}
}

// FaultsTookEffect passes when every planned injection was observed in
// effect in the cluster's real state. An injection that found nothing to
// hit, was refused, or did not show its effect in time counts against it.
func FaultsTookEffect(what string) Check {
	return Check{
		ID: CheckFaultsInEffect, Spec: fmt.Sprintf("really applied every %s (observed in effect)", what),
		Eval: func(o *Observation) reports.Check {
			in := 0
			var lat []time.Duration
			var problems []string
			for _, e := range o.Faults {
				if e.TookEffect() {
					in++
					lat = append(lat, e.EffectLatency())
					continue
				}
				if len(problems) < 3 {
					problems = append(problems, fmt.Sprintf("at %.1fs %s: %s", e.Issued.Sub(o.Origin).Seconds(), e.Stage, e.Error))
				}
			}
			c := reports.AtLeast(CheckFaultsInEffect, fmt.Sprintf("every %s took effect", what), float64(in), float64(o.Planned), what+"s")
			var parts []string
			if len(lat) > 0 {
				slices.Sort(lat)
				parts = append(parts, fmt.Sprintf("issue to effect: median %.1fs, max %.1fs", lat[len(lat)/2].Seconds(), lat[len(lat)-1].Seconds()))
			}
			if missed := o.Planned - len(o.Faults); missed > 0 {
				parts = append(parts, fmt.Sprintf("%d never issued", missed))
			}
			parts = append(parts, problems...)
			c.Detail = strings.Join(parts, "; ")
			return c
		},
	}
}

// LoadRate passes when the generator achieved at least minRatio of the
// target rate: a starved generator would make every other verdict
// meaningless.
func LoadRate(minRatio float64) Check {
	return Check{
		ID: CheckLoadRate, Spec: fmt.Sprintf("sustained at least %g%% of the target request rate, so the verdict is meaningful", minRatio*100),
		Eval: func(o *Observation) reports.Check {
			return reports.AtLeast(CheckLoadRate, fmt.Sprintf("load achieved >= %g%% of %.1f req/s", minRatio*100, o.TargetRate),
				round(o.Summary.AchievedRate, 1), round(o.TargetRate*minRatio, 1), "req/s")
		},
	}
}

// LatencyP99 passes when the p99 latency of the successful requests is at
// most bound (failures are judged by availability).
func LatencyP99(bound time.Duration) Check {
	name := fmt.Sprintf("p99 latency <= %s", bound)
	return Check{
		ID: CheckP99, Spec: fmt.Sprintf("keeps p99 latency of successful requests within %s", bound),
		Eval: func(o *Observation) reports.Check {
			q := o.Summary.Latency
			if q.Count == 0 {
				return withDetail(reports.Unmeasured(CheckP99, name, "<=", ms(bound), "ms", "no successful request"), "every request failed")
			}
			c := reports.AtMost(CheckP99, name, ms(q.P99), ms(bound), "ms")
			c.Detail = fmt.Sprintf("over %d successful requests; p50 %.1fms, max %.1fms", q.Count, ms(q.P50), ms(q.Max))
			return c
		},
	}
}

func withDetail(c reports.Check, d string) reports.Check {
	c.Detail = d
	return c
}
