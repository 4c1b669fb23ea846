package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"
)

// observation builds a 60s run at 100 req/s with failures in the given
// [start ms, end ms) ranges, and one pod kill at each of kills (seconds),
// each replaced after recoverAfter (0: never).
func observation(failures [][2]int, kills []float64, recoverAfter time.Duration) *Observation {
	tl := load.NewTimeline(t0)
	for i := 0; i < 6000; i++ {
		ms := i * 10
		code, msg := uint16(200), ""
		for _, f := range failures {
			if ms >= f[0] && ms < f[1] {
				code, msg = 0, "connection refused"
			}
		}
		tl.Add(t0.Add(time.Duration(ms)*time.Millisecond), 2*time.Millisecond, code, msg)
	}
	rows := []change{serving(-1, "a", "w1"), serving(-1, "b", "w2"), serving(-1, "c", "w3")}
	var evs []faults.Event
	for i, k := range kills {
		victim := []string{"a", "b", "c"}[i%3]
		repl := victim + "'"
		evs = append(evs, faults.Event{ID: "k" + string(rune('1'+i)), Kind: "pod-kill", Issued: at(k), InEffect: at(k + .05),
			Targets: []faults.Target{{Kind: "pod", Name: victim, UID: victim}}})
		rows = append(rows, change{s: k + .01, pod: victim, ready: true, term: true}, change{s: k + .02, pod: repl})
		if recoverAfter > 0 {
			rows = append(rows, serving(k+recoverAfter.Seconds(), repl, "w1"))
		}
	}
	// the history is in observation order
	sortChanges(rows)
	h := history(rows...)
	h.Desired[0].At = at(-1)
	obs := &Observation{Origin: t0, End: at(90), Timeline: tl, TargetRate: 100, Planned: len(kills), Faults: evs, Pods: h}
	obs.Summary = tl.Summarize()
	obs.Recoveries = recoveries(h, evs)
	return obs
}

func sortChanges(c []change) {
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].s < c[j-1].s; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}

func evalAll(o *Observation, checks ...Check) map[string]reports.Check {
	out := map[string]reports.Check{}
	for _, c := range checks {
		out[c.ID] = c.Eval(o)
	}
	return out
}

func defaults() []Check {
	return []Check{Availability(99.5), LongestFailedInterval(2 * time.Second), RecoveryWithin(30*time.Second, "kill"),
		FaultsTookEffect("kill"), LoadRate(.95), LatencyP99(500 * time.Millisecond)}
}

func TestChecksPassAHealthyRun(t *testing.T) {
	got := evalAll(observation(nil, []float64{10, 18, 26, 34, 42}, 2*time.Second), defaults()...)
	for id, c := range got {
		if !c.Passed {
			t.Errorf("%s: %s", id, c.Message())
		}
	}
	if rc := got[CheckRecovery]; *rc.Measured < 1.99 || *rc.Measured > 2.01 {
		t.Fatalf("recovery %s", rc.Message())
	}
	if fe := got[CheckFaultsInEffect]; *fe.Measured != 5 || !strings.Contains(fe.Detail, "median 0.1s") {
		t.Fatalf("faults %s", fe.Message())
	}
}

func TestChecksFailWhatTheyMust(t *testing.T) {
	// a 3s outage after one kill: 300 of 6000 fail (95%), longest 3s
	got := evalAll(observation([][2]int{{10000, 13000}}, []float64{10, 18, 26, 34, 42}, 4*time.Second), defaults()...)
	if av := got[CheckAvailability]; av.Passed || *av.Measured != 95 || !strings.Contains(av.Detail, "300 of 6000") {
		t.Fatalf("availability %s", av.Message())
	}
	if li := got[CheckFailedInterval]; li.Passed || *li.Measured < 2.99 || *li.Measured > 3.01 {
		t.Fatalf("longest interval %s", li.Message())
	}
	if !got[CheckRecovery].Passed {
		t.Fatal("4s recovery is within 30s")
	}

	// replacements that never become Ready: "never", not a zero
	rc := evalAll(observation(nil, []float64{10, 18}, 0), RecoveryWithin(30*time.Second, "kill"))[CheckRecovery]
	if rc.Passed || rc.Measured != nil || rc.MeasuredValue() != "never" || !strings.Contains(rc.Detail, "2 of 2 kill(s) never recovered") ||
		!strings.Contains(rc.Detail, "1 of 3 replicas serving at the end") {
		t.Fatalf("never recovered: %s", rc.Message())
	}

	// slow recovery
	rc = evalAll(observation(nil, []float64{10}, 40*time.Second), RecoveryWithin(30*time.Second, "kill"))[CheckRecovery]
	if rc.Passed || *rc.Measured != 40 {
		t.Fatalf("slow recovery: %s", rc.Message())
	}

	// fewer kills took effect than planned: one found nothing to hit, one
	// was never due (the run ended early)
	o := observation(nil, []float64{10, 18}, time.Second)
	o.Planned = 3
	o.Faults[1].InEffect, o.Faults[1].Stage, o.Faults[1].Error = time.Time{}, faults.StagePlan, "no Ready pod matches"
	o.Recoveries = recoveries(o.Pods, o.Faults)
	fe := evalAll(o, FaultsTookEffect("kill"))[CheckFaultsInEffect]
	if fe.Passed || *fe.Measured != 1 || fe.Threshold != 3 || !strings.Contains(fe.Detail, "1 never issued") || !strings.Contains(fe.Detail, "no Ready pod") {
		t.Fatalf("faults in effect: %s", fe.Message())
	}
	if o.Recoveries[1].Applied {
		t.Fatal("a kill that found nothing to hit has nothing to recover from")
	}

	// nothing applied at all: no recovery was measured, which is no pass
	o.Faults = o.Faults[1:2]
	o.Recoveries = recoveries(o.Pods, o.Faults)
	if rc := evalAll(o, RecoveryWithin(30*time.Second, "kill"))[CheckRecovery]; rc.Passed || rc.Measured != nil {
		t.Fatalf("no kill applied: %s", rc.Message())
	}
}

