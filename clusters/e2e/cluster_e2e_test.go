//go:build e2e

// Package e2e checks, against a real kind cluster created by package
// clusters, that the offline cluster does what the rest of chaosgate relies
// on. Run with `go test -tags e2e ./clusters/e2e/` (make test does).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/workload"
)

func TestCluster(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "offline kind cluster")
}

const (
	ns       = "chaosgate-smoke"
	app      = "smoke"
	nodePort = 30099 // last port of the default range, so the gate's first port stays free
)

var (
	c   *clusters.Cluster
	res *resources.Resources
)

var _ = BeforeSuite(func(ctx SpecContext) {
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		Fail("Docker is not usable, so the end-to-end specs cannot run: " + strings.TrimSpace(string(out)) +
			"\nStart it with clusters/scripts/ensure-docker.sh (make test does).")
	}
	var err error
	c, err = clusters.Up(ctx, clusters.UpOptions{Config: clusters.Config{Workers: 3, NodeGracePeriod: clusters.DefaultNodeGracePeriod}, Progress: GinkgoWriter, Timeout: 5 * time.Minute})
	Expect(err).NotTo(HaveOccurred(), "cluster up")
	res, err = resources.New(c.REST)
	Expect(err).NotTo(HaveOccurred())

	Expect(workload.BuildSampleImage(ctx, "", workload.SampleImage, "v1", GinkgoWriter)).To(Succeed())
	_, err = clusters.LoadImages(ctx, c.Name, workload.SampleImage)
	Expect(err).NotTo(HaveOccurred())
	deploySmoke(ctx)
}, NodeTimeout(20*time.Minute))

var _ = AfterSuite(func(ctx SpecContext) {
	if c != nil {
		_ = c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	}
}, NodeTimeout(time.Minute))

// deploySmoke runs 3 sample-app replicas, one per worker (required
// anti-affinity), behind a NodePort Service.
func deploySmoke(ctx context.Context) {
	// a namespace left terminating by an earlier run must be gone first
	Eventually(func() error {
		cur, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err == nil && cur.DeletionTimestamp == nil {
			return nil
		}
		if err == nil {
			return fmt.Errorf("namespace %s is terminating", ns)
		}
		_, err = c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		return err
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	labels := map[string]string{"app": app}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname",
						}},
					}},
					Containers: []corev1.Container{{
						Name: "app", Image: workload.SampleImage, ImagePullPolicy: corev1.PullIfNotPresent,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
							{Name: "DRAIN_DELAY", Value: "1s"}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}, PeriodSeconds: 1},
					}},
				},
			},
		},
	}
	_ = c.Client.AppsV1().Deployments(ns).Delete(ctx, app, metav1.DeleteOptions{})
	Eventually(func() error {
		_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		return err
	}).WithTimeout(time.Minute).Should(Succeed())
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http"), NodePort: nodePort}}},
	}
	_ = c.Client.CoreV1().Services(ns).Delete(ctx, app, metav1.DeleteOptions{})
	_, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(workload.WaitDeploymentComplete(ctx, c.Client, ns, app, 3*time.Minute)).To(Succeed())
}

func smokePods(ctx context.Context) []corev1.Pod {
	l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	Expect(err).NotTo(HaveOccurred())
	var out []corev1.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out = append(out, p)
		}
	}
	return out
}

