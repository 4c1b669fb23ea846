package engine

import (
	"fmt"
	"math"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
)

// Check ids of node-level checks.
const (
	CheckNodeNotReady      = "node-notready"
	CheckEndpointsRemoved  = "endpoints-removed"
	CheckAvailabilityAfter = "availability-after-endpoints-moved"
	CheckReplacementReady  = "replacement-ready"
	CheckNodeRejoin        = "node-rejoin"
	CheckFailedRequests    = "failed-requests"
	CheckBudgetRespected   = "budget-respected"
)

// nodeFault returns the first event of the observation that hit a node,
// and the node's name.
func nodeFault(o *Observation) (faults.Event, string, bool) {
	for _, e := range o.Faults {
		for _, t := range e.Targets {
			if t.Kind == "node" {
				return e, t.Name, true
			}
		}
	}
	return faults.Event{}, "", false
}

func cluster(c reports.Check) reports.Check {
	c.Scope = reports.ScopeCluster
	return c
}

// secs is a duration measured against an at-most bound.
func secs(d time.Duration) float64 { return ceil3(d.Seconds()) }

// ProxyLag bounds how long after the API removed an endpoint the proxies
// may still route to it: failures in that window are the cluster's
// catching up, failures after it the workload's.
const ProxyLag = 5 * time.Second

// trafficMoved returns when the EndpointSlices stopped listing the pods the
// node fault took as ready (api), and when requests stopped being routed to
// them (moved: the end of the burst of failures that goes on while the
// proxies apply the change, at most ProxyLag later).
func trafficMoved(o *Observation, e faults.Event) (api, moved time.Time, ok bool) {
	api, ok = EndpointsGone(o.Endpoints, o.Victims(e), e.Issued)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	end := o.Origin.Add(o.Timeline.BurstEnd(api.Sub(o.Origin), time.Second))
	if lim := api.Add(ProxyLag); end.After(lim) {
		end = lim
	}
	return api, end, true
}

// NodeNotReadyWithin passes when the control plane marked the faulted node
// NotReady within bound of the fault: how fast the cluster notices is its
// settings' business (node-monitor-grace-period), not the workload's.
func NodeNotReadyWithin(bound time.Duration) Check {
	name := fmt.Sprintf("node marked NotReady within %s", bound)
	return Check{
		ID: CheckNodeNotReady, Spec: fmt.Sprintf("has the control plane mark the lost node NotReady within %s (the cluster's settings decide this)", bound),
		Eval: func(o *Observation) reports.Check {
			e, node, ok := nodeFault(o)
			if !ok || !e.TookEffect() {
				why := "no node fault was applied"
				if ok {
					why = fmt.Sprintf("%s never went NotReady: %s", node, e.Error)
				}
				return cluster(withDetail(reports.Unmeasured(CheckNodeNotReady, name, "<=", bound.Seconds(), "s", "never"), why))
			}
			c := cluster(reports.AtMost(CheckNodeNotReady, name, secs(e.EffectLatency()), bound.Seconds(), "s"))
			c.Detail = fmt.Sprintf("%s NotReady %.1fs after the fault", node, e.EffectLatency().Seconds())
			return c
		},
	}
}