func TestLoadRateAndLatency(t *testing.T) {
	o := observation(nil, nil, 0)
	o.TargetRate = 200 // the run sent half of that
	got := evalAll(o, LoadRate(.95), LatencyP99(time.Millisecond))
	if lr := got[CheckLoadRate]; lr.Passed || *lr.Measured != 100 || lr.Threshold != 190 {
		t.Fatalf("load rate %s", lr.Message())
	}
	if p := got[CheckP99]; p.Passed || *p.Measured != 2 {
		t.Fatalf("p99 %s", p.Message())
	}
	// every request failed: no latency to judge, and no pass
	allFail := observation([][2]int{{0, 60000}}, nil, 0)
	if p := evalAll(allFail, LatencyP99(time.Second))[CheckP99]; p.Passed || p.Measured != nil {
		t.Fatalf("p99 without successes: %s", p.Message())
	}
}

func TestScenarioValidate(t *testing.T) {
	ok := Scenario{Name: "s", Load: Load{Rate: 10, Duration: 30 * time.Second, Timeout: time.Second},
		Steps:  []Step{{Fault: func(Env) (faults.Fault, error) { return nil, nil }, At: 5 * time.Second, Every: 5 * time.Second, Times: 3}},
		Checks: []Check{Availability(99)}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*Scenario){
		"no checks":                func(s *Scenario) { s.Checks = nil },
		"twice":                    func(s *Scenario) { s.Checks = append(s.Checks, Availability(90)) },
		"after the load ends":      func(s *Scenario) { s.Steps[0].Times = 10 },
		"has no fault":             func(s *Scenario) { s.Steps[0].Fault = nil },
		"rate 0":                   func(s *Scenario) { s.Load.Rate = 0 },
		"must be a non-empty word": func(s *Scenario) { s.Name = "a b" },
		"11 load agents":           func(s *Scenario) { s.Load.Agents = 11 },
		"-1 load agents":           func(s *Scenario) { s.Load.Agents = -1 },
	}
	withAgents := ok
	withAgents.Load.Agents = 10
	if err := withAgents.Validate(); err != nil {
		t.Fatalf("10 agents at 10 req/s: %v", err)
	}
	if o := withAgents.LoadOptions(Target{URL: "http://127.0.0.1:30080/", ServiceURL: "http://web.shop.svc:80/"}); !o.InCluster || o.Target != "http://web.shop.svc:80/" {
		t.Fatalf("agents' load options %+v", o)
	}
	for want, mod := range cases {
		s := ok
		s.Steps = append([]Step(nil), ok.Steps...)
		s.Checks = append([]Check(nil), ok.Checks...)
		mod(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
}

// A measured value is rounded against its check: 99.4996% does not pass
// ">= 99.5%" by becoming 99.5, and 2.0001s does not pass "<= 2s".
func TestRoundingNeverFlipsAVerdict(t *testing.T) {
	for _, c := range []struct {
		got, want float64
	}{{floor3(99.4996), 99.499}, {floor3(100), 100}, {ceil3(2.0001), 2.001}, {ceil3(24), 24}, {ceil3(0.1 + 0.2), 0.3}} {
		if c.got != c.want {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	if math.Signbit(ceil3(0)) || math.Signbit(floor3(0)) {
		t.Fatal("a zero is reported as -0")
	}
	if c := reports.AtLeast("a", "a", floor3(99.4996), 99.5, "%"); c.Passed {
		t.Fatal("99.4996% passed >= 99.5%")
	}
}