// probe runs the sample app's probe command inside pod and returns the
// answering pod's name.
func probe(ctx context.Context, pod corev1.Pod, url string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := res.ExecInPod(ctx, ns, pod.Name, "app", []string{"/sampleapp", "probe", url}, &stdout, &stderr)
	if err != nil {
		return "", fmt.Errorf("probe %s from %s: %w: %s", url, pod.Name, err, stderr.String())
	}
	var body struct {
		Pod string `json:"pod"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &body); err != nil {
		return "", fmt.Errorf("probe %s from %s: %q: %w", url, pod.Name, stdout.String(), err)
	}
	return body.Pod, nil
}

// crossNodeTraffic checks every pod reaches every pod on another node.
func crossNodeTraffic(ctx context.Context) error {
	pods := smokePods(ctx)
	if len(pods) != 3 {
		return fmt.Errorf("%d smoke pods, want 3", len(pods))
	}
	for _, from := range pods {
		for _, to := range pods {
			if from.Spec.NodeName == to.Spec.NodeName {
				continue
			}
			got, err := probe(ctx, from, "http://"+to.Status.PodIP+":8080/")
			if err != nil {
				return err
			}
			if got != to.Name {
				return fmt.Errorf("%s reached %s at %s, want %s", from.Name, got, to.Status.PodIP, to.Name)
			}
		}
	}
	return nil
}

func readyNodes(ctx context.Context) (ready, total int) {
	l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	for _, n := range l.Items {
		if clusters.NodeReady(&n) {
			ready++
		}
	}
	return ready, len(l.Items)
}

var _ = Describe("offline kind cluster", Label("e2e", "cluster"), Ordered, func() {
	It("has 1 control plane and 3 workers, all Ready", func(ctx SpecContext) {
		l, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(l.Items).To(HaveLen(4))
		cp := 0
		for _, n := range l.Items {
			Expect(clusters.NodeReady(&n)).To(BeTrue(), "node %s not Ready", n.Name)
			if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
				cp++
			}
		}
		Expect(cp).To(Equal(1))
	})

	It("spreads a 3-replica workload over the 3 workers", func(ctx SpecContext) {
		nodes := map[string]bool{}
		for _, p := range smokePods(ctx) {
			Expect(p.Spec.NodeName).To(ContainSubstring("worker"))
			nodes[p.Spec.NodeName] = true
		}
		Expect(nodes).To(HaveLen(3))
	})

	It("answers the workload's NodePort at 127.0.0.1 from all three replicas", func(ctx SpecContext) {
		seen := map[string]int{}
		// a new connection per request, so kube-proxy picks a backend each
		// time; kube-proxy may still be programming a new Service's
		// endpoints, hence Eventually
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		Eventually(func() error {
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", nodePort))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var body struct{ Pod string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				return err
			}
			seen[body.Pod]++
			if len(seen) < 3 {
				return fmt.Errorf("answered so far: %v", seen)
			}
			return nil
		}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		Expect(seen).To(HaveLen(3), "replicas that answered: %v", seen)
	})

	It("carries pod-to-pod traffic across nodes", func(ctx SpecContext) {
		Expect(crossNodeTraffic(ctx)).To(Succeed())
	})

	It("resolves a Service name by DNS from inside a pod", func(ctx SpecContext) {
		pod := smokePods(ctx)[0]
		Eventually(func() error {
			_, err := probe(ctx, pod, "http://"+app+"."+ns+".svc.cluster.local/")
			return err
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	It("serves node and pod metrics through the metrics API", func(ctx SpecContext) {
		Eventually(func() (int, error) { return clusters.NodeMetricsCount(ctx, c.Client) }).
			WithTimeout(2 * time.Minute).WithPolling(5 * time.Second).Should(Equal(4))
		Eventually(func() (int, error) {
			raw, err := c.Client.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods").DoRaw(ctx)
			if err != nil {
				return 0, err
			}
			var l struct {
				Items []struct {
					Containers []struct {
						Usage map[string]string `json:"usage"`
					} `json:"containers"`
				} `json:"items"`
			}
			if err := json.Unmarshal(raw, &l); err != nil {
				return 0, err
			}
			n := 0
			for _, it := range l.Items {
				if len(it.Containers) > 0 && it.Containers[0].Usage["memory"] != "" {
					n++
				}
			}
			return n, nil
		}).WithTimeout(3 * time.Minute).WithPolling(5 * time.Second).Should(Equal(3))
	})

	It("keeps the pod and Service CIDRs on this machine, failing at once", func(ctx SpecContext) {
		bh, err := clusters.Blackholed(ctx, netip.MustParsePrefix(clusters.DefaultPodSubnet), netip.MustParsePrefix(clusters.DefaultServiceSubnet))
		Expect(err).NotTo(HaveOccurred())
		for p, ok := range bh {
			Expect(ok).To(BeTrue(), "no route keeping %s on this machine", p)
		}
		// a packet to a ClusterIP or pod IP fails here at once instead of
		// leaving through the default route
		for _, addr := range []string{"10.96.0.1:443", "10.244.1.1:8080"} {
			start := time.Now()
			conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if conn != nil {
				conn.Close()
			}
			Expect(err).To(HaveOccurred(), "connection to %s from this machine succeeded", addr)
			var ne net.Error
			Expect(errors.As(err, &ne) && ne.Timeout()).To(BeFalse(), "%s timed out instead of failing locally: %v", addr, err)
			Expect(time.Since(start)).To(BeNumerically("<", 500*time.Millisecond))
		}
		// and from a node, whose packets this machine forwards: a silent
		// drop there made a pod's connect hang for its client's timeout
		// (30s for client-go) when kube-proxy's rules were not there yet
		cps, _, err := clusters.NodeContainers(c.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(cps).NotTo(BeEmpty())
		for _, url := range []string{"https://10.96.255.254:443", "http://10.244.250.1:8080"} {
			start := time.Now()
			out, err := exec.CommandContext(ctx, "docker", "exec", cps[0], "curl", "-sS", "--connect-timeout", "3", url).CombinedOutput()
			var ee *exec.ExitError
			Expect(errors.As(err, &ee)).To(BeTrue(), "curl %s from %s: %v %s", url, cps[0], err, out)
			// curl's 7 is "failed to connect", 28 a timeout
			Expect(ee.ExitCode()).To(Equal(7), "curl %s from %s: %s", url, cps[0], out)
			Expect(time.Since(start)).To(BeNumerically("<", time.Second), "curl %s from %s", url, cps[0])
		}
	})

	// The cause of the sporadic 2s timeouts seen after pod kills: a SYN that
	// kube-proxy sent to an endpoint that is gone stays in conntrack as
	// SYN_SENT [UNREPLIED] (120s, refreshed by every retry), on this machine
	// and in the node. A later connection that reuses the same 4-tuple is
	// taken for a retransmission, NATed to the dead endpoint again, and fails
	// although the Service has long moved on. The load therefore spreads its
	// connections over many loopback source addresses. "Fails" is a timeout
	// or "no route to host": this machine's unreachable routes answer a SYN
	// to a dead pod address with an ICMP error, which the kernel rate-limits
	// per node (a burst of 6, then one a second), so either can come back.
	It("sends a connection that reuses the tuple of a SYN to a dead endpoint to that endpoint; another source address is not", func(ctx SpecContext) {
		const probePort = 30098
		live := smokePods(ctx)[0].Status.PodIP
		dead := "10.244.250.250" // in the pod CIDR, owned by nobody
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "ct-probe", Namespace: ns},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: probePort}}},
		}
		_, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) {
			_ = c.Client.CoreV1().Services(ns).Delete(ctx, "ct-probe", metav1.DeleteOptions{})
		})
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "ct-probe-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "ct-probe"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{dead}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		}
		slice, err = c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, slice, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) {
			_ = c.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, "ct-probe-1", metav1.DeleteOptions{})
		})

		tuple := func(src string, port int) error {
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src), Port: port}}
			conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", probePort))
			if err != nil {
				return err
			}
			_ = conn.(*net.TCPConn).SetLinger(0) // no TIME_WAIT: the tuple is free again at once
			return conn.Close()
		}
		// a connection sent to the dead endpoint times out or is told the
		// host is unreachable; before kube-proxy has programmed the Service
		// it is refused instead
		toDeadEndpoint := func(err error) bool {
			var ne net.Error
			return errors.Is(err, syscall.EHOSTUNREACH) || errors.As(err, &ne) && ne.Timeout()
		}
		// kube-proxy has programmed the dead endpoint once a connection from
		// a fresh port goes there; that port's tuple is now the stale one
		port := 41000
		Eventually(func() error {
			port++
			if err := tuple("127.0.0.1", port); !toDeadEndpoint(err) {
				return fmt.Errorf("port %d: %v", port, err)
			}
			return nil
		}).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		stale := port

		slice.Endpoints[0].Addresses = []string{live}
		_, err = c.Client.DiscoveryV1().EndpointSlices(ns).Update(ctx, slice, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() error { port++; return tuple("127.0.0.1", port) }).
			WithTimeout(time.Minute).WithPolling(200*time.Millisecond).Should(Succeed(), "the live endpoint never answered")

		err = tuple("127.0.0.1", stale)
		Expect(toDeadEndpoint(err)).To(BeTrue(), "reusing the stale tuple should still go to the dead endpoint, got %v", err)
		Expect(tuple("127.1.0.7", stale)).To(Succeed(), "the same port from another source address must reach the live endpoint")
		AddReportEntry("stale conntrack tuple", fmt.Sprintf("127.0.0.1:%d went to the dead endpoint (%v) against a live Service; 127.1.0.7:%d connected", stale, err, stale))
	})

	It("takes a stopped worker NotReady and back to Ready, and cross-node traffic recovers", func(ctx SpecContext) {
		journal := faults.Journal{Dir: GinkgoT().TempDir()}
		in := &faults.Injector{Journal: journal, Cluster: c.Name, RunID: "e2e", VerifyTimeout: 3 * time.Minute}
		DeferCleanup(func(ctx context.Context) { _ = in.RevertAll(ctx) })
		// the worker hosting the most smoke pods (one each here)
		id, err := in.Inject(ctx, &faults.NodeShutdown{Docker: faults.DockerCLI{}, Client: c.Client, Namespace: ns, Selector: "app=" + app})
		Expect(err).NotTo(HaveOccurred())
		// in effect once the control plane has marked the Node NotReady
		inEffect, err := in.AwaitEffect(ctx, id)
		Expect(err).NotTo(HaveOccurred())
		ev := in.Events()[0]
		Expect(inEffect).To(BeTrue(), "node not NotReady: %s", ev.Error)
		stopped := ev.Targets[0].Name
		GinkgoWriter.Printf("stopped %s\n", stopped)
		n, err := c.Client.CoreV1().Nodes().Get(ctx, stopped, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(clusters.NodeReady(n)).To(BeFalse())
		notReadyAfter := ev.EffectLatency()

		// recover the node the way `chaosgate recover` does after a crash:
		// from the journal alone; the revert returns once the node is Ready
		// with its DaemonSet pods
		startedAt := time.Now()
		done, err := faults.Journal{Dir: journal.Dir}.Recover(ctx, faults.Reverters(faults.DockerCLI{}, c.Client), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(done).To(HaveLen(1))
		Expect(done[0].Entry.ID).To(Equal(id))
		n, err = c.Client.CoreV1().Nodes().Get(ctx, stopped, metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(clusters.NodeReady(n)).To(BeTrue(), "the revert returned before %s was Ready", stopped)
		readyAfter := time.Since(startedAt)
		AddReportEntry("node stop", fmt.Sprintf("NotReady %.0fs after docker stop; Ready %.0fs after docker start", notReadyAfter.Seconds(), readyAfter.Seconds()))

		Expect(workload.WaitDeploymentComplete(ctx, c.Client, ns, app, 3*time.Minute)).To(Succeed())
		Eventually(func() error { return crossNodeTraffic(ctx) }).
			WithTimeout(2 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		ready, total := readyNodes(ctx)
		Expect(ready).To(Equal(total))
	})
})
