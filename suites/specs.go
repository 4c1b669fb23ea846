package suites

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaosgate/chaosgate/reports"
)

// specRun is the state the registered specs share with the gate.
type specRun struct {
	env         Env
	selfHealing SelfHealingConfig
	// onScenario is called as soon as a scenario finishes, so the report
	// on disk grows while later suites run.
	onScenario func(reports.Scenario)
}

// expectCheck asserts one SLO check of a scenario: one Ginkgo spec (and one
// JUnit case) per assertion.
func expectCheck(sc *reports.Scenario, id string) {
	Expect(sc).NotTo(BeNil(), "the scenario did not run")
	for _, c := range sc.Checks {
		if c.ID == id {
			Expect(c.Passed).To(BeTrue(), "%s", c.Message())
			AddReportEntry(c.Name, c.Message())
			return
		}
	}
	Fail("no check " + id + " in scenario " + sc.Name)
}

// registerSelfHealing registers the self-healing suite: the scenario runs
// once (BeforeAll), then each SLO is its own spec.
func registerSelfHealing(r *specRun) {
	// ContinueOnFailure: a breached SLO must not hide the verdict on the
	// others
	Describe("self-healing under pod kills", Label("suite:"+SuiteSelfHealing, "fault:pod-kill", "disruptive"), Ordered, ContinueOnFailure, func() {
		var sc *reports.Scenario
		BeforeAll(func(ctx SpecContext) {
			// the scenario reverts its faults itself, also when interrupted;
			// the gate reverts whatever is left once the specs are done
			sc = RunSelfHealing(ctx, r.env, r.selfHealing)
			r.onScenario(*sc)
			if sc.Error != "" {
				Fail("the scenario could not run: " + sc.Error)
			}
		}, NodeTimeout(r.selfHealing.Load.Duration+r.selfHealing.SLO.MaxRecovery+5*time.Minute))

		It("keeps availability at or above the SLO while pods are killed", func() { expectCheck(sc, CheckAvailability) })
		It("keeps the longest run of failed requests within the bound", func() { expectCheck(sc, CheckFailedInterval) })
		It("returns to all replicas Ready within the recovery bound after every kill", func() { expectCheck(sc, CheckRecovery) })
		It("really killed a pod with every injection", func() { expectCheck(sc, CheckFaultsInEffect) })
		It("sustained the target request rate, so the verdict is meaningful", func() { expectCheck(sc, CheckLoadRate) })
		It("keeps p99 latency of successful requests within the bound", func() { expectCheck(sc, CheckP99) })
	})
}

// ginkgoT is the GinkgoTestingT of an in-process run (no `go test`). The
// verdict comes from the report model, so a failure needs no recording here.
type ginkgoT struct{}

func (ginkgoT) Fail() {}

// runSpecs registers the chosen suites and runs them in this process.
// Ginkgo allows one RunSpecs per process; the gate calls it once.
func runSpecs(r *specRun, suites []string, timeout time.Duration, verbose bool) {
	for _, s := range suites {
		switch s {
		case SuiteSelfHealing:
			registerSelfHealing(r)
		}
	}
	RegisterFailHandler(Fail)
	sc, rc := GinkgoConfiguration()
	sc.Timeout = timeout
	rc.NoColor = true
	rc.Verbose = verbose
	rc.Succinct = !verbose
	RunSpecs(ginkgoT{}, "chaosgate resilience gate", sc, rc)
}
