package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports/live"
)

func killStep(name string, at time.Duration, after *time.Duration) Step {
	return Step{Name: name, At: at, After: after, Times: 1,
		Fault: func(env Env) (faults.Fault, error) {
			return &faults.PodKill{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector, Count: 1}, nil
		}}
}

// A sequence runs its steps in order: a wait holds the next step until the
// replicas are back, and After counts from the end of the previous step.
func TestRunSequenceWaitsBetweenSteps(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 700*time.Millisecond, true)
	after := 300 * time.Millisecond
	sc := Scenario{
		Name: "plan", Sequential: true, Load: Load{Rate: 50, Duration: 3 * time.Second, Timeout: time.Second},
		Steps: []Step{
			killStep("first", 200*time.Millisecond, nil),
			{Name: "healed", Wait: ReplicasReady, WaitTimeout: 2 * time.Second},
			killStep("second", 0, &after),
		},
		Settle: 2 * time.Second, EffectTimeout: time.Second,
		Checks: []Check{WaitsMet(), FaultsTookEffect("kill")},
	}
	out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), sc)
	if err != nil {
		t.Fatal(err)
	}
	obs := out.Observation
	if len(obs.Faults) != 2 || len(obs.Waits) != 1 {
		t.Fatalf("%d faults, %d waits", len(obs.Faults), len(obs.Waits))
	}
	w := obs.Waits[0]
	if !w.Met || w.End.Sub(w.Start) < 400*time.Millisecond {
		t.Fatalf("wait %+v: want met once the replacement is Ready (~700ms after the kill)", w)
	}
	// the second kill: After (300ms) after the wait ended, which is once
	// the replicas had served for waitStable
	if gap := obs.Faults[1].Issued.Sub(w.End) - waitStable; gap < 250*time.Millisecond || gap > 700*time.Millisecond {
		t.Fatalf("second kill %s after the wait ended, want about 300ms", gap)
	}
	for _, c := range out.Report.Checks {
		if !c.Passed {
			t.Errorf("%s", c.Message())
		}
	}
}

// A wait that is never met ends at its timeout; the run goes on and the
// waits-met check fails with what was seen.
func TestRunSequenceReportsAWaitNotMet(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 0, false) // replacements never Ready
	sc := Scenario{
		Name: "plan", Sequential: true, Load: Load{Rate: 50, Duration: 2 * time.Second, Timeout: time.Second},
		Steps: []Step{
			killStep("kill", 100*time.Millisecond, nil),
			{Name: "healed", Wait: ReplicasReady, WaitTimeout: 500 * time.Millisecond},
		},
		Settle: 500 * time.Millisecond, EffectTimeout: time.Second,
		Checks: []Check{WaitsMet()},
	}
	out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), sc)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := out.Check(CheckWaitsMet)
	if c.Passed || !strings.Contains(c.Detail, "healed: replicas-ready not met") || !strings.Contains(c.Detail, "2 of 3 replicas serve") {
		t.Fatalf("%s", c.Message())
	}
}

// An abort rule that fires stops the load early and the steps still due;
// the run is judged (a breach), not an error.
func TestRunAbortsWhenTheBudgetBurns(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	time.AfterFunc(time.Second, func() { failing.Store(true) })
	sc := Scenario{
		Name: "plan", Sequential: true, Load: Load{Rate: 100, Duration: 8 * time.Second, Timeout: time.Second},
		Steps:  []Step{killStep("late", 6*time.Second, nil)},
		Abort:  []AbortRule{{MinAvailability: 90, Window: time.Second}},
		Settle: 500 * time.Millisecond, EffectTimeout: time.Second,
		Checks: []Check{AbortRulesHeld([]AbortRule{{MinAvailability: 90, Window: time.Second}})},
	}
	start := time.Now()
	out, err := Run(context.Background(), testEnv(t, fakeCluster(t, 0, true), srv.URL+"/"), sc)
	if err != nil {
		t.Fatalf("an abort is a breach, not an error: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the run took %s: the abort did not stop it", took)
	}
	c, _ := out.Check(CheckAbortRules)
	if c.Passed || !strings.Contains(c.Detail, "availability over the last 1s below 90%") {
		t.Fatalf("%s", c.Message())
	}
	if len(out.Observation.Faults) != 0 {
		t.Fatalf("the step due after the abort ran: %v", out.Observation.Faults)
	}
}

