package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Drain cordons a worker and evicts its pods through the Eviction API, as
// `kubectl drain` does (DaemonSet and mirror pods stay, and so do pods no
// controller would bring back, as kubectl does without --force; every other
// pod is evicted concurrently, and an eviction a PodDisruptionBudget refuses
// is retried), so PDBs are respected. An eviction still refused at the
// deadline is reported with the budget that blocks it, not waited on
// forever. kube-system pods stay unless IncludeKubeSystem is set. It is in
// effect when the node is cordoned and no evictable pod is left on it; the
// revert uncordons it (unless it was cordoned before).
type Drain struct {
	Client              kubernetes.Interface
	Node                string
	Namespace, Selector string
	// EvictionDeadline bounds retrying evictions refused by a budget;
	// default 60s.
	EvictionDeadline  time.Duration
	IncludeKubeSystem bool
}

// Kind implements Fault.
func (d *Drain) Kind() string { return "drain" }

// Describe implements Fault.
func (d *Drain) Describe() string {
	return "drain worker " + describeNode(d.Node, d.Selector) + " (cordon, evictions respecting PodDisruptionBudgets)"
}

// Validate checks parameters before anything is injected.
func (d *Drain) Validate() error {
	if d.Client == nil {
		return errors.New("drain: needs a cluster client")
	}
	if d.Node == "" && d.Selector == "" {
		return errors.New("drain: name a node or a selector to pick one by")
	}
	if d.EvictionDeadline < 0 {
		return errors.New("drain: the eviction deadline must not be negative")
	}
	return nil
}

// Plan implements Fault.
func (d *Drain) Plan(ctx context.Context) (Injection, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	node, err := PickWorker(ctx, d.Client, d.Namespace, d.Selector, d.Node)
	if err != nil {
		return nil, err
	}
	n, err := d.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pods, err := d.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	deadline := d.EvictionDeadline
	if deadline == 0 {
		deadline = time.Minute
	}
	inj := &drainInjection{client: d.Client, Node: node, WasCordoned: n.Spec.Unschedulable, Deadline: deadline}
	inj.targets = []Target{{Kind: "node", Name: node}}
	for _, p := range pods.Items {
		if !evictable(&p, d.IncludeKubeSystem) {
			continue
		}
		if metav1.GetControllerOf(&p) == nil {
			// kubectl drain refuses these without --force: nothing would
			// bring them back
			inj.Unmanaged = append(inj.Unmanaged, p.Namespace+"/"+p.Name)
			continue
		}
		inj.Pods = append(inj.Pods, podKey{Namespace: p.Namespace, Name: p.Name, UID: p.UID})
		inj.targets = append(inj.targets, Target{Kind: "pod", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Node: node})
	}
	return inj, nil
}

