//go:build e2e

package controls

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/suites/engine"
)

// Every fault type, interrupted once the fault is in effect: by SIGINT
// (the run reverts and exits 130) and by SIGKILL (nothing runs on the way
// out: `chaosgate recover` must revert from the journal, and a second
// recover finds nothing). A panic (injected through a test hook: reverted,
// exit 3) runs the same in-memory reverts as SIGINT, so it is shown for one
// pod fault and one node fault, not all six (about 5 minutes less). Each
// time, the cluster's real state must be whole again: every node Ready and
// schedulable, every kubelet running, no iptables rule of ours, the
// journal empty.
var faultCases = []struct {
	kind  string
	args  []string
	panic bool
}{
	{"pod-kill", []string{"--label-filter", "scenario:self-healing", "--duration", "30s", "--kills", "2", "--kill-start", "3s", "--kill-interval", "10s"}, true},
	{"container-kill", []string{"--label-filter", "scenario:container-kill", "--duration", "30s", "--container-kills", "2", "--kill-start", "3s", "--container-kill-interval", "10s"}, false},
	{"drain", []string{"--label-filter", "scenario:drain", "--duration", "40s", "--node-fault-start", "3s", "--drain-hold", "30s"}, false},
	{"node-shutdown", []string{"--suites", "node-failure", "--node-fault-start", "3s"}, false},
	{"kubelet-stop", []string{"--label-filter", "scenario:kubelet-stop", "--node-fault-start", "3s", "--node-unreachable-for", "60s"}, true},
	{"network-partition", []string{"--label-filter", "scenario:network-partition", "--node-fault-start", "3s", "--node-unreachable-for", "60s"}, false},
}

var _ = Describe("a run that ends badly leaves nothing broken", Label("e2e", "safety"), Ordered, ContinueOnFailure, func() {
	for _, fc := range faultCases {
		inEffect := &when{marker: `msg="fault in effect" id=`}

		It(fmt.Sprintf("reverts %s on SIGINT and exits 130", fc.kind), func(ctx SpecContext) {
			inEffect.do = signal(os.Interrupt)
			r := run(ctx, runOpts{hook: inEffect}, append([]string{"run"}, fc.args...)...)
			Expect(r.code).To(Equal(130), "%s", r.verdict())
			Expect(r.report.Run.Status).To(Equal(reports.StatusInterrupted))
			Expect(r.report.Scenarios).To(HaveLen(1))
			Expect(r.report.Scenarios[0].Faults).NotTo(BeEmpty(), "an interrupted scenario's report must list its faults")
			expectWhole(ctx)
		})

		It(fmt.Sprintf("leaves %s to chaosgate recover after SIGKILL", fc.kind), func(ctx SpecContext) {
			inEffect.do = signal(syscall.SIGKILL)
			r := run(ctx, runOpts{hook: inEffect, killed: true}, append([]string{"run"}, fc.args...)...)
			Expect(r.code).To(Equal(-1), "chaosgate should have died of SIGKILL: %s", r.verdict())
			rec := run(ctx, runOpts{}, "recover", "--name", clusters.DefaultName)
			Expect(rec.code).To(Equal(0), "%s", rec.verdict())
			again := run(ctx, runOpts{}, "recover", "--name", clusters.DefaultName)
			Expect(again.code).To(Equal(0), "%s", again.verdict())
			Expect(again.output).To(ContainSubstring("No active faults"))
			expectWhole(ctx)
		})

		if !fc.panic {
			continue
		}
		It(fmt.Sprintf("reverts %s after a panic and exits 3", fc.kind), func(ctx SpecContext) {
			r := run(ctx, runOpts{env: []string{engine.PanicHook + "=after-effect"}}, append([]string{"run"}, fc.args...)...)
			Expect(r.code).To(Equal(3), "%s", r.verdict())
			Expect(r.output).To(ContainSubstring("injected panic"))
			expectWhole(ctx)
		})
	}
})

func signal(s os.Signal) func(context.Context, *os.Process) {
	return func(_ context.Context, p *os.Process) { _ = p.Signal(s) }
}

// expectWhole checks the cluster's real state after a run: nothing of a
// fault may be left.
func expectWhole(ctx context.Context) {
	left, err := faults.Journal{Dir: journal}.Entries()
	Expect(err).NotTo(HaveOccurred())
	Expect(left).To(BeEmpty(), "the journal still holds faults")
	c, err := clusters.Connect(clusters.DefaultName, "")
	Expect(err).NotTo(HaveOccurred())
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	for _, n := range nodes.Items {
		Expect(n.Spec.Unschedulable).To(BeFalse(), "%s left cordoned", n.Name)
		Expect(faults.NodeReady(&n)).To(Equal(corev1.ConditionTrue), "%s not Ready", n.Name)
		for _, cmd := range [][]string{{"iptables", "-S"}, {"ip6tables", "-S"}} {
			out, err := exec.CommandContext(ctx, "docker", append([]string{"exec", n.Name}, cmd...)...).CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
			Expect(string(out)).NotTo(ContainSubstring("chaosgate-partition-"), "%s: a rule of ours is left in %s", cmd[0], n.Name)
		}
		out, err := exec.CommandContext(ctx, "docker", "exec", n.Name, "systemctl", "is-active", "kubelet").CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s: kubelet %s", n.Name, strings.TrimSpace(string(out)))
	}
	_ = time.Second
}