func TestAbortRuleJudgesOnlyAWindowWithEnoughRequests(t *testing.T) {
	avail := AbortRule{MinAvailability: 95, Window: 30 * time.Second}
	p99 := AbortRule{MaxP99: time.Second, Window: 20 * time.Second}
	for _, tc := range []struct {
		rule  AbortRule
		rc    load.Recent
		fires bool
	}{
		{avail, load.Recent{Total: 100, OK: 94}, true},
		{avail, load.Recent{Total: 100, OK: 95}, false},
		{avail, load.Recent{Total: 5, OK: 0}, false}, // too few to judge
		{p99, load.Recent{Total: 100, OK: 100, P99: 1500 * time.Millisecond}, true},
		{p99, load.Recent{Total: 100, OK: 100, P99: time.Second}, false},
		{p99, load.Recent{Total: 100, OK: 3, P99: 5 * time.Second}, false}, // p99 of 3 answers
	} {
		if got, why := tc.rule.breached(tc.rc); got != tc.fires {
			t.Errorf("%s on %+v: fired %v (%s), want %v", tc.rule, tc.rc, got, why, tc.fires)
		}
	}
}

func TestScenarioValidateRefusesSequenceStepsOutOfPlace(t *testing.T) {
	after := time.Second
	base := func() Scenario {
		return Scenario{Name: "plan", Load: Load{Rate: 10, Duration: 10 * time.Second, Timeout: time.Second}, Checks: []Check{LoadRate(.9)}}
	}
	for _, tc := range []struct {
		name string
		edit func(*Scenario)
		want string
	}{
		{"wait outside a sequence", func(s *Scenario) {
			s.Steps = []Step{{Name: "w", Wait: ReplicasReady, WaitTimeout: time.Second}}
		}, "need a sequential scenario"},
		{"after outside a sequence", func(s *Scenario) { s.Steps = []Step{killStep("k", 0, &after)} }, "need a sequential scenario"},
		{"wait without timeout", func(s *Scenario) {
			s.Sequential, s.Steps = true, []Step{{Name: "w", Wait: NodesReady}}
		}, "positive timeout"},
		{"unknown condition", func(s *Scenario) {
			s.Sequential, s.Steps = true, []Step{{Name: "w", Wait: "pods-happy", WaitTimeout: time.Second}}
		}, `unknown condition "pods-happy"`},
		{"abort rule judging both", func(s *Scenario) {
			s.Abort = []AbortRule{{MinAvailability: 90, MaxP99: time.Second, Window: time.Second}}
		}, "one of them"},
		{"abort rule without window", func(s *Scenario) { s.Abort = []AbortRule{{MinAvailability: 90}} }, "window must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.edit(&s)
			if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	s := base()
	s.Sequential = true
	s.Steps = []Step{killStep("k", time.Second, nil), {Name: "w", Wait: NodesReady, WaitTimeout: time.Second}, killStep("k2", 0, &after)}
	if err := s.Validate(); err != nil {
		t.Fatalf("a valid sequence: %v", err)
	}
}

// A step due after the load ended is not run: a fault with no load to
// judge it tests nothing; the faults check says it was never issued.
func TestRunSequenceStopsWhenTheLoadEnds(t *testing.T) {
	srv := server(t)
	after := 3 * time.Second
	sc := Scenario{
		Name: "plan", Sequential: true, Load: Load{Rate: 50, Duration: 2 * time.Second, Timeout: time.Second},
		Steps:  []Step{killStep("first", 200*time.Millisecond, nil), killStep("too-late", 0, &after)},
		Settle: time.Second, EffectTimeout: time.Second,
		Checks: []Check{FaultsTookEffect("kill")},
	}
	start := time.Now()
	out, err := Run(context.Background(), testEnv(t, fakeCluster(t, 100*time.Millisecond, true), srv.URL+"/"), sc)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the run took %s: it waited for a step past the load", took)
	}
	c, _ := out.Check(CheckFaultsInEffect)
	if c.Passed || !strings.Contains(c.Detail, "1 never issued") || len(out.Observation.Faults) != 1 {
		t.Fatalf("%s; %d faults", c.Message(), len(out.Observation.Faults))
	}
}

// shows records what a run shows on its display.
type shows struct {
	mu       sync.Mutex
	statuses []live.Status
	hidden   int
}

func (s *shows) Show(st live.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hidden > 0 {
		panic("shown after hidden")
	}
	s.statuses = append(s.statuses, st)
}

func (s *shows) Hide() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hidden++
}

