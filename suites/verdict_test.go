package suites

import (
	"strings"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

func it(check string, state types.SpecState) types.SpecReport {
	return types.SpecReport{
		LeafNodeType: types.NodeTypeIt, LeafNodeText: "checks " + check, State: state,
		ContainerHierarchyTexts: []string{"self-healing under pod kills"}, ContainerHierarchyLabels: [][]string{{"suite:self-healing", "scenario:self-healing"}},
		LeafNodeLabels: []string{"check:" + check},
		Failure:        types.Failure{Message: "FAIL: " + check + " measured 1, threshold >= 2", FailureNodeContext: types.FailureNodeIsLeafNode},
	}
}

func setupFailed(where types.NodeType, state types.SpecState) types.SpecReport {
	s := it("availability", state)
	s.Failure = types.Failure{Message: "setup: deployment chaosgate/app stopped progressing", FailureNodeContext: types.FailureNodeInContainer, FailureNodeType: where}
	return s
}

// breachedThenCleanupFailed is the last check of a suite failing its
// assertion, then the suite's DeferCleanup failing to revert a fault: Ginkgo
// keeps the second failure in AdditionalFailures.
func breachedThenCleanupFailed() types.SpecReport {
	s := it("replacement-ready", types.SpecStateFailed)
	s.AdditionalFailures = []types.AdditionalFailure{{State: types.SpecStateFailed, Failure: types.Failure{
		Message: "revert r1-node-shutdown-1: node w2 not back", FailureNodeContext: types.FailureNodeInContainer, FailureNodeType: types.NodeTypeCleanupAfterAll}}}
	return s
}

func TestJudge(t *testing.T) {
	passed := it("availability", types.SpecStatePassed)
	cases := []struct {
		name     string
		specs    []types.SpecReport
		reasons  []string
		code     int
		status   reports.Status
		contains string
	}{
		{"every check passed", []types.SpecReport{passed, it("recovery-time", types.SpecStatePassed)}, nil, ExitPassed, reports.StatusPassed, ""},
		{"a check failed its assertion", []types.SpecReport{passed, it("recovery-time", types.SpecStateFailed)}, nil, ExitBreached, reports.StatusFailed, "recovery-time measured"},
		{"setup failed in BeforeAll", []types.SpecReport{setupFailed(types.NodeTypeBeforeAll, types.SpecStateFailed), it("p99", types.SpecStateSkipped)}, nil, ExitInfra, reports.StatusError, "BeforeAll"},
		{"infrastructure wins over a breach", []types.SpecReport{it("a", types.SpecStateFailed), setupFailed(types.NodeTypeBeforeAll, types.SpecStateFailed)}, nil, ExitInfra, reports.StatusError, "stopped progressing"},
		{"BeforeSuite failed", []types.SpecReport{{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStateFailed, Failure: types.Failure{Message: "setup: cluster: docker is not running"}}, it("a", types.SpecStateSkipped)}, nil, ExitInfra, reports.StatusError, "docker is not running"},
		{"a revert failed in cleanup", []types.SpecReport{passed, setupFailed(types.NodeTypeCleanupAfterAll, types.SpecStateFailed)}, nil, ExitInfra, reports.StatusError, "DeferCleanup (All)"},
		{"a panic in a check", []types.SpecReport{passed, it("b", types.SpecStatePanicked)}, nil, ExitInfra, reports.StatusError, "panicked"},
		{"interrupted during setup", []types.SpecReport{{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStateInterrupted}}, []string{"Interrupted by User"}, ExitInterrupted, reports.StatusInterrupted, ""},
		{"interrupted while a breach was found", []types.SpecReport{it("a", types.SpecStateFailed), it("b", types.SpecStateInterrupted)}, nil, ExitInterrupted, reports.StatusInterrupted, ""},
		{"nothing judged", []types.SpecReport{it("a", types.SpecStateSkipped)}, nil, ExitInfra, reports.StatusError, "no check ran"},
		{"a revert failed after a breached check", []types.SpecReport{passed, breachedThenCleanupFailed()}, nil, ExitInfra, reports.StatusError, "revert r1-node-shutdown-1"},
		{"suite timeout", []types.SpecReport{passed}, []string{"Suite Timeout Elapsed"}, ExitInfra, reports.StatusError, "Suite Timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := Judge(types.Report{SpecReports: c.specs, SpecialSuiteFailureReasons: c.reasons})
			if v.Code != c.code || v.Status != c.status {
				t.Fatalf("code %d status %s, want %d %s (%+v)", v.Code, v.Status, c.code, c.status, v)
			}
			all := strings.Join(append(v.Breached, v.Errors...), "\n")
			if !strings.Contains(all, c.contains) {
				t.Fatalf("%q lacks %q", all, c.contains)
			}
		})
	}
}

