package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// controlPlaneLabel marks control-plane nodes, which node faults never hit:
// the API server lives there, and so do the gate's port mappings.
const controlPlaneLabel = "node-role.kubernetes.io/control-plane"

// NodeReady returns the status of the node's Ready condition ("True",
// "False", "Unknown").
func NodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// waitNodeReady polls the Node until its Ready condition is (ready) True or
// (not ready) anything else, or ctx ends.
func waitNodeReady(ctx context.Context, cs kubernetes.Interface, name string, ready bool) error {
	var last string
	for {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil && (NodeReady(n) == corev1.ConditionTrue) == ready:
			return nil
		case err == nil:
			last = "Ready=" + string(NodeReady(n))
		default:
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			want := "Ready"
			if !ready {
				want = "NotReady"
			}
			return fmt.Errorf("node %s not %s (%s): %w", name, want, last, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// NotWorkerError says a node named for a node fault is not a worker of the
// cluster (missing, or a control-plane node).
type NotWorkerError struct{ Node string }

func (e *NotWorkerError) Error() string {
	return fmt.Sprintf("node %q is not a worker node of this cluster", e.Node)
}

// PickWorker returns node when it is set (after checking it is a worker),
// or else the worker hosting the most pods that match selector in
// namespace (ties broken by name), so a node fault hurts the target most.
func PickWorker(ctx context.Context, cs kubernetes.Interface, namespace, selector, node string) (string, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	workers := map[string]bool{}
	for _, n := range nodes.Items {
		if _, cp := n.Labels[controlPlaneLabel]; !cp {
			workers[n.Name] = true
		}
	}
	if node != "" {
		if !workers[node] {
			return "", &NotWorkerError{Node: node}
		}
		return node, nil
	}
	if len(workers) == 0 {
		return "", &NoTargetError{Reason: "the cluster has no worker node"}
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", err
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && workers[p.Spec.NodeName] {
			count[p.Spec.NodeName]++
		}
	}
	names := make([]string, 0, len(workers))
	for n := range workers {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	return names[0], nil
}

// nodeFaultTarget is what the node faults that reach a kind node through
// Docker share: which worker, and the checks before anything is injected.
type nodeFaultTarget struct {
	Docker Docker
	Client kubernetes.Interface
	// Node is the worker to hit; empty picks the worker that hosts the
	// most pods matching Selector in Namespace.
	Node                string
	Namespace, Selector string
}

func (t nodeFaultTarget) validate(kind string) error {
	if t.Docker == nil || t.Client == nil {
		return fmt.Errorf("%s: needs Docker access to kind nodes and a cluster client", kind)
	}
	if t.Node == "" && t.Selector == "" {
		return fmt.Errorf("%s: name a node or a selector to pick one by", kind)
	}
	return nil
}

// pick chooses the worker, and returns it with its targets: the node and
// the target's pods on it.
func (t nodeFaultTarget) pick(ctx context.Context) (string, []Target, error) {
	node, err := PickWorker(ctx, t.Client, t.Namespace, t.Selector, t.Node)
	if err != nil {
		return "", nil, err
	}
	targets := []Target{{Kind: "node", Name: node}}
	if t.Selector == "" {
		return node, targets, nil
	}
	l, err := t.Client.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: t.Selector, FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return "", nil, err
	}
	for _, p := range l.Items {
		targets = append(targets, Target{Kind: "pod", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: node})
	}
	return node, targets, nil
}

// describe names the worker for Describe.
func (t nodeFaultTarget) describe() string { return describeNode(t.Node, t.Selector) }

// revertUntilBack runs undo until it succeeds and the node is back (its
// kubelet's Lease renewed after the revert began, Ready, DaemonSet pods
// Ready), once a second within timeout (default 3 minutes). A node that
// no longer exists is a *TargetGoneError; what names the fault in the
// error when time runs out.
func revertUntilBack(ctx context.Context, cs kubernetes.Interface, node string, timeout time.Duration, what string, undo func(context.Context) error) error {
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	since := time.Now()
	for {
		err := undo(ctx)
		if err == nil {
			err = nodeBack(ctx, cs, node, since)
		}
		if err == nil {
			return nil
		}
		if isNotFound(err) {
			return &TargetGoneError{Target: "node " + node, Err: err}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, err)
		case <-time.After(time.Second):
		}
	}
}

// isNotFound reports whether err says a Kubernetes object or a Docker
// container does not exist.
func isNotFound(err error) bool {
	return apierrors.IsNotFound(err) || (err != nil && strings.Contains(err.Error(), "No such container"))
}