// EndpointsRemovedWithin passes when, once the node was NotReady, requests
// stopped going to the pods on it within bound: the API removes them from
// the Service's EndpointSlices, then the proxies apply that (up to
// ProxyLag); until then the Service sends requests to pods that are gone.
func EndpointsRemovedWithin(bound time.Duration) Check {
	name := fmt.Sprintf("lost pods out of the Service within %s of NotReady", bound)
	return Check{
		ID: CheckEndpointsRemoved, Spec: fmt.Sprintf("stops sending traffic to the lost pods within %s of the node going NotReady (the cluster's settings decide this)", bound),
		Eval: func(o *Observation) reports.Check {
			e, node, ok := nodeFault(o)
			if !ok || !e.TookEffect() {
				return cluster(withDetail(reports.Unmeasured(CheckEndpointsRemoved, name, "<=", bound.Seconds(), "s", "never"), "the node never went NotReady"))
			}
			if len(o.Victims(e)) == 0 {
				return reports.NotJudged(CheckEndpointsRemoved, name, fmt.Sprintf("no serving target pod was on %s: the Service had nothing to move", node))
			}
			api, moved, ok := trafficMoved(o, e)
			if !ok {
				return cluster(withDetail(reports.Unmeasured(CheckEndpointsRemoved, name, "<=", bound.Seconds(), "s", "never"),
					fmt.Sprintf("pods on %s were still ready endpoints at the end", node)))
			}
			after := max(moved.Sub(e.InEffect), 0)
			c := cluster(reports.AtMost(CheckEndpointsRemoved, name, secs(after), bound.Seconds(), "s"))
			c.Detail = fmt.Sprintf("the API removed them %.1fs after NotReady, the last request routed to them started %.1fs after NotReady",
				max(api.Sub(e.InEffect), 0).Seconds(), after.Seconds())
			return c
		},
	}
}

// AvailabilityAfterEndpointsMoved passes when, from the moment the lost
// pods left the Service to the end of the load, at least minPercent of the
// requests succeeded: what the workload can fix (enough replicas elsewhere),
// apart from the window the cluster's detection decides.
func AvailabilityAfterEndpointsMoved(minPercent float64) Check {
	name := fmt.Sprintf("availability >= %g%% once the endpoints moved", minPercent)
	return Check{
		ID: CheckAvailabilityAfter, Spec: fmt.Sprintf("keeps availability at or above %g%% once the lost pods left the Service", minPercent),
		Eval: func(o *Observation) reports.Check {
			e, node, ok := nodeFault(o)
			if !ok || !e.TookEffect() {
				return withDetail(reports.Unmeasured(CheckAvailabilityAfter, name, ">=", minPercent, "%", "not measured"), "the node never went NotReady")
			}
			if len(o.Victims(e)) == 0 {
				return reports.NotJudged(CheckAvailabilityAfter, name, fmt.Sprintf("no serving target pod was on %s: no endpoint had to move", node))
			}
			_, gone, ok := trafficMoved(o, e)
			if !ok {
				return withDetail(reports.Unmeasured(CheckAvailabilityAfter, name, ">=", minPercent, "%", "never"), "the lost pods never left the Service")
			}
			total, okN := o.Timeline.Between(gone.Sub(o.Origin)+time.Nanosecond, o.End.Sub(o.Origin)+time.Hour)
			if total == 0 {
				return withDetail(reports.Unmeasured(CheckAvailabilityAfter, name, ">=", minPercent, "%", "no request"), "no request after the endpoints moved")
			}
			c := reports.AtLeast(CheckAvailabilityAfter, name, floor3(100*float64(okN)/float64(total)), minPercent, "%")
			c.Detail = fmt.Sprintf("%d of %d requests failed from %.1fs on; before that, %d of %d (the detection window)",
				total-okN, total, gone.Sub(o.Origin).Seconds(), o.Summary.Failed-(total-okN), o.Summary.Total-total)
			return c
		},
	}
}

