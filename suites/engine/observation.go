package engine

import (
	"maps"
	"math"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"
)

// Observation is everything a run saw; checks judge it.
type Observation struct {
	// Origin is the start of the load; End when observation stopped;
	// LoadEnd when the load ended (zero while it runs).
	Origin, End, LoadEnd time.Time
	Timeline             *load.Timeline
	Summary              load.Summary
	TargetRate           float64
	// Planned is how many injections the schedule held; Faults the events
	// of those that were due, in schedule order.
	Planned    int
	Faults     []faults.Event
	Recoveries []RecoveryResult
	Pods       *PodHistory
	Nodes      []NodeChange
	// Endpoints is when each pod became or stopped being a ready endpoint
	// of the target's Service.
	Endpoints []EndpointChange
	// Usage and App are the metrics API's and the pods' own metrics,
	// sampled; MetricsProblems the sources that did not answer.
	Usage           []Usage
	App             []AppSample
	MetricsProblems map[string]string
	// HPA is every state of the target's autoscalers; HPAEvents their
	// events (read once, when the run is judged).
	HPA       []HPAState
	HPAEvents []HPAEvent
	// Waits are the wait steps of a sequential scenario, as they ended;
	// Aborted, when set, is the abort rule that stopped the run.
	Waits   []WaitResult
	Aborted *Aborted
}

// Victims are the pods a fault took away: the pods it hit, and the pods
// on the nodes it hit when it was issued. A pod whose container was killed
// is not taken away: the kubelet restarts it in place.
func (o *Observation) Victims(e faults.Event) map[types.UID]bool {
	victims := map[types.UID]bool{}
	for _, t := range e.Targets {
		switch t.Kind {
		case "pod":
			victims[types.UID(t.UID)] = true
		case "node":
			for _, uid := range o.Pods.PodsOn(t.Name, e.Issued) {
				victims[uid] = true
			}
		}
	}
	return victims
}

// RecoveryResult is how the target came back from one fault.
type RecoveryResult struct {
	FaultID string
	Issued  time.Time
	// Applied is false when the fault never reached the cluster (nothing
	// to hit, the API refused it): there is nothing to recover from.
	Applied   bool
	Recovered bool
	At        time.Time
}

// Duration is the time from the fault to recovery.
func (r RecoveryResult) Duration() time.Duration { return r.At.Sub(r.Issued) }

// recoveries measures, for every applied fault, when the target was whole
// again: the desired number of pods serving, not counting the fault's
// victims (the pods it killed, or that ran on the nodes it hit). Victims
// count as lost from the moment of the fault, so recovery never reads as
// instant because the watch had not yet shown them go.
func recoveries(h *PodHistory, evs []faults.Event) []RecoveryResult {
	o := &Observation{Pods: h}
	out := make([]RecoveryResult, 0, len(evs))
	for _, e := range evs {
		rr := RecoveryResult{FaultID: e.ID, Issued: e.Issued, Applied: e.Applied() && !e.Issued.IsZero()}
		switch {
		case !rr.Applied:
		case podsOutliveFault(e):
			// the pods keep running through the fault and serve again once
			// it is reverted: the target is whole when they are back, not
			// when replacements would be
			if !e.Reverted.IsZero() {
				rr.At, rr.Recovered = h.RecoveredAt(e.Reverted, nil)
			}
		default:
			from := e.Issued
			if restartsInPlace(e) && e.TookEffect() {
				// the restart was seen: the pod's readiness dips around it
				from = e.InEffect
			}
			rr.At, rr.Recovered = h.RecoveredAt(from, o.Victims(e))
		}
		out = append(out, rr)
	}
	return out
}

func distinctRevisions(rs []RevisionPoint) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.Revision] = true
	}
	return m
}

// podsOutliveFault reports whether the fault leaves the pods it hits
// running (a stopped kubelet, a partition): they come back with the node.
func podsOutliveFault(e faults.Event) bool {
	return e.Kind == "kubelet-stop" || e.Kind == "network-partition"
}

// restartsInPlace reports whether the fault hit containers only, which the
// kubelet restarts in the same pod.
func restartsInPlace(e faults.Event) bool {
	for _, t := range e.Targets {
		if t.Kind != "container" {
			return false
		}
	}
	return len(e.Targets) > 0
}

