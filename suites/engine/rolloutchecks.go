package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
)

// Check ids of rollout checks.
const (
	CheckRolloutComplete = "rollout-complete"
	CheckMinServing      = "min-serving"
	CheckBadDetected     = "bad-release-detected"
	CheckRolledBack      = "rolled-back"
)

func firstOfKind(o *Observation, kind string) (faults.Event, bool) {
	for _, e := range o.Faults {
		if e.Kind == kind {
			return e, true
		}
	}
	return faults.Event{}, false
}

// effectWithin judges how long the first fault of kind took to show its
// effect (to complete, to be detected) against bound.
func effectWithin(o *Observation, id, name, kind string, bound time.Duration) reports.Check {
	e, ok := firstOfKind(o, kind)
	if !ok || !e.TookEffect() {
		why := "no " + kind + " was issued"
		if ok {
			why = e.Error
		}
		return withDetail(reports.Unmeasured(id, name, "<=", bound.Seconds(), "s", "never"), why)
	}
	c := reports.AtMost(id, name, secs(e.EffectLatency()), bound.Seconds(), "s")
	c.Detail = fmt.Sprintf("from %.1fs to %.1fs of the load", e.Issued.Sub(o.Origin).Seconds(), e.InEffect.Sub(o.Origin).Seconds())
	return c
}

// RolloutCompletedWithin passes when the rollout completed (every replica
// updated, ready, available) within bound: the Deployment's
// progressDeadlineSeconds. A rollout still going when the gate stopped
// watching, before its deadline and without the Deployment declaring it
// stuck, is not judged: the run was too short to tell.
func RolloutCompletedWithin(bound time.Duration) Check {
	name := fmt.Sprintf("rollout complete within %s (progressDeadlineSeconds)", bound)
	return Check{
		ID: CheckRolloutComplete, Spec: fmt.Sprintf("completes the rollout within its progress deadline (%s)", bound),
		Eval: func(o *Observation) reports.Check {
			e, ok := firstOfKind(o, "rollout")
			if ok && !e.TookEffect() && !strings.Contains(e.Error, "ProgressDeadlineExceeded") {
				if watched := o.End.Sub(e.Issued); watched < bound {
					return reports.NotJudged(CheckRolloutComplete, name, fmt.Sprintf(
						"the rollout had not completed %.0fs after it began, when the gate stopped watching, and its deadline of %s had not passed (lengthen --duration to judge it): %s",
						watched.Seconds(), bound, e.Error))
				}
			}
			return effectWithin(o, CheckRolloutComplete, name, "rollout", bound)
		},
	}
}

// ServingAtLeast passes when, from the first fault on, at least min pods
// served (Ready, not terminating) at every moment: what the rollout
// strategy promises (why says how min was derived).
func ServingAtLeast(min int, why string) Check {
	name := fmt.Sprintf("serving replicas never below %d", min)
	return Check{
		ID: CheckMinServing, Spec: fmt.Sprintf("never has fewer than %d replicas serving (%s)", min, why),
		Eval: func(o *Observation) reports.Check {
			if min <= 0 {
				// any count passes: the check would judge nothing
				return reports.NotJudged(CheckMinServing, name, fmt.Sprintf("%s: the strategy lets every replica be unavailable at once, so it promises no serving minimum", why))
			}
			if len(o.Faults) == 0 {
				return withDetail(reports.Unmeasured(CheckMinServing, name, ">=", float64(min), "replicas", "not measured"), "no fault was issued")
			}
			low, at := o.Pods.LowestServing(o.Faults[0].Issued, o.End)
			c := reports.AtLeast(CheckMinServing, name, float64(low), float64(min), "replicas")
			c.Detail = fmt.Sprintf("%s; lowest %d serving at %.1fs", why, low, at.Sub(o.Origin).Seconds())
			return c
		},
	}
}

// BadReleaseDetectedWithin passes when the release that could never become
// Ready was declared failed within bound of its rollout.
func BadReleaseDetectedWithin(bound time.Duration) Check {
	name := fmt.Sprintf("bad release detected within %s", bound)
	return Check{
		ID: CheckBadDetected, Spec: fmt.Sprintf("detects the release that cannot become Ready within %s", bound),
		Eval: func(o *Observation) reports.Check {
			return effectWithin(o, CheckBadDetected, name, "bad-release", bound)
		},
	}
}

// RolledBackWithin passes when the rollback (the previous template applied
// again, as kubectl rollout undo does) completed within bound: the previous
// release serves in full again.
func RolledBackWithin(bound time.Duration) Check {
	name := fmt.Sprintf("rolled back within %s", bound)
	return Check{
		ID: CheckRolledBack, Spec: fmt.Sprintf("rolls back to the previous release within %s", bound),
		Eval: func(o *Observation) reports.Check {
			e, ok := firstOfKind(o, "bad-release")
			switch {
			case ok && !e.TookEffect():
				return withDetail(reports.Unmeasured(CheckRolledBack, name, "<=", bound.Seconds(), "s", "not measured"),
					"the bad release was never detected, so no rollback was judged: "+e.Error)
			case !ok || e.RevertIssued.IsZero():
				return withDetail(reports.Unmeasured(CheckRolledBack, name, "<=", bound.Seconds(), "s", "not measured"), "no rollback was started")
			case e.Reverted.IsZero():
				return withDetail(reports.Unmeasured(CheckRolledBack, name, "<=", bound.Seconds(), "s", "never"), "the rollback did not complete: "+e.RevertError)
			}
			c := reports.AtMost(CheckRolledBack, name, secs(e.Reverted.Sub(e.RevertIssued)), bound.Seconds(), "s")
			c.Detail = fmt.Sprintf("detected %.1fs after the bad rollout, restored %.1fs after that", e.EffectLatency().Seconds(), e.Reverted.Sub(e.RevertIssued).Seconds())
			return c
		},
	}
}

// CheckConfigServed is the id of ConfigServedWithin.
const CheckConfigServed = "config-served"

// ConfigServedWithin passes when, within bound of the configuration change,
// every answer of path showed the new values (the change's fault is in
// effect then): the change reached every pod behind the Service.
func ConfigServedWithin(bound time.Duration, path string) Check {
	name := fmt.Sprintf("new configuration served by every answer of %s within %s", path, bound)
	return Check{
		ID: CheckConfigServed, Spec: fmt.Sprintf("serves the changed configuration from every pod within %s of the change", bound),
		Eval: func(o *Observation) reports.Check {
			return effectWithin(o, CheckConfigServed, name, "config-change", bound)
		},
	}
}
