package reports

import (
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Trend: the same figures of many runs, run after run, and whether the last
// run regressed against the runs before it.

// TrendRun is one run folder's figures, per scenario.
type TrendRun struct {
	Dir       string
	ID        string
	Started   time.Time
	Status    Status
	Scenarios map[string]Figures
}

// Figures are the numbers a trend follows for one scenario of one run. NaN
// means not measured (no request, no successful request, no recovery).
type Figures struct {
	Status Status
	// Availability is the share of requests that succeeded, in percent.
	Availability float64
	// P99 is the p99 latency of successful requests in ms.
	P99 float64
	// WorstRecovery is the longest recovery after a fault, in seconds.
	WorstRecovery float64
	// NeverRecovered counts faults after which the workload never recovered.
	NeverRecovered int
	// FailedChecks lists the ids of the checks that did not pass.
	FailedChecks []string
}

// TrendRunOf takes the figures of one run.
func TrendRunOf(dir string, r Report) TrendRun {
	run := TrendRun{Dir: dir, ID: r.Run.ID, Started: r.Run.Started, Status: r.Run.Status, Scenarios: map[string]Figures{}}
	if run.ID == "" {
		run.ID = filepath.Base(dir)
	}
	for _, s := range r.Scenarios {
		run.Scenarios[s.Name] = figuresOf(s)
	}
	return run
}

func figuresOf(s Scenario) Figures {
	t := s.Timeline
	f := Figures{Status: s.Status, Availability: math.NaN(), P99: math.NaN(), WorstRecovery: math.NaN(), FailedChecks: []string{}}
	if t.Total > 0 {
		f.Availability = t.Availability * 100
	}
	if t.OK > 0 {
		f.P99 = t.LatencyMS.P99
	}
	for _, rc := range s.Recoveries {
		switch {
		case rc.Seconds != nil:
			if math.IsNaN(f.WorstRecovery) || *rc.Seconds > f.WorstRecovery {
				f.WorstRecovery = *rc.Seconds
			}
		case rc.Outcome == NeverRecovered:
			f.NeverRecovered++
		}
	}
	for _, c := range s.Checks {
		if !c.Passed {
			f.FailedChecks = append(f.FailedChecks, c.ID)
		}
	}
	return f
}

// SortRuns orders runs by start time (the order given breaks ties), so the
// last one is the newest.
func SortRuns(runs []TrendRun) {
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Started.Before(runs[j].Started) })
}

// Tolerance says how far the last run may fall behind the median of the
// earlier ones before it counts as a regression.
type Tolerance struct {
	// MaxAvailabilityDrop is in percentage points (0.1: 99.95% -> 99.85%
	// is the most allowed).
	MaxAvailabilityDrop float64
	// MaxP99Increase and MaxRecoveryIncrease are fractions (0.2 = 20%).
	MaxP99Increase      float64
	MaxRecoveryIncrease float64
	// MaxFailedChecksIncrease is in checks.
	MaxFailedChecksIncrease int
}

// DefaultTolerance is what `chaosgate report trend` uses unless told
// otherwise. Recovery times vary more from run to run than latency does.
var DefaultTolerance = Tolerance{MaxAvailabilityDrop: 0.1, MaxP99Increase: 0.2, MaxRecoveryIncrease: 0.5}

// Regression is one figure of one scenario that got worse than allowed.
type Regression struct {
	Scenario string
	// Figure is "availability", "p99", "recovery" or "failed-checks".
	Figure string
	// Last and Baseline (the median of the earlier runs) are in the
	// figure's unit.
	Last, Baseline float64
	Message        string
}

func (r Regression) String() string { return r.Scenario + ": " + r.Message }

// Regressions compares the last run with the median of the earlier runs,
// scenario by scenario (only earlier runs that ran the scenario count). A
// scenario new in the last run, or a figure the last run did not measure,
// has nothing to regress against.
func Regressions(runs []TrendRun, tol Tolerance) []Regression {
	if len(runs) < 2 {
		return nil
	}
	last, earlier := runs[len(runs)-1], runs[:len(runs)-1]
	var out []Regression
	for _, name := range slices.Sorted(maps.Keys(last.Scenarios)) {
		l := last.Scenarios[name]
		var prev []Figures
		for _, r := range earlier {
			if f, ok := r.Scenarios[name]; ok {
				prev = append(prev, f)
			}
		}
		if len(prev) == 0 {
			continue
		}
		of := fmt.Sprintf("median of %d earlier run(s)", len(prev))
		add := func(figure string, last, base float64, format string, args ...any) {
			out = append(out, Regression{Scenario: name, Figure: figure, Last: last, Baseline: base, Message: fmt.Sprintf(format, args...)})
		}
		if base := median(prev, func(f Figures) float64 { return f.Availability }); !math.IsNaN(l.Availability) && !math.IsNaN(base) &&
			base-l.Availability > tol.MaxAvailabilityDrop+1e-9 {
			add("availability", l.Availability, base, "availability %.3f%%, %s %.3f%%: down %.3f points (tolerance %g)",
				l.Availability, of, base, base-l.Availability, tol.MaxAvailabilityDrop)
		}
		if base := median(prev, func(f Figures) float64 { return f.P99 }); !math.IsNaN(l.P99) && base > 0 &&
			l.P99 > base*(1+tol.MaxP99Increase)+1e-9 {
			add("p99", l.P99, base, "p99 %.1fms, %s %.1fms: up %.0f%% (tolerance %g%%)",
				l.P99, of, base, (l.P99/base-1)*100, tol.MaxP99Increase*100)
		}
		baseNever := median(prev, func(f Figures) float64 { return float64(f.NeverRecovered) })
		baseRec := median(prev, func(f Figures) float64 { return f.WorstRecovery })
		switch {
		case float64(l.NeverRecovered) > baseNever:
			add("recovery", math.Inf(1), baseRec, "never recovered after %d fault(s), %s: %s", l.NeverRecovered, of, recoveryText(baseRec, baseNever))
		case !math.IsNaN(l.WorstRecovery) && baseRec > 0 && l.WorstRecovery > baseRec*(1+tol.MaxRecoveryIncrease)+1e-9:
			add("recovery", l.WorstRecovery, baseRec, "worst recovery %.1fs, %s %.1fs: up %.0f%% (tolerance %g%%)",
				l.WorstRecovery, of, baseRec, (l.WorstRecovery/baseRec-1)*100, tol.MaxRecoveryIncrease*100)
		}
		if base := median(prev, func(f Figures) float64 { return float64(len(f.FailedChecks)) }); float64(len(l.FailedChecks)) > base+float64(tol.MaxFailedChecksIncrease) {
			add("failed-checks", float64(len(l.FailedChecks)), base, "%d failed check(s) (%s), %s %g (tolerance +%d)",
				len(l.FailedChecks), strings.Join(l.FailedChecks, ", "), of, base, tol.MaxFailedChecksIncrease)
		}
	}
	return out
}

func recoveryText(worst, never float64) string {
	if never > 0 {
		return fmt.Sprintf("%g never recovered", never)
	}
	if math.IsNaN(worst) {
		return "no recovery measured"
	}
	return fmt.Sprintf("worst recovery %.1fs", worst)
}

// median of the figures' values, NaN ignored; NaN when none is left.
func median(fs []Figures, value func(Figures) float64) float64 {
	var vs []float64
	for _, f := range fs {
		if v := value(f); !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}
