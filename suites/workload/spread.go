package workload

import (
	"context"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"

	"github.com/chaosgate/chaosgate/clusters"
)

// Respread deletes the target's pods that crowd a node beyond an even
// spread over the nodes that can take them, so that the ReplicaSet starts
// them again where the scheduler prefers (a spread constraint, anti-
// affinity), and waits until as many pods as before serve. An earlier
// scenario leaves pods where it drove them (a drain moves a node's pods to
// the others, a node failure too) and nothing moves them back; a node
// fault after that would hit two replicas where the workload spread them
// one per node, and judge an accident of order, not the workload. It
// returns how many pods it moved. The load has not started: no request
// sees the deleted pods go.
func Respread(ctx context.Context, cs kubernetes.Interface, namespace, selector string, timeout time.Duration) (int, error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, fmt.Errorf("list pods %s in %s: %w", selector, namespace, err)
	}
	crowded := crowding(nodes.Items, pods.Items)
	if len(crowded) == 0 {
		return 0, nil
	}
	serving := 0
	for _, p := range pods.Items {
		if podServes(&p) {
			serving++
		}
	}
	zero := int64(0)
	for _, p := range crowded {
		if err := cs.CoreV1().Pods(namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
			return 0, fmt.Errorf("delete pod %s/%s to spread the target again: %w", namespace, p.Name, err)
		}
	}
	gone := map[string]bool{}
	for _, p := range crowded {
		gone[p.Name] = true
	}
	err = wait.For(func(ctx context.Context) (bool, error) {
		now, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		n := 0
		for _, p := range now.Items {
			if !gone[p.Name] && podServes(&p) {
				n++
			}
		}
		return n >= serving, nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(250*time.Millisecond))
	if err != nil {
		return len(crowded), fmt.Errorf("the target's pods did not serve again after %d of them were moved to spread them: %w", len(crowded), err)
	}
	return len(crowded), nil
}

// crowding returns the pods beyond an even spread of pods over the nodes
// that can take them (Ready, schedulable, no NoSchedule or NoExecute
// taint): on a node holding more than ceil(pods/nodes), the excess.
func crowding(nodes []corev1.Node, pods []corev1.Pod) []corev1.Pod {
	eligible := map[string]bool{}
	for _, n := range nodes {
		if n.Spec.Unschedulable || !clusters.NodeReady(&n) {
			continue
		}
		tainted := false
		for _, t := range n.Spec.Taints {
			tainted = tainted || t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}
		if !tainted {
			eligible[n.Name] = true
		}
	}
	byNode := map[string][]corev1.Pod{}
	total := 0
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Spec.NodeName == "" || !eligible[p.Spec.NodeName] {
			continue
		}
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
		total++
	}
	if len(eligible) == 0 || total == 0 {
		return nil
	}
	limit := (total + len(eligible) - 1) / len(eligible)
	names := make([]string, 0, len(byNode))
	for n := range byNode {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []corev1.Pod
	for _, n := range names {
		ps := byNode[n]
		if len(ps) <= limit {
			continue
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
		out = append(out, ps[limit:]...)
	}
	return out
}

// podServes: running, Ready, not terminating.
func podServes(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && PodReady(p)
}