// ReplacementsReadyWithin passes when the pods lost with the node were
// replaced (the desired count serving again, elsewhere) within what the
// workload declares: the time the control plane took to notice, plus the
// pods' own toleration of an unreachable node (tolerationSeconds, 300s by
// default), plus recovery. A run too short to reach that eviction does not
// judge it, and says when it would happen; nor does a node restarted before
// the eviction, or pods that tolerate the loss for ever (math.MaxInt64).
func ReplacementsReadyWithin(toleration, recovery time.Duration) Check {
	name := fmt.Sprintf("replacements serving within NotReady + %s toleration + %s", toleration, recovery)
	return Check{
		ID: CheckReplacementReady, Spec: "replaces the lost pods elsewhere within the time its tolerations allow",
		Eval: func(o *Observation) reports.Check {
			e, node, ok := nodeFault(o)
			if !ok || !e.TookEffect() {
				return withDetail(reports.Unmeasured(CheckReplacementReady, name, "<=", 0, "s", "not measured"), "the node never went NotReady")
			}
			if toleration == math.MaxInt64 { // workload.NeverEvicted
				return reports.NotJudged(CheckReplacementReady, "replacements serving after eviction",
					"the pods tolerate an unreachable node for ever (a NoExecute toleration without tolerationSeconds): they are never evicted, so never replaced")
			}
			bound := e.EffectLatency() + toleration + recovery
			evictAt := e.InEffect.Add(toleration)
			victims := o.Victims(e)
			at, ok := o.Pods.RecoveredAt(e.Issued, victims)
			// replaced while the node was down, or whole again only with pods
			// on the node once it was back after the eviction: either is
			// judged, however soon the run ended after it
			replaced := ok && len(victims) > 0 && (e.RevertIssued.IsZero() || at.Before(e.RevertIssued))
			onlyWithNode := ok && len(victims) > 0 && !e.RevertIssued.IsZero() && !e.RevertIssued.Before(evictAt) && !at.Before(e.RevertIssued) &&
				o.Pods.ServingAt(at, o.Pods.onNode(at, node, victims)) < o.Pods.DesiredAt(at)
			if !replaced && !onlyWithNode && evictAt.Add(recovery).After(o.End) {
				return reports.NotJudged(CheckReplacementReady, name, fmt.Sprintf(
					"the pods tolerate an unreachable node for %s: eviction would come at %.0fs and its %s recovery budget end after this run's end at %.0fs, with no replacement seen (declare a shorter tolerationSeconds to judge it)",
					toleration, evictAt.Sub(o.Origin).Seconds(), recovery, o.End.Sub(o.Origin).Seconds()))
			}
			if !e.RevertIssued.IsZero() && e.RevertIssued.Before(evictAt) {
				// the same pods come back with the node: nothing replaced them
				return reports.NotJudged(CheckReplacementReady, name, fmt.Sprintf(
					"the node was restarted at %.0fs, before the pods' eviction at %.0fs (keep it down longer with --node-down-for to judge replacement)",
					e.RevertIssued.Sub(o.Origin).Seconds(), evictAt.Sub(o.Origin).Seconds()))
			}
			if len(victims) == 0 {
				return reports.NotJudged(CheckReplacementReady, name, fmt.Sprintf("no serving target pod was on %s: nothing had to be replaced", node))
			}
			var evicted time.Time
			for _, ch := range o.Pods.Pods {
				if victims[ch.UID] && ch.Terminating && !ch.At.Before(e.Issued) && (evicted.IsZero() || ch.At.Before(evicted)) {
					evicted = ch.At
				}
			}
			seen := "no eviction seen"
			if !evicted.IsZero() {
				seen = fmt.Sprintf("evicted %.1fs after NotReady", evicted.Sub(e.InEffect).Seconds())
			}
			if onlyWithNode {
				// whole again only with pods on the lost node, once it was
				// back: nothing replaced them elsewhere while it was down
				return withDetail(reports.Unmeasured(CheckReplacementReady, name, "<=", bound.Seconds(), "s", "never elsewhere"),
					fmt.Sprintf("%d pod(s) lost with %s; %s; all serving again %.1fs after the fault, only with pods on %s once it was restarted (at %.1fs): nothing replaced them elsewhere while it was down",
						len(victims), node, seen, at.Sub(e.Issued).Seconds(), node, e.RevertIssued.Sub(e.Issued).Seconds()))
			}
			if !ok {
				return withDetail(reports.Unmeasured(CheckReplacementReady, name, "<=", bound.Seconds(), "s", "never"),
					fmt.Sprintf("%d pod(s) lost with %s; %s; %d of %d replicas serving at the end", len(victims), node, seen,
						o.Pods.ServingAt(o.End, victims), o.Pods.DesiredAt(o.End)))
			}
			c := reports.AtMost(CheckReplacementReady, name, secs(at.Sub(e.Issued)), round(bound.Seconds(), 3), "s")
			c.Detail = fmt.Sprintf("%d pod(s) lost with %s; NotReady after %.1fs, %s, all serving again %.1fs after the fault",
				len(victims), node, e.EffectLatency().Seconds(), seen, at.Sub(e.Issued).Seconds())
			return c
		},
	}
}

