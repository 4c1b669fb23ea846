package suites

import (
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"
)

// scenarioFrom builds a 60s run at 100 req/s with the given failures (as
// [start ms, end ms) ranges) and kills at the given seconds.
func scenarioFrom(t *testing.T, failures [][2]int, kills []float64, recoverAfter time.Duration, cfg SelfHealingConfig) *reports.Scenario {
	t.Helper()
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := load.NewTimeline(origin)
	for i := 0; i < 6000; i++ {
		ms := i * 10
		code, msg := uint16(200), ""
		for _, f := range failures {
			if ms >= f[0] && ms < f[1] {
				code, msg = 0, "connection refused"
			}
		}
		tl.Add(origin.Add(time.Duration(ms)*time.Millisecond), 2*time.Millisecond, code, msg)
	}
	var evs []faults.Event
	ready := []ReadySample{{At: origin, Ready: 3, Desired: 3}}
	for i, k := range kills {
		at := origin.Add(time.Duration(k * float64(time.Second)))
		evs = append(evs, faults.Event{ID: "k" + string(rune('1'+i)), Kind: "pod-kill", Issued: at, InEffect: at.Add(50 * time.Millisecond)})
		ready = append(ready, ReadySample{At: at.Add(10 * time.Millisecond), Ready: 2, Desired: 3})
		if recoverAfter > 0 {
			ready = append(ready, ReadySample{At: at.Add(recoverAfter), Ready: 3, Desired: 3})
		}
	}
	sc := &reports.Scenario{Name: SuiteSelfHealing}
	fillScenario(sc, tl, evs, ready, origin, 100, cfg)
	sc.Finish(origin.Add(time.Minute))
	return sc
}

func checkByID(sc *reports.Scenario, id string) reports.Check {
	for _, c := range sc.Checks {
		if c.ID == id {
			return c
		}
	}
	return reports.Check{}
}

func TestFillScenarioHealthy(t *testing.T) {
	cfg := DefaultSelfHealing()
	sc := scenarioFrom(t, nil, []float64{10, 18, 26, 34, 42}, 2*time.Second, cfg)
	if sc.Status != reports.StatusPassed {
		for _, c := range sc.Checks {
			t.Log(c.Message())
		}
		t.Fatalf("status %s", sc.Status)
	}
	if got := checkByID(sc, CheckRecovery).Measured; got != 2 {
		t.Fatalf("recovery %v", got)
	}
	if len(sc.Recoveries) != 5 || len(sc.Faults) != 5 || sc.Faults[0].Offset != 10 {
		t.Fatalf("recoveries %d faults %d offset %v", len(sc.Recoveries), len(sc.Faults), sc.Faults[0].Offset)
	}
	if len(sc.Timeline.Windows) != 60 || sc.Timeline.Total != 6000 {
		t.Fatalf("windows %d total %d", len(sc.Timeline.Windows), sc.Timeline.Total)
	}
}

func TestFillScenarioBreaches(t *testing.T) {
	cfg := DefaultSelfHealing()
	// a 3s outage after one kill: 300 of 6000 fail (95%), longest 3s
	sc := scenarioFrom(t, [][2]int{{10000, 13000}}, []float64{10, 18, 26, 34, 42}, 4*time.Second, cfg)
	if sc.Status != reports.StatusFailed {
		t.Fatalf("status %s", sc.Status)
	}
	av := checkByID(sc, CheckAvailability)
	if av.Passed || av.Measured != 95 {
		t.Fatalf("availability %+v", av)
	}
	li := checkByID(sc, CheckFailedInterval)
	if li.Passed || li.Measured < 2.99 || li.Measured > 3.01 {
		t.Fatalf("longest interval %+v", li)
	}
	if !checkByID(sc, CheckRecovery).Passed {
		t.Fatal("4s recovery is within 30s")
	}
	// never recovered
	sc = scenarioFrom(t, nil, []float64{10}, 0, cfg)
	if rc := checkByID(sc, CheckRecovery); rc.Passed || sc.Recoveries[0].Seconds != -1 {
		t.Fatalf("recovery %+v %+v", rc, sc.Recoveries)
	}
	// fewer kills took effect than planned
	cfg.PodKill.Times = 2
	sc = scenarioFrom(t, nil, []float64{10}, time.Second, cfg)
	if fe := checkByID(sc, CheckFaultsInEffect); fe.Passed || fe.Measured != 1 || fe.Threshold != 2 {
		t.Fatalf("faults in effect %+v", fe)
	}
}

func TestSelfHealingConfigValidate(t *testing.T) {
	if err := DefaultSelfHealing().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultSelfHealing()
	c.PodKill.Times = 7 // last kill at 58s of a 60s run
	if err := c.Validate(); err == nil {
		t.Fatal("kill too close to the end accepted")
	}
	if _, err := ParseSuites("self-healing,bogus"); err == nil {
		t.Fatal("unknown suite accepted")
	}
	if s, err := ParseSuites("all"); err != nil || len(s) != len(KnownSuites) {
		t.Fatalf("all = %v %v", s, err)
	}
}
