//go:build e2e

package controls

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaosgate/chaosgate/reports"
)

// Game days run a team's plan on the gate's engine: the shipped plan for
// the local kind cluster must pass the sample, and a plan whose abort rule
// a broken workload trips must stop at once with every fault reverted.
var _ = Describe("chaosgate gameday", Label("e2e", "gameday"), Ordered, func() {
	AfterAll(func(ctx SpecContext) {
		deleteNamespaces(ctx, "chaosgate-gameday")
	})

	It("runs a plan of a worker shutdown, a drain and pod kills, in order, on the sample", func(ctx SpecContext) {
		r := run(ctx, runOpts{}, "gameday", "--plan", "suites/plan/examples/kind-sample.yaml")
		Expect(r.code).To(Equal(0), "%s", r.verdict())
		Expect(r.report.Scenarios).To(HaveLen(1))
		sc := r.report.Scenarios[0]
		kinds := []string{}
		for _, f := range sc.Faults {
			Expect(f.TookEffect).To(BeTrue(), "%s: %s", f.Description, f.Error)
			Expect(f.Reverted.IsZero() && f.Kind != "pod-kill").To(BeFalse(), "%s was not reverted", f.ID)
			kinds = append(kinds, f.Kind)
		}
		Expect(kinds).To(Equal([]string{"node-shutdown", "drain", "pod-kill", "pod-kill"}))
		// in order: each fault after the one before was reverted, the wait
		// between them held for 1s, and 5s more
		shutdown, drain, kill := sc.Faults[0], sc.Faults[1], sc.Faults[2]
		Expect(drain.Issued.Sub(shutdown.Reverted)).To(BeNumerically(">=", 6*time.Second))
		Expect(kill.Issued.Sub(drain.Reverted)).To(BeNumerically(">=", 6*time.Second))
		Expect(r.check("waits-met").Passed).To(BeTrue(), r.check("waits-met").Message())
		Expect(r.check("abort-rules").Passed).To(BeTrue(), r.check("abort-rules").Message())
		Expect(r.output).To(ContainSubstring("last 10s:"), "the live lines show the recent window")
		Expect(r.output).To(ContainSubstring("next: shutdown-worker at 10s"), "the live lines show the next step")
		expectWhole(ctx)
		AddReportEntry("game day on the sample", r.verdict())
	})

	It("aborts a plan when a single replica burns the budget, reverting the drain at once", func(ctx SpecContext) {
		start := time.Now()
		r := run(ctx, runOpts{}, "gameday", "--plan", "suites/controls/testdata/abort-single-replica.yaml")
		Expect(r.code).To(Equal(1), "%s", r.verdict())
		Expect(r.report.Run.Status).To(Equal(reports.StatusFailed))
		abort := r.check("abort-rules")
		Expect(abort.Passed).To(BeFalse())
		Expect(abort.Detail).To(MatchRegexp(`aborted at \d+\.\ds: availability over the last 10s below 90%`))
		sc := r.report.Scenarios[0]
		Expect(sc.Faults).To(HaveLen(1), "the pod kill due after the abort must never come")
		drain := sc.Faults[0]
		Expect(drain.Kind).To(Equal("drain"))
		// reverted by the abort, well before its 40s hold could be over
		// (the abort may come before the drain is verified in effect)
		Expect(drain.Reverted.IsZero()).To(BeFalse(), "the drain was not reverted")
		Expect(drain.Reverted.Sub(drain.Issued)).To(BeNumerically("<", 30*time.Second))
		Expect(time.Since(start)).To(BeNumerically("<", 2*time.Minute))
		expectWhole(ctx)
		AddReportEntry("abort control", r.verdict())
	})
})
