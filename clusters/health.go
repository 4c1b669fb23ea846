package clusters

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
)

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitHealthy waits until the cluster has want Ready nodes, its pod network
// and DNS run, and the metrics API serves metrics for every node.
func WaitHealthy(ctx context.Context, c *Cluster, want int, timeout time.Duration, progress io.Writer) error {
	res, err := resources.New(c.REST)
	if err != nil {
		return err
	}
	cond := conditions.New(res)
	deadline := time.Now().Add(timeout)
	opts := func() []wait.Option {
		return []wait.Option{wait.WithContext(ctx), wait.WithTimeout(time.Until(deadline)), wait.WithInterval(time.Second), wait.WithImmediate()}
	}
	step := func(name string, fn func() error) error {
		start := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(progress, " ✓ %s (%s)\n", name, time.Since(start).Round(100*time.Millisecond))
		return nil
	}
	err = step(fmt.Sprintf("%d nodes Ready", want), func() error {
		return wait.For(cond.ResourceListMatchN(&corev1.NodeList{}, want, func(o k8s.Object) bool {
			return NodeReady(o.(*corev1.Node))
		}), opts()...)
	})
	if err != nil {
		return withNodeSummary(ctx, c.Client, err)
	}
	err = step("pod network ready on every node", func() error {
		return wait.For(func(ctx context.Context) (bool, error) {
			return cniReady(ctx, c.Client)
		}, opts()...)
	})
	if err != nil {
		return err
	}
	err = step("CoreDNS available", func() error {
		return wait.For(cond.DeploymentAvailable("coredns", "kube-system"), opts()...)
	})
	if err != nil {
		return err
	}
	return step("metrics API serving every node", func() error {
		return wait.For(func(ctx context.Context) (bool, error) {
			n, err := NodeMetricsCount(ctx, c.Client)
			return err == nil && n >= want, nil
		}, opts()...)
	})
}

// cniReady is true when the CNI DaemonSet (podnet, or kindnet on
// kindest/node) has a Ready pod on every node. It reads the pods, not the
// DaemonSet's status: the DaemonSet controller does not recompute that
// when a node is deleted, only when one of its own objects changes, and
// kept counting a deleted node for minutes here.
func cniReady(ctx context.Context, cs kubernetes.Interface) (bool, error) {
	for _, name := range []string{"podnet", "kindnet"} {
		ds, err := cs.AppsV1().DaemonSets("kube-system").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, nil
		}
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil {
			return false, fmt.Errorf("DaemonSet %s selector: %w", name, err)
		}
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, nil
		}
		return podOnEveryNode(nodes.Items, pods.Items), nil
	}
	return false, nil
}

// podOnEveryNode reports whether every node runs a Ready pod of pods.
func podOnEveryNode(nodes []corev1.Node, pods []corev1.Pod) bool {
	ready := map[string]bool{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready[p.Spec.NodeName] = true
			}
		}
	}
	for _, n := range nodes {
		if !ready[n.Name] {
			return false
		}
	}
	return len(nodes) > 0
}

// NodeMetricsCount returns how many nodes the metrics API has metrics for.
func NodeMetricsCount(ctx context.Context, cs kubernetes.Interface) (int, error) {
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return 0, err
	}
	return len(list.Items), nil
}

func withNodeSummary(ctx context.Context, cs kubernetes.Interface, err error) error {
	nodes, lerr := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return err
	}
	var parts []string
	for _, n := range nodes.Items {
		state := "NotReady"
		if NodeReady(&n) {
			state = "Ready"
		}
		parts = append(parts, n.Name+"="+state)
	}
	return fmt.Errorf("%w (nodes: %s)", err, strings.Join(parts, ", "))
}

// Status is a snapshot of a cluster's health.
type Status struct {
	Name          string
	Exists        bool
	Nodes         []NodeStatus
	CNIReady      bool
	CoreDNSReady  bool
	MetricsNodes  int
	Blackholed    map[string]bool
	Context       string
	HealthProblem string
}

// NodeStatus is one node of a Status.
type NodeStatus struct {
	Name, Role, InternalIP string
	Ready                  bool
}

// Healthy reports whether nothing is wrong.
func (s Status) Healthy() bool { return s.Exists && s.HealthProblem == "" }

// GetStatus inspects a cluster without changing anything.
func GetStatus(ctx context.Context, name string) (Status, error) {
	st := Status{Name: name, Context: "kind-" + name, Blackholed: map[string]bool{}}
	ok, err := Exists(name)
	if err != nil {
		return st, err
	}
	st.Exists = ok
	cfg := Config{Name: name}.WithDefaults()
	bh, err := Blackholed(ctx, cfg.PodSubnet, cfg.ServiceSubnet)
	if err == nil {
		for p, v := range bh {
			st.Blackholed[p.String()] = v
		}
	}
	if !ok {
		st.HealthProblem = "cluster does not exist"
		return st, nil
	}
	c, err := Connect(name, "")
	if err != nil {
		st.HealthProblem = err.Error()
		return st, nil
	}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		st.HealthProblem = "API server: " + err.Error()
		return st, nil
	}
	var problems []string
	for _, n := range nodes.Items {
		ns := NodeStatus{Name: n.Name, Ready: NodeReady(&n), Role: "worker"}
		if _, cp := n.Labels["node-role.kubernetes.io/control-plane"]; cp {
			ns.Role = "control-plane"
		}
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				ns.InternalIP = a.Address
			}
		}
		if !ns.Ready {
			problems = append(problems, "node "+n.Name+" NotReady")
		}
		st.Nodes = append(st.Nodes, ns)
	}
	st.CNIReady, _ = cniReady(ctx, c.Client)
	if !st.CNIReady {
		problems = append(problems, "pod network not ready")
	}
	if d, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{}); err == nil {
		st.CoreDNSReady = d.Status.AvailableReplicas > 0
	}
	if !st.CoreDNSReady {
		problems = append(problems, "CoreDNS not available")
	}
	st.MetricsNodes, _ = NodeMetricsCount(ctx, c.Client)
	if st.MetricsNodes < len(st.Nodes) {
		problems = append(problems, fmt.Sprintf("metrics API has %d of %d nodes", st.MetricsNodes, len(st.Nodes)))
	}
	for p, v := range st.Blackholed {
		if !v {
			problems = append(problems, "no route keeping "+p+" on this machine")
		}
	}
	st.HealthProblem = strings.Join(problems, "; ")
	return st, nil
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
