// Package suites holds chaosgate's resilience suites and the gate that runs
// them as a Ginkgo v2 suite: one Ordered container per suite (setup and
// the scenario in BeforeAll, one It per check), selected by labels, judged
// by Ginkgo.
//
// A suite is one short file: a Suite value whose Scenario function returns
// the load, the fault schedule and the checks (see selfhealing.go). The
// scenario engine (package engine) runs it; the workload package deploys
// what it runs against.
package suites

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// Suite is one resilience suite: one or more scenarios, each an Ordered
// container of its own.
type Suite struct {
	Name string
	// Labels besides "suite:NAME" that every scenario of the suite has
	// ("disruptive").
	Labels []string
	// defaults sets the suite's own parameters to their defaults.
	defaults func(p *Params)
	// Flags declares the suite's own parameters.
	Flags func(fs *flag.FlagSet, p *Params)
	// Skip, when set, says why the workload gives the suite nothing to
	// test (no ConfigMap to change, say): chosen by name that is an input
	// error; under "all" the suite is left out, with the reason reported.
	Skip func(p Params, w *workload.Workload) string
	// Validate checks the parameters of the selected scenarios against the
	// workload before anything is touched; errors name the flag at fault.
	Validate func(p Params, w *workload.Workload, selected func(scenario string) bool) error
	// Scenarios are the suite's scenarios for the parameters and the
	// workload: load, fault schedule, checks. Each scenario's Title is its
	// container's text, its Labels are added to the suite's.
	Scenarios func(p Params, w *workload.Workload) []engine.Scenario
}

// All lists the suites (Ginkgo shuffles the order they run in). The hpa
// suite's load ends with the autoscaler's scale-down window and more, so
// the suite after it finds the replicas it had.
var All = []Suite{selfHealing, rollingUpdate, rollback, configRollout, serviceDiscovery, drain, nodeUnreachable, nodeFailure, hpaSuite}

// SuiteLabel is the label that selects a suite.
func SuiteLabel(name string) string { return "suite:" + name }

// CheckLabel is the label of a check's spec.
func CheckLabel(id string) string { return "check:" + id }

// ScenarioLabel is the label of a scenario's container.
func ScenarioLabel(name string) string { return "scenario:" + name }

// Lookup returns the suite of that name.
func Lookup(name string) (Suite, bool) {
	for _, s := range All {
		if s.Name == name {
			return s, true
		}
	}
	return Suite{}, false
}

// Names lists the suites' names.
func Names() []string {
	out := make([]string, len(All))
	for i, s := range All {
		out[i] = s.Name
	}
	return out
}

// LabelFilter turns --suites (comma-separated names, "all" or empty for
// every suite) and --label-filter (Ginkgo's syntax, passed through) into
// one Ginkgo label filter.
func LabelFilter(suiteList, labelFilter string) (string, error) {
	var parts []string
	if suiteList != "" && suiteList != "all" {
		var names []string
		for _, n := range strings.Split(suiteList, ",") {
			n = strings.TrimSpace(n)
			if _, ok := Lookup(n); !ok {
				return "", fmt.Errorf("--suites: unknown suite %q (known: %s)", n, strings.Join(Names(), ", "))
			}
			names = append(names, SuiteLabel(n))
		}
		parts = append(parts, "("+strings.Join(names, " || ")+")")
	}
	if f := strings.TrimSpace(labelFilter); f != "" {
		parts = append(parts, "("+f+")")
	}
	return strings.Join(parts, " && "), nil
}

// Expected estimates how long a suite takes against a workload that heals:
// its rollout and the wait for stable answers before, the load, and
// the last recovery after. A workload that does not heal adds up to the
// scenario's settle budget, and keeps loads that end early whole.
func Expected(s Suite, p Params, w *workload.Workload) (typical, worst time.Duration) {
	for _, sc := range s.Scenarios(p, w) {
		typical += ExpectedScenario(sc)
		worst += WorstScenario(sc)
	}
	return typical, worst
}

// ExpectedScenario estimates one scenario against a workload that heals.
func ExpectedScenario(sc engine.Scenario) time.Duration {
	// between two scenarios on a warm cluster (the target whole again,
	// stable answers, the results file): 1-6s measured; load agents take
	// about 5s to start
	d := 5*time.Second + sc.PrepareTime + sc.TypicalLoad()
	if sc.Load.Agents > 0 {
		d += 5 * time.Second
	}
	return d
}

// WorstScenario bounds one scenario against a workload that does not heal:
// the longest preparation, the whole load and the settle budget.
func WorstScenario(sc engine.Scenario) time.Duration {
	return ExpectedScenario(sc) + sc.LongestPrepare() - sc.PrepareTime + sc.Load.Duration - sc.TypicalLoad() + sc.Settle
}

// earlyEnd is e for a scenario whose load comes from this machine, unless
// --full-duration keeps every load whole; load agents keep their schedule
// (e.Typical is when the load usually ends, for time budgets).
func earlyEnd(p Params, e engine.EarlyEnd) *engine.EarlyEnd {
	if p.FullDuration || p.Load.Agents > 0 {
		return nil
	}
	return &e
}
