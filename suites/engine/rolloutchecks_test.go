package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
)

func TestRolloutChecks(t *testing.T) {
	o := observation(nil, nil, 0)
	roll := faults.Event{ID: "r", Kind: "rollout", Issued: at(10), InEffect: at(34)}
	bad := faults.Event{ID: "b", Kind: "bad-release", Issued: at(10), InEffect: at(40), RevertIssued: at(40), Reverted: at(52)}
	o.Faults = []faults.Event{roll}
	if c := RolloutCompletedWithin(600 * time.Second).Eval(o); !c.Passed || *c.Measured != 24 {
		t.Fatalf("rollout: %s", c.Message())
	}
	if c := RolloutCompletedWithin(20 * time.Second).Eval(o); c.Passed {
		t.Fatalf("slow rollout: %s", c.Message())
	}
	o.Faults[0].InEffect, o.Faults[0].Error = time.Time{}, "the rollout stopped progressing (ProgressDeadlineExceeded)"
	if c := RolloutCompletedWithin(600 * time.Second).Eval(o); c.Passed || c.MeasuredValue() != "never" {
		t.Fatalf("stuck rollout: %s", c.Message())
	}
	// still going when the gate stopped watching, long before its deadline:
	// too short a run to tell
	o.Faults[0].Error = "not in effect within 80s: context deadline exceeded"
	if c := RolloutCompletedWithin(600 * time.Second).Eval(o); !c.Skipped || !strings.Contains(c.Detail, "lengthen --duration") {
		t.Fatalf("unfinished rollout: %+v", c)
	}
	if c := RolloutCompletedWithin(time.Second).Eval(o); c.Passed || c.Skipped {
		t.Fatalf("a rollout past its deadline: %s", c.Message())
	}

	o.Faults = []faults.Event{bad}
	if c := BadReleaseDetectedWithin(45 * time.Second).Eval(o); !c.Passed || *c.Measured != 30 {
		t.Fatalf("detected: %s", c.Message())
	}
	if c := RolledBackWithin(60 * time.Second).Eval(o); !c.Passed || *c.Measured != 12 {
		t.Fatalf("rolled back: %s", c.Message())
	}
	if c := RolledBackWithin(time.Second).Eval(o); c.Passed {
		t.Fatalf("slow rollback: %s", c.Message())
	}
	// a bad release that became Ready was never detected: nothing rolled back
	o.Faults[0].InEffect, o.Faults[0].Error = time.Time{}, "the release that was meant to fail became Ready"
	if c := BadReleaseDetectedWithin(45 * time.Second).Eval(o); c.Passed {
		t.Fatalf("undetected: %s", c.Message())
	}
	if c := RolledBackWithin(60 * time.Second).Eval(o); c.Passed || !strings.Contains(c.Detail, "never detected") {
		t.Fatalf("undetected rollback: %s", c.Message())
	}

	// serving never below what the strategy allows: 3 desired, one killed at 10
	o = observation(nil, []float64{10}, 2*time.Second)
	if c := ServingAtLeast(3, "maxUnavailable 0").Eval(o); c.Passed || *c.Measured != 2 {
		t.Fatalf("min serving: %s", c.Message())
	}
	if c := ServingAtLeast(2, "maxUnavailable 1").Eval(o); !c.Passed {
		t.Fatalf("min serving: %s", c.Message())
	}
	// a strategy that lets every replica go (Recreate) promises no minimum:
	// judging it would pass anything
	if c := ServingAtLeast(0, "Recreate").Eval(o); !c.Skipped || !strings.Contains(c.Detail, "promises no serving minimum") {
		t.Fatalf("vacuous min serving: %+v", c)
	}
}
