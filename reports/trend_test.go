package reports

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// run builds a trend run of one scenario "s" from its figures.
func trendRun(i int, f Figures) TrendRun {
	if f.FailedChecks == nil {
		f.FailedChecks = []string{}
	}
	return TrendRun{ID: "r" + string(rune('0'+i)), Started: t0.Add(time.Duration(i) * time.Hour), Scenarios: map[string]Figures{"s": f}}
}

func fig(avail, p99, worst float64, never int, failed ...string) Figures {
	return Figures{Availability: avail, P99: p99, WorstRecovery: worst, NeverRecovered: never, FailedChecks: failed}
}

func TestRegressions(t *testing.T) {
	nan := math.NaN()
	steady := []Figures{fig(99.95, 50, 3, 0), fig(99.97, 48, 2.5, 0), fig(99.90, 55, 3.5, 0)}
	cases := []struct {
		name string
		runs []Figures
		tol  Tolerance
		want []string // figures that regressed
	}{
		{"steady", append(slices.Clone(steady), fig(99.93, 52, 3.2, 0)), DefaultTolerance, nil},
		{"availability drop beyond 0.1 points", append(slices.Clone(steady), fig(99.80, 50, 3, 0)), DefaultTolerance, []string{"availability"}},
		{"availability drop within tolerance", append(slices.Clone(steady), fig(99.86, 50, 3, 0)), DefaultTolerance, nil},
		{"p99 up 30%", append(slices.Clone(steady), fig(99.95, 65, 3, 0)), DefaultTolerance, []string{"p99"}},
		{"p99 up 30% with 50% tolerated", append(slices.Clone(steady), fig(99.95, 65, 3, 0)), Tolerance{MaxAvailabilityDrop: 0.1, MaxP99Increase: 0.5, MaxRecoveryIncrease: 0.5}, nil},
		{"recovery doubled", append(slices.Clone(steady), fig(99.95, 50, 6.1, 0)), DefaultTolerance, []string{"recovery"}},
		{"never recovered", append(slices.Clone(steady), fig(99.95, 50, nan, 1)), DefaultTolerance, []string{"recovery"}},
		{"never recovered before too", []Figures{fig(99, 50, nan, 1), fig(99, 50, nan, 1), fig(99, 50, nan, 1)}, DefaultTolerance, nil},
		{"a check fails now", append(slices.Clone(steady), fig(99.95, 50, 3, 0, "latency-p99")), DefaultTolerance, []string{"failed-checks"}},
		{"one more failed check tolerated", append(slices.Clone(steady), fig(99.95, 50, 3, 0, "latency-p99")), Tolerance{MaxAvailabilityDrop: 0.1, MaxP99Increase: 0.2, MaxRecoveryIncrease: 0.5, MaxFailedChecksIncrease: 1}, nil},
		{"everything", append(slices.Clone(steady), fig(20, 1000, 100, 0, "availability", "recovery-time")), DefaultTolerance, []string{"availability", "p99", "recovery", "failed-checks"}},
		// the median, not the mean: one bad earlier run does not hide a regression
		{"outlier earlier run", []Figures{fig(99.9, 50, 3, 0), fig(50, 5000, 90, 0), fig(99.9, 50, 3, 0), fig(99.9, 80, 3, 0)}, DefaultTolerance, []string{"p99"}},
		{"last run measured nothing", append(slices.Clone(steady), fig(nan, nan, nan, 0)), DefaultTolerance, nil},
		{"a single run", []Figures{fig(10, 5000, 100, 3, "a")}, DefaultTolerance, nil},
	}
	for _, c := range cases {
		var runs []TrendRun
		for i, f := range c.runs {
			runs = append(runs, trendRun(i, f))
		}
		var got []string
		for _, r := range Regressions(runs, c.tol) {
			got = append(got, r.Figure)
			if r.Scenario != "s" || !strings.Contains(r.String(), "median of") {
				t.Errorf("%s: message %q", c.name, r)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: regressed %v, want %v", c.name, got, c.want)
		}
	}
}

// Only earlier runs that ran a scenario are its baseline; a scenario new in
// the last run has none.
func TestRegressionsPerScenario(t *testing.T) {
	a := TrendRun{ID: "a", Started: t0, Scenarios: map[string]Figures{"self-healing": fig(99.9, 50, 3, 0)}}
	b := TrendRun{ID: "b", Started: t0.Add(time.Hour), Scenarios: map[string]Figures{"drain": fig(100, 5, 0, 0)}}
	c := TrendRun{ID: "c", Started: t0.Add(2 * time.Hour), Scenarios: map[string]Figures{"self-healing": fig(99.0, 50, 3, 0), "node-failure": fig(10, 5, 3, 0)}}
	regs := Regressions([]TrendRun{a, b, c}, DefaultTolerance)
	if len(regs) != 1 || regs[0].Scenario != "self-healing" || regs[0].Figure != "availability" || regs[0].Baseline != 99.9 {
		t.Fatalf("regressions %v", regs)
	}
	if !strings.Contains(regs[0].String(), "median of 1 earlier run(s) 99.900%: down 0.900 points") {
		t.Fatalf("message %q", regs[0])
	}
}

func TestTrendRunOfSamples(t *testing.T) {
	cases := []struct {
		name, scenario string
		avail, p99     float64
		worst          float64
		failed         []string
	}{
		{"self-healing-pass", "self-healing", 100, 51.664, 3.99, []string{}},
		// its load came from two agent pods in the cluster
		{"self-healing-agents-pass", "self-healing", 100, 271.342, 8.309, []string{}},
		{"node-failure-colocated-fail", "node-failure", 19.3, 1031.9, 107.352, []string{"availability-after-endpoints-moved", "replacement-ready"}},
		// the drain never took effect: nothing to recover from
		{"drain-pdb-blocked", "drain", 100, 20.7, math.NaN(), []string{"faults-took-effect"}},
	}
	for _, c := range cases {
		r := TrendRunOf(sampleDir(c.name), readSample(t, c.name))
		f, ok := r.Scenarios[c.scenario]
		if !ok {
			t.Fatalf("%s: no scenario %s", c.name, c.scenario)
		}
		near := func(a, b, eps float64) bool { return math.Abs(a-b) < eps || math.IsNaN(a) && math.IsNaN(b) }
		if !near(f.Availability, c.avail, 0.01) || !near(f.P99, c.p99, 0.1) || !near(f.WorstRecovery, c.worst, 0.001) || !slices.Equal(f.FailedChecks, c.failed) {
			t.Errorf("%s: %+v", c.name, f)
		}
	}
}

func TestSortRuns(t *testing.T) {
	runs := []TrendRun{{ID: "b", Started: t0.Add(time.Hour)}, {ID: "a", Started: t0}, {ID: "c", Started: t0.Add(time.Hour)}}
	SortRuns(runs)
	if runs[0].ID != "a" || runs[1].ID != "b" || runs[2].ID != "c" {
		t.Fatalf("order %v %v %v", runs[0].ID, runs[1].ID, runs[2].ID)
	}
}

func TestWriteTrendHTML(t *testing.T) {
	var runs []TrendRun
	for _, name := range sampleRuns {
		runs = append(runs, TrendRunOf(sampleDir(name), readSample(t, name)))
	}
	SortRuns(runs)
	regs := Regressions(runs, DefaultTolerance)
	var b bytes.Buffer
	if err := WriteTrendHTML(&b, runs, regs, "testdata"); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if m := external.FindString(page); m != "" {
		t.Errorf("page loads something from elsewhere: %q", m)
	}
	for _, want := range []string{"chaosgate trend: 5 run(s)", `href="runs/self-healing-pass/report.html"`, `data-chart="availability"`,
		`data-chart="recovery"`, `data-chart="p99"`, `data-chart="failedChecks"`, "self-healing", "node-failure", "drain"} {
		if !strings.Contains(page, want) {
			t.Errorf("trend page lacks %q", want)
		}
	}
	// the newest run (node-failure, colocated) is worse than the earlier
	// node-failure run
	if len(regs) == 0 || !strings.Contains(page, "REGRESSED") {
		t.Errorf("regressions %v not shown", regs)
	}
}