// Ginkgo decides: a check whose spec failed is failed in the report too; a
// check whose spec did not run is not judged; a check whose assertion passed
// before a revert failed after it still passed.
func TestMarkChecks(t *testing.T) {
	scs := []reports.Scenario{{Name: "self-healing", Checks: []reports.Check{
		reports.AtLeast("availability", "a", 100, 99, "%"), reports.AtLeast("recovery-time", "r", 1, 1, "s"),
		reports.AtLeast("p99", "p", 0, 1, "ms"), reports.AtLeast("kill-effect", "k", 5, 1, "s")}}}
	scs[0].Finish(time.Now())
	cleanupFailed := it("kill-effect", types.SpecStateFailed)
	cleanupFailed.Failure.FailureNodeContext, cleanupFailed.Failure.FailureNodeType = types.FailureNodeInContainer, types.NodeTypeCleanupAfterAll
	markChecks(scs, types.Report{SpecReports: []types.SpecReport{
		it("availability", types.SpecStatePassed), it("recovery-time", types.SpecStateFailed), cleanupFailed}})
	// a setup that failed is pinned on the first spec: it judged nothing
	setup := []reports.Scenario{{Name: "self-healing", Checks: []reports.Check{reports.AtLeast("availability", "a", 100, 99, "%")}}}
	markChecks(setup, types.Report{SpecReports: []types.SpecReport{setupFailed(types.NodeTypeBeforeAll, types.SpecStateFailed)}})
	if c := setup[0].Checks[0]; !c.Skipped {
		t.Fatalf("a check whose setup failed must be not judged: %+v", c)
	}
	c := scs[0].Checks
	if !c[0].Passed || c[1].Passed || scs[0].Status != reports.StatusFailed {
		t.Fatalf("%+v", scs[0])
	}
	if !c[2].Skipped || !c[2].Passed || !strings.Contains(c[2].Detail, "label filter") {
		t.Fatalf("a check left out by the filter must be not judged: %+v", c[2])
	}
	if !c[3].Passed || c[3].Skipped {
		t.Fatalf("a passed assertion must stay passed when cleanup fails after it: %+v", c[3])
	}
}

func TestJUnitViewKeepsOneCasePerCheck(t *testing.T) {
	r := types.Report{SpecReports: []types.SpecReport{
		{LeafNodeType: types.NodeTypeBeforeSuite, State: types.SpecStatePassed},
		it("a", types.SpecStatePassed), it("b", types.SpecStateFailed),
		{LeafNodeType: types.NodeTypeAfterSuite, State: types.SpecStateFailed},
	}}
	v := junitView(r)
	if len(v.SpecReports) != 3 || v.SpecReports[2].LeafNodeType != types.NodeTypeAfterSuite {
		t.Fatalf("%+v", v.SpecReports)
	}
}

func TestLabelFilter(t *testing.T) {
	cases := []struct{ suites, filter, want, err string }{
		{"all", "", "", ""},
		{"", "", "", ""},
		{"self-healing", "", "(suite:self-healing)", ""},
		{"self-healing", "!check:latency-p99", "(suite:self-healing) && (!check:latency-p99)", ""},
		{"all", "fault:pod-kill", "(fault:pod-kill)", ""},
		{"self-healing,nope", "", "", `unknown suite "nope"`},
	}
	for _, c := range cases {
		got, err := LabelFilter(c.suites, c.filter)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q %q: err %v", c.suites, c.filter, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q %q: %q %v, want %q", c.suites, c.filter, got, err, c.want)
		}
	}
}