// With a display (a terminal), the run shows its state every second while
// the load runs and hides it at the end: the next step until it starts,
// the requests so far, the replicas; nothing goes to the plain progress.
func TestRunShowsItsStateOnTheDisplayEverySecond(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 300*time.Millisecond, true)
	sc := Scenario{
		Name: "plan", Sequential: true, Load: Load{Rate: 50, Duration: 3500 * time.Millisecond, Timeout: time.Second},
		Steps:  []Step{killStep("first", 1500*time.Millisecond, nil)},
		Settle: time.Second, EffectTimeout: time.Second,
		Checks: []Check{FaultsTookEffect("kill")},
	}
	env := testEnv(t, cs, srv.URL+"/")
	d := &shows{}
	var progress strings.Builder
	env.Display, env.Progress = d, &progress
	if _, err := Run(context.Background(), env, sc); err != nil {
		t.Fatal(err)
	}
	if len(d.statuses) < 3 || d.hidden != 1 {
		t.Fatalf("shown %d times, hidden %d times: want about every second of the 3.5s load, then hidden once", len(d.statuses), d.hidden)
	}
	first, last := d.statuses[0], d.statuses[len(d.statuses)-1]
	if first.Scenario != "plan" || first.Planned != sc.Load.Duration || first.Desired != 3 || first.RecentSpan != load.DefaultRecent {
		t.Errorf("first status %+v", first)
	}
	if first.Next != "first" || first.Started || first.NextAt != 1500*time.Millisecond {
		t.Errorf("at %s the kill at 1.5s is next, not started: %+v", first.Elapsed, first)
	}
	if last.Next != "" || last.Elapsed <= first.Elapsed || last.Overall.Total <= first.Overall.Total || last.Overall.Total < 100 {
		t.Errorf("last status %+v after first %+v: the step done, time and requests went on", last, first)
	}
	if strings.Contains(progress.String(), "requests,") {
		t.Errorf("status lines went to the progress beside the display:\n%s", progress.String())
	}
}

// Without a display the state is a line on the progress every 5s.
func TestRunPrintsItsStateAsLinesWithoutADisplay(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 300*time.Millisecond, true)
	sc := killScenario(1)
	sc.Load.Duration = 5500 * time.Millisecond
	env := testEnv(t, cs, srv.URL+"/")
	progress, err := os.Create(filepath.Join(t.TempDir(), "progress")) // writes from several goroutines
	if err != nil {
		t.Fatal(err)
	}
	defer progress.Close()
	env.Progress = progress
	if _, err := Run(context.Background(), env, sc); err != nil {
		t.Fatal(err)
	}
	lines, err := os.ReadFile(progress.Name())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(lines), "[kills] scenario kills: 5s of 5.5s, "); n != 1 {
		t.Errorf("want one status line at 5s, got %d:\n%s", n, lines)
	}
}

// Steps on their own schedules (the gate's suites): the next injection of
// any of them, which of how many, none once all are due.
func TestNextScheduledIsTheFirstInjectionStillToCome(t *testing.T) {
	steps := []Step{
		{Name: "kill", At: 8 * time.Second, Every: 8 * time.Second, Times: 4},
		{Name: "rollout", At: 18 * time.Second, Times: 1},
	}
	for _, tc := range []struct {
		elapsed time.Duration
		name    string
		at      time.Duration
	}{
		{0, "kill 1 of 4", 8 * time.Second},
		{8 * time.Second, "kill 2 of 4", 16 * time.Second},
		{17 * time.Second, "rollout", 18 * time.Second},
		{19 * time.Second, "kill 3 of 4", 24 * time.Second},
		{33 * time.Second, "", 0},
	} {
		name, at := nextScheduled(steps, tc.elapsed)
		if name != tc.name || at != tc.at {
			t.Errorf("at %s: next %q at %s, want %q at %s", tc.elapsed, name, at, tc.name, tc.at)
		}
	}
}

func TestFaultStateFollowsTheEvent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	later := t0.Add(time.Second)
	for _, tc := range []struct {
		ev   faults.Event
		want string
	}{
		{faults.Event{Kind: "drain", Issued: t0}, "applying"},
		{faults.Event{Kind: "drain", Issued: t0, InEffect: later}, "in effect"},
		{faults.Event{Kind: "drain", Issued: t0, InEffect: later, RevertIssued: later}, "reverting"},
		{faults.Event{Kind: "drain", Issued: t0, InEffect: later, RevertIssued: later, Reverted: later}, "reverted"},
		{faults.Event{Kind: "pod-kill", SelfHealing: true, Issued: t0, InEffect: later, RevertIssued: later, Reverted: later}, "healing"},
		{faults.Event{Kind: "pod-kill", SelfHealing: true, Issued: t0}, "applying"},
		{faults.Event{Kind: "pod-kill", SelfHealing: true, Issued: t0, RevertIssued: t0, Reverted: t0}, "applying"},
	} {
		if got := faultState(tc.ev); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.ev, got, tc.want)
		}
	}
}
