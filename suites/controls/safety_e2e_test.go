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
// journal empty. The pod faults' cases touch only their own namespace, so
// they run beside the pod-level controls (crowdedSafetyCases); the node
// faults' run alone, here.
var faultCases = []struct {
	kind  string
	args  []string
	panic bool
	// pods: the fault touches only the target's pods
	pods bool
}{
	{"pod-kill", []string{"--label-filter", "scenario:self-healing", "--duration", "30s", "--kills", "2", "--kill-start", "3s", "--kill-interval", "10s"}, true, true},
	{"container-kill", []string{"--label-filter", "scenario:container-kill", "--duration", "30s", "--container-kills", "2", "--kill-start", "3s", "--container-kill-interval", "10s"}, false, true},
	{"drain", []string{"--label-filter", "scenario:drain", "--duration", "40s", "--node-fault-start", "3s", "--drain-hold", "30s"}, false, false},
	{"node-shutdown", []string{"--suites", "node-failure", "--node-fault-start", "3s"}, false, false},
	{"kubelet-stop", []string{"--label-filter", "scenario:kubelet-stop", "--node-fault-start", "3s", "--node-unreachable-for", "60s"}, true, false},
	{"network-partition", []string{"--label-filter", "scenario:network-partition", "--node-fault-start", "3s", "--node-unreachable-for", "60s"}, false, false},
}

// badEnd is one way a run ends badly.
type badEnd string

const (
	bySIGINT  badEnd = "SIGINT"
	bySIGKILL badEnd = "SIGKILL"
	byPanic   badEnd = "panic"
)

// endsOf are the bad ends shown for a fault case.
func endsOf(panics bool) []badEnd {
	if panics {
		return []badEnd{bySIGINT, bySIGKILL, byPanic}
	}
	return []badEnd{bySIGINT, bySIGKILL}
}

func (e badEnd) title(kind string) string {
	switch e {
	case bySIGINT:
		return fmt.Sprintf("reverts %s on SIGINT and exits 130", kind)
	case bySIGKILL:
		return fmt.Sprintf("leaves %s to chaosgate recover after SIGKILL", kind)
	}
	return fmt.Sprintf("reverts %s after a panic and exits 3", kind)
}

// endBadly runs a fault case's gate (with o's journal, and extra
// arguments) and ends it the bad way; after SIGKILL it runs recover twice.
// It returns every run, the gate's first.
func endBadly(ctx context.Context, e badEnd, args []string, o runOpts, extra ...string) []gateRun {
	inEffect := &when{marker: `msg="fault in effect" id=`}
	gate := append(append([]string{"run"}, extra...), args...)
	switch e {
	case bySIGINT:
		inEffect.do = signal(os.Interrupt)
		o.hook = inEffect
		return []gateRun{run(ctx, o, gate...)}
	case bySIGKILL:
		inEffect.do = signal(syscall.SIGKILL)
		o.hook, o.killed = inEffect, true
		r := run(ctx, o, gate...)
		rec := run(ctx, runOpts{journal: o.journal, prefix: o.prefix}, "recover", "--name", clusters.DefaultName)
		again := run(ctx, runOpts{journal: o.journal, prefix: o.prefix}, "recover", "--name", clusters.DefaultName)
		return []gateRun{r, rec, again}
	}
	o.env = append(o.env, engine.PanicHook+"=after-effect")
	return []gateRun{run(ctx, o, gate...)}
}

// expectEndedBadly checks what endBadly's runs did.
func expectEndedBadly(e badEnd, runs []gateRun) {
	r := runs[0]
	switch e {
	case bySIGINT:
		Expect(r.code).To(Equal(130), "%s", r.verdict())
		Expect(r.report.Run.Status).To(Equal(reports.StatusInterrupted))
		Expect(r.report.Scenarios).To(HaveLen(1))
		Expect(r.report.Scenarios[0].Faults).NotTo(BeEmpty(), "an interrupted scenario's report must list its faults")
	case bySIGKILL:
		Expect(r.code).To(Equal(-1), "chaosgate should have died of SIGKILL: %s", r.verdict())
		rec, again := runs[1], runs[2]
		Expect(rec.code).To(Equal(0), "%s", rec.verdict())
		Expect(again.code).To(Equal(0), "%s", again.verdict())
		Expect(again.output).To(ContainSubstring("No active faults"))
	case byPanic:
		Expect(r.code).To(Equal(3), "%s", r.verdict())
		Expect(r.output).To(ContainSubstring("injected panic"))
	}
}

var _ = Describe("a run that ends badly leaves nothing broken", Label("e2e", "safety"), Ordered, ContinueOnFailure, func() {
	for _, fc := range faultCases {
		if fc.pods {
			continue // beside the pod-level controls
		}
		for _, e := range endsOf(fc.panic) {
			It(e.title(fc.kind), func(ctx SpecContext) {
				ns := fmt.Sprintf("%ssafety-%s-%s", aloneNamespaces, fc.kind, strings.ToLower(string(e)))
				DeferCleanup(func(ctx SpecContext) { startDeleteNamespace(ctx, ns) })
				expectEndedBadly(e, endBadly(ctx, e, fc.args, runOpts{}, "--namespace", ns))
				expectWhole(ctx, journal)
			})
		}
	}
	AfterAll(func(ctx SpecContext) {
		deleteNamespaces(ctx, aloneNamespaces)
	}, NodeTimeout(4*time.Minute))
})

// crowdedSafetyCase is a pod fault's bad end, run beside the pod-level
// controls in a namespace and journal of its own.
type crowdedSafetyCase struct {
	name    string
	end     badEnd
	args    []string
	journal string
	runs    []gateRun
}

func crowdedSafetyCases() []*crowdedSafetyCase {
	var out []*crowdedSafetyCase
	for _, fc := range faultCases {
		if !fc.pods {
			continue
		}
		for _, e := range endsOf(fc.panic) {
			out = append(out, &crowdedSafetyCase{name: e.title(fc.kind), end: e, args: fc.args})
		}
	}
	return out
}

func signal(s os.Signal) func(context.Context, *os.Process) {
	return func(_ context.Context, p *os.Process) { _ = p.Signal(s) }
}

// expectWhole checks the cluster's real state after a run whose journal
// was dir: nothing of a fault may be left.
func expectWhole(ctx context.Context, dir string) {
	left, err := faults.Journal{Dir: dir}.Entries()
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
}