func TestParamsFromFlagsAndValidation(t *testing.T) {
	sample, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	single, err := workload.LoadWorkload("bundled:broken-single-replica", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		w    *workload.Workload
		want string
	}{
		{nil, sample, ""},
		{[]string{"--rate", "0"}, sample, "--rate 0"},
		{[]string{"--path", "work"}, sample, "--path"},
		{[]string{"--method", "BREW"}, sample, "--method"},
		{[]string{"--rate", "20000", "--request-timeout", "20s"}, sample, "in flight"},
		{[]string{"--fault-effect-timeout", "0s"}, sample, "--fault-effect-timeout"},
		{[]string{"--kills", "7"}, sample, "the last kill"},
		{[]string{"--kill-count", "2", "--kill-percent", "50"}, sample, "set exactly one"},
		{[]string{"--kill-count", "4"}, sample, "has only 3 replica(s)"},
		{[]string{"--kill-count", "2"}, single, "has only 1 replica(s)"},
		{[]string{"--load-agents", "2"}, sample, ""},
		{[]string{"--load-agents", "51"}, sample, "--load-agents 51"},
		{[]string{"--load-agents", "5", "--rate", "4"}, sample, "below one request per second per agent"},
	}
	for _, c := range cases {
		p := paramsFromFlags(t, c.args...)
		err := p.Validate()
		if err == nil {
			err = selfHealing.Validate(p, c.w, func(string) bool { return true })
		}
		expectErr(t, c.args, err, c.want)
	}
}

// Every suite's scenario is valid with the defaults and has checks; every
// check has a label-safe id.
func TestSuitesAreWellFormed(t *testing.T) {
	p := DefaultParams()
	w, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range All {
		for _, sc := range s.Scenarios(p, w) {
			if err := sc.Validate(); err != nil {
				t.Errorf("%s: %v", s.Name, err)
			}
			if names[sc.Name] || sc.Title == "" {
				t.Errorf("%s: scenario %q twice or without title", s.Name, sc.Name)
			}
			names[sc.Name] = true
			for _, c := range sc.Checks {
				if _, err := types.ParseLabelFilter(CheckLabel(c.ID)); err != nil {
					t.Errorf("%s: check id %q is not a usable label: %v", s.Name, c.ID, err)
				}
			}
		}
		if typical, worst := Expected(s, p, w); typical <= 0 || worst < typical {
			t.Errorf("%s: expected %s..%s", s.Name, typical, worst)
		}
	}
}

func TestExpectedCountsEarlyEndsAndTheirWorstCase(t *testing.T) {
	sc := engine.Scenario{Load: engine.Load{Duration: 85 * time.Second}, Settle: 30 * time.Second, PrepareTime: 35 * time.Second, PrepareMax: 90 * time.Second}
	if got := ExpectedScenario(sc); got != 5*time.Second+35*time.Second+85*time.Second {
		t.Fatalf("whole load: %s", got)
	}
	sc.EndEarly = &engine.EarlyEnd{When: []engine.Condition{engine.ReplicasReady}, Margin: 5 * time.Second, Typical: 63 * time.Second}
	typical, worst := ExpectedScenario(sc), WorstScenario(sc)
	// a target that heals: the typical load; one that does not: the whole
	// load, the longest preparation and the settle budget
	if typical != 103*time.Second || worst != 103*time.Second+55*time.Second+22*time.Second+30*time.Second {
		t.Fatalf("early end: typical %s, worst %s", typical, worst)
	}
	// by default a lost node is held until its pods serve elsewhere and the
	// load ends once it is back (a rollout's once it is over); --full-duration
	// keeps both whole; load agents keep their schedule
	for _, tc := range []struct {
		name        string
		edit        func(*Params)
		early, hold bool
	}{
		{"default", func(*Params) {}, true, true},
		{"--full-duration", func(p *Params) { p.FullDuration = true }, false, false},
		{"--load-agents 2", func(p *Params) { p.Load.Agents = 2 }, false, true},
	} {
		p := DefaultParams()
		tc.edit(&p)
		for _, s := range []Suite{nodeFailure, nodeUnreachable, rollingUpdate, rollback, configRollout} {
			for _, sc := range s.Scenarios(p, nil) {
				if err := sc.Validate(); err != nil {
					t.Errorf("%s: %s: %v", tc.name, sc.Name, err)
				}
				if (sc.EndEarly != nil) != tc.early {
					t.Errorf("%s: %s: early end %+v", tc.name, sc.Name, sc.EndEarly)
				}
				if sc.Name == "node-failure" && (sc.Steps[0].HoldUntil != "") != tc.hold {
					t.Errorf("%s: node-failure holds until %q", tc.name, sc.Steps[0].HoldUntil)
				}
			}
		}
	}
}
