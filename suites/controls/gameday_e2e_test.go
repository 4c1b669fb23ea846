//go:build e2e

package controls

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// Game days run a team's plan on the gate's engine: the shipped plan for
// the local kind cluster must pass the sample, and a plan whose abort rule
// a broken workload trips must stop at once with every fault reverted.
var _ = Describe("chaosgate gameday", Label("e2e", "gameday"), Ordered, func() {
	AfterAll(func(ctx SpecContext) {
		deleteNamespaces(ctx, "chaosgate-gameday")
		deleteNamespaces(ctx, "chaosgate-e2e-live")
	})

	// Real traffic as the signal (load.none): chaosgate sends nothing; this
	// test plays the users, through a NodePort Service of its own, and the
	// verdict comes from what the pods counted. The sample passes; a bug
	// answering one request in 20 with a 500 trips the abort rule and
	// fails served-availability, which no request of ours could see.
	for _, tc := range []struct {
		plan string
		pass bool
	}{
		{"suites/controls/testdata/real-traffic-sample.yaml", true},
		{"suites/controls/testdata/real-traffic-errors.yaml", false},
	} {
		It("judges a plan without generated load by the pods' own counters: "+tc.plan, func(ctx SpecContext) {
			users := newRealUsers("chaosgate-gameday-real")
			r := run(ctx, runOpts{hook: &when{marker: "no generated load for", do: users.start}}, "gameday", "--plan", tc.plan)
			sent, failed := users.stop(ctx)
			// 40 req/s: the broken one's abort ends it after about 10s
			Expect(sent).To(BeNumerically(">", 250), "the test's own traffic did not run")
			served := r.check("served-availability")
			// the pods counted what reached them: the traffic sent while
			// the run watched, less what a killed pod served after its last
			// scrape
			Expect(served.Detail).To(MatchRegexp(`^\d+ of \d+ requests the pods counted`))
			var answered, counted int
			_, err := fmt.Sscanf(served.Detail, "%d of %d", &answered, &counted)
			Expect(err).NotTo(HaveOccurred())
			Expect(counted).To(BeNumerically("<=", sent), "the pods counted %d, more than the %d sent", counted, sent)
			Expect(r.report.Scenarios[0].Timeline.Total).To(Equal(0), "chaosgate sent requests")
			if tc.pass {
				Expect(r.code).To(Equal(0), "%s", r.verdict())
				Expect(served.Passed).To(BeTrue(), served.Message())
				Expect(failed).To(BeNumerically("<", sent/100), "the users saw %d of %d fail", failed, sent)
				// the users' traffic outlasts the run by its settle and exit
				Expect(counted).To(BeNumerically(">=", sent/2), "the pods counted %d of the %d requests sent", counted, sent)
			} else {
				Expect(r.code).To(Equal(1), "%s", r.verdict())
				Expect(served.Passed).To(BeFalse(), served.Message())
				Expect(r.output).To(ContainSubstring("FAIL: " + served.Name))
				abort := r.check("abort-rules")
				Expect(abort.Passed).To(BeFalse(), abort.Message())
				Expect(abort.Detail).To(ContainSubstring("availability over the last 10s below 97%"))
			}
			expectWhole(ctx, journal)
			AddReportEntry("game day on real traffic: "+tc.plan, r.verdict())
		})
	}

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
		expectWhole(ctx, journal)
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
		expectWhole(ctx, journal)
		AddReportEntry("abort control", r.verdict())
	})

	// A team's service, deployed by the team: the plan names its Deployment
	// and no workload folder. The run must judge it as it runs (no
	// redeploy, no namespace reset, no pod moved), and leave nothing of its
	// own in the namespace (its NodePort Service, its load agents' Job).
	It("runs a plan against a Deployment that is already running, leaving its namespace as it was", func(ctx SpecContext) {
		c, err := clusters.Connect(clusters.DefaultName, "")
		Expect(err).NotTo(HaveOccurred())
		const ns = "chaosgate-e2e-live"
		deleteNamespaces(ctx, ns) // an earlier, interrupted run's
		created, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		w, err := workload.LoadWorkload("sample", "", 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(workload.Apply(ctx, c.REST, w, ns, workload.ApplyOptions{})).To(Succeed())
		Expect(workload.WaitDeploymentComplete(ctx, c.Client, ns, "sampleapp", 3*time.Minute)).To(Succeed())
		dep, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "sampleapp", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		before, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=sampleapp"})
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, p := range before.Items {
			names = append(names, p.Name)
		}

		r := run(ctx, runOpts{}, "gameday", "--plan", "suites/controls/testdata/live-deployment.yaml")
		Expect(r.code).To(Equal(0), "%s", r.verdict())
		Expect(r.output).To(ContainSubstring("target deployment/sampleapp in chaosgate-e2e-live (live): judged as it runs, nothing deployed"))
		Expect(r.report.Run.Workload).To(Equal("deployment/sampleapp in chaosgate-e2e-live (live)"))
		sc := r.report.Scenarios[0]
		Expect(sc.Faults).To(HaveLen(2))
		// the first kill hits a pod the team ran; the second may hit its
		// replacement, Ready again after the wait
		var victims []string
		for _, f := range sc.Faults {
			Expect(f.TookEffect).To(BeTrue(), "%s: %s", f.Description, f.Error)
			victims = append(victims, f.Targets...)
		}
		Expect(victims).To(HaveLen(2))
		isOriginal := func(target string) bool {
			return slices.ContainsFunc(names, func(n string) bool { return strings.Contains(target, "/"+n+"@") })
		}
		Expect(isOriginal(victims[0])).To(BeTrue(), "%s: not one of the pods the team ran (%v)", victims[0], names)
		// the load came from agent pods of a Job in the namespace, to the
		// Service's name, and the Job went with the run
		Expect(sc.Load.Agents).To(Equal(2))
		Expect(sc.Load.Target).To(HaveSuffix("sampleapp.chaosgate-e2e-live.svc:80/"))
		Eventually(func(g Gomega) {
			jobs, err := c.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(jobs.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		after, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "sampleapp", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(after.Generation).To(Equal(dep.Generation), "the Deployment was changed")
		nsNow, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nsNow.UID).To(Equal(created.UID), "the namespace was recreated")
		Expect(nsNow.Labels).NotTo(HaveKey(workload.ManagedByLabel), "the namespace was recreated or taken over")
		_, err = c.Client.CoreV1().Services(ns).Get(ctx, workload.ExposedServiceName, metav1.GetOptions{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the run's NodePort Service is left: %v", err)
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=sampleapp"})
		Expect(err).NotTo(HaveOccurred())
		now := map[types.UID]bool{}
		for _, p := range pods.Items {
			now[p.UID] = true
		}
		for _, p := range before.Items {
			killed := slices.ContainsFunc(victims, func(t string) bool { return strings.Contains(t, "/"+p.Name+"@") })
			Expect(now[p.UID]).To(Equal(!killed), "pod %s (killed: %v) must be there exactly when it was not killed", p.Name, killed)
		}
		expectWhole(ctx, journal)
		AddReportEntry("game day on a live Deployment", r.verdict())
	})
})

// realUsers plays a service's users for a game day without generated load:
// a NodePort Service of its own to the target's pods, and 40 requests per
// second to it from this machine, for at most a minute.
type realUsers struct {
	namespace string

	sent, failed atomic.Int64
	// started is closed once start has returned, however it did; the
	// traffic runs until cancel
	started chan struct{}
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

func newRealUsers(namespace string) *realUsers {
	return &realUsers{namespace: namespace, started: make(chan struct{})}
}

func (u *realUsers) start(ctx context.Context, _ *os.Process) {
	defer GinkgoRecover()
	defer close(u.started)
	c, err := clusters.Connect(clusters.DefaultName, "")
	Expect(err).NotTo(HaveOccurred())
	port, err := workload.FreeNodePort(ctx, c.Client, u.namespace, clusters.DefaultFirstPort, clusters.DefaultLastPort)
	Expect(err).NotTo(HaveOccurred())
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "real-users"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "sampleapp"},
		Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: int32(port)}},
	}}
	_, err = c.Client.CoreV1().Services(u.namespace).Create(ctx, svc, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	ctx, u.cancel = context.WithTimeout(ctx, time.Minute)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	// the users arrive once the NodePort routes (kube-proxy programs it
	// within a few seconds)
	Eventually(func() error {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		tick := time.NewTicker(25 * time.Millisecond)
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				u.sent.Add(1)
				resp, err := client.Get(url)
				if err != nil {
					u.failed.Add(1)
					return
				}
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					u.failed.Add(1)
				}
			}()
		}
	}()
}

// stop ends the traffic, deletes the users' Service (its NodePort is one
// of the few this machine reaches) and says how many requests were sent
// and failed.
func (u *realUsers) stop(ctx context.Context) (sent, failed int) {
	// start may still be waiting for the NodePort (30s at most), or never
	// have been called if the run ended before its marker
	select {
	case <-u.started:
	case <-time.After(40 * time.Second):
	case <-ctx.Done():
	}
	if u.cancel != nil {
		u.cancel()
	}
	u.done.Wait()
	c, err := clusters.Connect(clusters.DefaultName, "")
	Expect(err).NotTo(HaveOccurred())
	if err := c.Client.CoreV1().Services(u.namespace).Delete(ctx, "real-users", metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	return int(u.sent.Load()), int(u.failed.Load())
}