// evictable says whether kubectl drain would evict the pod (and chaosgate
// may touch its namespace).
func evictable(p *corev1.Pod, kubeSystem bool) bool {
	if p.Namespace == "kube-system" && !kubeSystem {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if o := metav1.GetControllerOf(p); o != nil && o.Kind == "DaemonSet" {
		return false
	}
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

type podKey struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

type drainInjection struct {
	client      kubernetes.Interface
	targets     []Target
	Node        string        `json:"node"`
	WasCordoned bool          `json:"wasCordoned"`
	Pods        []podKey      `json:"pods"`
	Deadline    time.Duration `json:"deadline"`
	// Unmanaged pods (no controller) stay: evicting them loses them.
	Unmanaged []string `json:"unmanaged,omitempty"`
}

func (i *drainInjection) Targets() []Target               { return i.targets }
func (i *drainInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *drainInjection) setCordon(ctx context.Context, on bool) error {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, on)
	_, err := i.client.CoreV1().Nodes().Patch(ctx, i.Node, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// Apply cordons the node and evicts its pods concurrently, retrying the
// evictions a budget refuses until the deadline.
func (i *drainInjection) Apply(ctx context.Context) error {
	if err := i.setCordon(ctx, true); err != nil {
		return fmt.Errorf("cordon %s: %w", i.Node, err)
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, p := range i.Pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := i.evict(ctx, p); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (i *drainInjection) evict(ctx context.Context, p podKey) error {
	deadline := time.Now().Add(i.Deadline)
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}}
	for {
		err := i.client.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
		switch {
		case err == nil, apierrors.IsNotFound(err), apierrors.IsConflict(err):
			return nil // evicted, or already gone
		case !apierrors.IsTooManyRequests(err):
			return fmt.Errorf("evict %s/%s: %w", p.Namespace, p.Name, err)
		case time.Now().After(deadline):
			return &FindingError{Err: &BlockedEvictionError{Pod: p.Namespace + "/" + p.Name, Budgets: i.budgets(ctx, p), Waited: i.Deadline, Err: err}}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// budgets names the PodDisruptionBudgets that select the pod.
func (i *drainInjection) budgets(ctx context.Context, p podKey) []string {
	pod, err := i.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	pdbs, err := i.client.PolicyV1().PodDisruptionBudgets(p.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, b := range pdbs.Items {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, fmt.Sprintf("%s/%s (%d of %d pods healthy, %d needed, %d disruptions allowed)",
				b.Namespace, b.Name, b.Status.CurrentHealthy, b.Status.ExpectedPods, b.Status.DesiredHealthy, b.Status.DisruptionsAllowed))
		}
	}
	return out
}

// BlockedEvictionError is an eviction a PodDisruptionBudget kept refusing.
type BlockedEvictionError struct {
	Pod     string
	Budgets []string
	Waited  time.Duration
	Err     error
}

func (e *BlockedEvictionError) Error() string {
	by := "a PodDisruptionBudget"
	if len(e.Budgets) > 0 {
		by = "PodDisruptionBudget " + strings.Join(e.Budgets, ", ")
	}
	return fmt.Sprintf("eviction of %s refused for %s by %s", e.Pod, e.Waited, by)
}

func (e *BlockedEvictionError) Unwrap() error { return e.Err }

// Verify waits until the node is cordoned and none of the evicted pods is
// left on it.
func (i *drainInjection) Verify(ctx context.Context) error {
	for {
		left, err := i.left(ctx)
		if err == nil && len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return fmt.Errorf("still on %s: %s", i.Node, strings.Join(left, ", "))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (i *drainInjection) left(ctx context.Context) ([]string, error) {
	n, err := i.client.CoreV1().Nodes().Get(ctx, i.Node, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	if !n.Spec.Unschedulable {
		return []string{"(not cordoned)"}, nil
	}
	var left []string
	for _, p := range i.Pods {
		pod, err := i.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err == nil && pod.UID == p.UID {
			left = append(left, p.Namespace+"/"+p.Name)
		}
	}
	return left, nil
}

// Revert uncordons the node, unless someone had cordoned it before the
// drain, and checks that it is schedulable again.
func (i *drainInjection) Revert(ctx context.Context) error {
	if i.WasCordoned {
		return nil
	}
	if err := i.setCordon(ctx, false); err != nil {
		if apierrors.IsNotFound(err) {
			return &TargetGoneError{Target: "node " + i.Node, Err: err}
		}
		return fmt.Errorf("uncordon %s: %w", i.Node, err)
	}
	n, err := i.client.CoreV1().Nodes().Get(ctx, i.Node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if n.Spec.Unschedulable {
		return fmt.Errorf("node %s is still cordoned", i.Node)
	}
	return nil
}

// RevertDrain returns the journal reverter for drains.
func RevertDrain(cs kubernetes.Interface) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj drainInjection
		if err := json.Unmarshal(e.State, &inj); err != nil || inj.Node == "" {
			return fmt.Errorf("decode state %s: %v", e.State, err)
		}
		inj.client = cs
		return inj.Revert(ctx)
	}
}