// NodeRejoinWithin passes when the node, once restarted (the revert), was
// Ready with its networking within bound.
func NodeRejoinWithin(bound time.Duration) Check {
	name := fmt.Sprintf("node Ready again within %s of its restart", bound)
	return Check{
		ID: CheckNodeRejoin, Spec: fmt.Sprintf("takes the node back Ready within %s of its restart (the cluster's settings decide this)", bound),
		Eval: func(o *Observation) reports.Check {
			e, node, ok := nodeFault(o)
			switch {
			case !ok || e.RevertIssued.IsZero():
				return cluster(withDetail(reports.Unmeasured(CheckNodeRejoin, name, "<=", bound.Seconds(), "s", "not measured"), "the node was not restarted"))
			case e.Reverted.IsZero():
				return cluster(withDetail(reports.Unmeasured(CheckNodeRejoin, name, "<=", bound.Seconds(), "s", "never"), node+" did not come back: "+e.RevertError))
			}
			c := cluster(reports.AtMost(CheckNodeRejoin, name, secs(e.Reverted.Sub(e.RevertIssued)), bound.Seconds(), "s"))
			c.Detail = fmt.Sprintf("%s Ready with its DaemonSet pods %.1fs after the restart", node, e.Reverted.Sub(e.RevertIssued).Seconds())
			return c
		},
	}
}

// FailedRequestsAtMost passes when at most n requests failed: "zero
// downtime" means zero, not 99.5%.
func FailedRequestsAtMost(n int) Check {
	name := fmt.Sprintf("failed requests <= %d", n)
	return Check{
		ID: CheckFailedRequests, Spec: fmt.Sprintf("fails at most %d request(s)", n),
		Eval: func(o *Observation) reports.Check {
			s := o.Summary
			c := reports.AtMost(CheckFailedRequests, name, float64(s.Failed), float64(n), "requests")
			c.Detail = fmt.Sprintf("%d of %d requests failed", s.Failed, s.Total)
			if len(s.TopErrors) > 0 {
				c.Detail += fmt.Sprintf("; most often: %s (%d)", s.TopErrors[0].Message, s.TopErrors[0].Count)
			}
			return c
		},
	}
}

// BudgetRespected passes when, from the first fault on, the serving pods
// never fell below minServing: what the workload's PodDisruptionBudget
// promises (budget names it; selects says whether it selects the target's
// pods at all). No budget: not judged.
func BudgetRespected(minServing int, budget string, selects bool) Check {
	name := fmt.Sprintf("serving replicas never below %d (PodDisruptionBudget %s)", minServing, budget)
	return Check{
		ID: CheckBudgetRespected, Spec: "never takes more replicas away than the PodDisruptionBudget allows",
		Eval: func(o *Observation) reports.Check {
			if budget == "" {
				return reports.NotJudged(CheckBudgetRespected, "PodDisruptionBudget respected", "the workload has no PodDisruptionBudget for its pods")
			}
			if len(o.Faults) == 0 {
				return withDetail(reports.Unmeasured(CheckBudgetRespected, name, ">=", float64(minServing), "replicas", "not measured"), "no fault was issued")
			}
			low, at := o.Pods.LowestServing(o.Faults[0].Issued, o.End)
			c := reports.AtLeast(CheckBudgetRespected, name, float64(low), float64(minServing), "replicas")
			c.Detail = fmt.Sprintf("lowest %d serving at %.1fs", low, at.Sub(o.Origin).Seconds())
			if !selects {
				c.Detail += fmt.Sprintf("; the budget %s selects none of the target's pods, so it protects nothing", budget)
			}
			return c
		},
	}
}