// fillReport turns the observation into the report's timeline, faults,
// recoveries, replicas and nodes. It is pure, so the arithmetic is
// unit-tested.
func fillReport(sc *reports.Scenario, obs *Observation) {
	sum := obs.Summary
	const window = time.Second
	sc.Timeline = reports.Timeline{
		Total: sum.Total, OK: sum.OK, Failed: sum.Failed, Availability: sum.Availability,
		TargetRate: obs.TargetRate, AchievedRate: round(sum.AchievedRate, 3),
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
	for _, w := range obs.Timeline.Windows(window) {
		sc.Timeline.Windows = append(sc.Timeline.Windows, reports.Window{T: w.Start.Seconds(), Total: w.Total, OK: w.OK,
			Availability: w.Availability, P50MS: ms(w.P50), P95MS: ms(w.P95), P99MS: ms(w.P99)})
	}
	for _, p := range obs.Pods.ReplicaSeries() {
		sc.Replicas = append(sc.Replicas, reports.ReplicaPoint{T: offset(obs.Origin, p.At), Ready: p.Serving, Desired: p.Desired})
	}
	if revs := obs.Pods.RevisionSeries(); len(distinctRevisions(revs)) > 1 {
		for _, r := range revs {
			sc.Revisions = append(sc.Revisions, reports.RevisionPoint{T: offset(obs.Origin, r.At), Revision: r.Revision, Serving: r.Serving})
		}
	}
	for _, n := range obs.Nodes {
		sc.Nodes = append(sc.Nodes, reports.NodePoint{T: offset(obs.Origin, n.At), Node: n.Node, Ready: string(n.Ready), Schedulable: n.Schedulable})
	}
	fillMetrics(sc, obs)
	sc.Faults = sc.Faults[:0]
	for _, e := range obs.Faults {
		f := reports.Fault{ID: e.ID, Kind: e.Kind, Description: e.Description, Issued: e.Issued, InEffect: e.InEffect,
			RevertIssued: e.RevertIssued, Reverted: e.Reverted, Offset: offset(obs.Origin, e.Issued), TookEffect: e.TookEffect(),
			Stage: e.Stage, Error: e.Error, RevertError: e.RevertError}
		for _, t := range e.Targets {
			f.Targets = append(f.Targets, t.String())
		}
		if e.TookEffect() {
			f.EffectSeconds = round(e.EffectLatency().Seconds(), 3)
		}
		sc.Faults = append(sc.Faults, f)
	}
	sc.Recoveries = sc.Recoveries[:0]
	for _, rr := range obs.Recoveries {
		rc := reports.Recovery{FaultID: rr.FaultID, Issued: rr.Issued, Outcome: reports.NeverRecovered}
		switch {
		case !rr.Applied:
			rc.Outcome = reports.NotApplicable
		case rr.Recovered:
			s := round(rr.Duration().Seconds(), 3)
			rc.Outcome, rc.Recovered, rc.Seconds = reports.Recovered, rr.At, &s
		}
		sc.Recoveries = append(sc.Recoveries, rc)
	}
}

func offset(origin, t time.Time) float64 { return round(t.Sub(origin).Seconds(), 3) }

func latencyMS(q load.Quantiles) reports.Latency {
	return reports.Latency{P50: ms(q.P50), P90: ms(q.P90), P95: ms(q.P95), P99: ms(q.P99), P999: ms(q.P999), Max: ms(q.Max)}
}

func interval(iv load.Interval) reports.Interval {
	return reports.Interval{Start: round(iv.Start.Seconds(), 3), End: round(iv.End.Seconds(), 3), DurationSeconds: round(iv.Duration().Seconds(), 3), Failed: iv.Failed}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// floor3 and ceil3 keep three decimals of a measured value, rounding
// against the check (down for an at-least, up for an at-most), so a value
// that misses its threshold by less than the last decimal still misses it.
// The epsilon keeps exact values (24s) from moving a step for float noise.
// Adding 0 turns a -0 (the ceiling of a tiny negative) into 0.
func floor3(v float64) float64 { return math.Floor(v*1000+1e-6)/1000 + 0 }
func ceil3(v float64) float64  { return math.Ceil(v*1000-1e-6)/1000 + 0 }

// fillMetrics adds what the metrics API and the pods' own metrics showed.
func fillMetrics(sc *reports.Scenario, obs *Observation) {
	sc.Usage, sc.PodTraffic, sc.PodRates = nil, nil, nil
	for _, u := range obs.Usage {
		p := reports.UsagePoint{T: offset(obs.Origin, u.At), Pods: len(u.Pods)}
		for _, r := range u.Pods {
			p.PodsCPUMilli += r.CPUMilli
			p.PodsMemoryMiB += r.MemoryMiB
		}
		p.PodsMemoryMiB = round(p.PodsMemoryMiB, 1)
		if len(u.Nodes) > 0 {
			p.NodesCPUMilli = map[string]float64{}
			for n, r := range u.Nodes {
				p.NodesCPUMilli[n] = r.CPUMilli
			}
		}
		sc.Usage = append(sc.Usage, p)
	}
	shares := Shares(obs.App)
	var all float64
	for _, s := range shares {
		all += s.Requests
	}
	for _, s := range shares {
		t := reports.PodTraffic{Pod: s.Pod, Requests: s.Requests, Errors: s.Errors}
		if s.P99 >= 0 {
			v := round(float64(s.P99)/float64(time.Millisecond), 1)
			t.P99MS = &v
		}
		if all > 0 {
			t.Share = round(s.Requests/all, 4)
		}
		sc.PodTraffic = append(sc.PodTraffic, t)
	}
	for i := 1; i < len(obs.App); i++ {
		prev, cur := obs.App[i-1], obs.App[i]
		dt := cur.At.Sub(prev.At).Seconds()
		if dt <= 0 {
			continue
		}
		for _, pod := range slices.Sorted(maps.Keys(cur.Requests)) {
			before, seen := prev.Requests[pod]
			if !seen {
				continue
			}
			d, e := served(before, prev.Errors[pod], cur.Requests[pod], cur.Errors[pod])
			sc.PodRates = append(sc.PodRates, reports.PodRatePoint{T: offset(obs.Origin, cur.At), Pod: pod, RPS: round(d/dt, 2), ErrorsPerSec: round(e/dt, 2)})
		}
	}
	sc.MetricsProblems = obs.MetricsProblems
	sc.HPA, sc.HPAEvents = nil, nil
	for _, h := range obs.HPA {
		sc.HPA = append(sc.HPA, reports.HPAPoint{T: offset(obs.Origin, h.At), Name: h.Name, Min: h.Min, Max: h.Max,
			Current: h.Current, Desired: h.Desired, Metrics: h.Metrics, Conditions: h.Conditions})
	}
	for _, e := range obs.HPAEvents {
		sc.HPAEvents = append(sc.HPAEvents, reports.HPAEvent{T: offset(obs.Origin, e.At), Name: e.Name, Type: e.Type, Reason: e.Reason, Message: e.Message})
	}
}
