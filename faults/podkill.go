package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PodKill deletes pods chosen at random among the pods that serve (Ready,
// running, not terminating) and match a label selector in one namespace.
type PodKill struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string
	// Count pods, or Percent of the candidate pods (rounded up); exactly one
	// of them is set.
	Count   int
	Percent int
	// Force deletes with grace period 0 (no SIGTERM drain); otherwise the
	// pods' own terminationGracePeriodSeconds applies.
	Force bool
	// IncludeNotReady makes running pods that are not Ready candidates too.
	// By default only pods that serve are killed: killing a pod that is
	// crash-looping or still starting tests nothing.
	IncludeNotReady bool
	// Rand picks the victims; nil uses a random source.
	Rand *rand.Rand
	// AllowKubeSystem must be set to target kube-system.
	AllowKubeSystem bool
}

// Kind implements Fault.
func (p *PodKill) Kind() string { return "pod-kill" }

// SelfHealing implements SelfHealing: the pods' controller replaces them.
func (p *PodKill) SelfHealing() bool { return true }

// Describe implements Fault.
func (p *PodKill) Describe() string {
	n := fmt.Sprintf("%d", p.Count)
	if p.Percent > 0 {
		n = fmt.Sprintf("%d%% of the", p.Percent)
	}
	which := "Ready"
	if p.IncludeNotReady {
		which = "running"
	}
	mode := "gracefully"
	if p.Force {
		mode = "forcefully (grace period 0)"
	}
	return fmt.Sprintf("delete %s %s pod(s) matching %q in %s %s", n, which, p.Selector, p.Namespace, mode)
}

// Validate checks the parameters before anything is injected.
func (p *PodKill) Validate() error {
	if p.Namespace == "" {
		return fmt.Errorf("pod-kill: namespace is required")
	}
	if p.Namespace == "kube-system" && !p.AllowKubeSystem {
		return fmt.Errorf("pod-kill: refusing to touch kube-system (pass the explicit allow option to do so)")
	}
	sel, err := labels.Parse(p.Selector)
	if err != nil {
		return fmt.Errorf("pod-kill: selector %q: %w", p.Selector, err)
	}
	if sel.Empty() {
		return fmt.Errorf("pod-kill: selector must not be empty (it would match every pod in %s)", p.Namespace)
	}
	if (p.Count > 0) == (p.Percent > 0) {
		return fmt.Errorf("pod-kill: set exactly one of count (%d) and percent (%d)", p.Count, p.Percent)
	}
	if p.Count < 0 || p.Percent < 0 || p.Percent > 100 {
		return fmt.Errorf("pod-kill: count must be positive and percent 1-100")
	}
	return nil
}

// victims decides how many of n candidates to kill.
func (p *PodKill) victims(n int) int {
	k := p.Count
	if p.Percent > 0 {
		k = int(math.Ceil(float64(n) * float64(p.Percent) / 100))
	}
	return min(k, n)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Plan implements Fault: it picks victims among the pods that serve. No
// such pod is a *NoTargetError: the workload has nothing left to lose.
func (p *PodKill) Plan(ctx context.Context) (Injection, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	list, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
	if err != nil {
		return nil, err
	}
	var cands []corev1.Pod
	siblings := map[types.UID][]types.UID{} // controller -> its pods now
	for _, pod := range list.Items {
		if owner := metav1.GetControllerOf(&pod); owner != nil {
			siblings[owner.UID] = append(siblings[owner.UID], pod.UID)
		}
		if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning {
			continue
		}
		if !p.IncludeNotReady && !podReady(&pod) {
			continue
		}
		cands = append(cands, pod)
	}
	if len(cands) == 0 {
		which := "Ready"
		if p.IncludeNotReady {
			which = "running"
		}
		return nil, &NoTargetError{Reason: fmt.Sprintf("no %s pod matches %q in %s (%d pod(s) match, none %s and not terminating)",
			which, p.Selector, p.Namespace, len(list.Items), strings.ToLower(which))}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Name < cands[j].Name })
	r := p.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	}
	r.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	k := p.victims(len(cands))
	inj := &podKillInjection{client: p.Client, Namespace: p.Namespace, Selector: p.Selector, Force: p.Force}
	for _, pod := range cands[:k] {
		ref := podRef{Name: pod.Name, UID: pod.UID, Node: pod.Spec.NodeName}
		if owner := metav1.GetControllerOf(&pod); owner != nil {
			ref.Owner = owner.UID
			ref.Siblings = siblings[owner.UID]
		}
		inj.Pods = append(inj.Pods, ref)
	}
	return inj, nil
}

type podRef struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
	Node string    `json:"node"`
	// Owner is the pod's controller (its ReplicaSet); Siblings are the
	// owner's pods when the victim was chosen, so a replacement is a pod
	// of that owner not among them.
	Owner    types.UID   `json:"owner,omitempty"`
	Siblings []types.UID `json:"-"`
}

type podKillInjection struct {
	client    kubernetes.Interface
	Namespace string   `json:"namespace"`
	Selector  string   `json:"selector"`
	Force     bool     `json:"force"`
	Pods      []podRef `json:"pods"`
}

func (i *podKillInjection) Targets() []Target {
	out := make([]Target, len(i.Pods))
	for k, p := range i.Pods {
		out[k] = Target{Kind: "pod", Namespace: i.Namespace, Name: p.Name, UID: string(p.UID), Node: p.Node}
	}
	return out
}

func (i *podKillInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *podKillInjection) Apply(ctx context.Context) error {
	var found, failed []string
	for _, p := range i.Pods {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}
		if i.Force {
			zero := int64(0)
			opts.GracePeriodSeconds = &zero
		}
		err := i.client.CoreV1().Pods(i.Namespace).Delete(ctx, p.Name, opts)
		switch {
		case err == nil:
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// gone already, or replaced by a pod of the same name: this
			// injection killed nothing, which the checks will say
			found = append(found, fmt.Sprintf("%s: %v", p.Name, err))
		default:
			failed = append(failed, fmt.Sprintf("%s: %v", p.Name, err))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("delete pods: %s", strings.Join(append(failed, found...), "; "))
	}
	if len(found) > 0 {
		return &FindingError{Err: fmt.Errorf("delete pods: %s", strings.Join(found, "; "))}
	}
	return nil
}

// Verify waits until every victim was really killed, which the DELETE
// alone does not prove (it only sets deletionTimestamp):
//   - graceful: its containers have all terminated, or the pod object is
//     gone, which the kubelet does only once the containers have stopped;
//   - forced (grace period 0): the object goes at once, before the kubelet
//     has acted, so the proof is the controller's reaction: a replacement
//     pod exists. A bare pod without controller counts once it is gone.
func (i *podKillInjection) Verify(ctx context.Context) error {
	for {
		pending := []string{}
		for _, p := range i.Pods {
			killed, err := i.killed(ctx, p)
			if err != nil || !killed {
				pending = append(pending, p.Name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			what := "containers still running"
			if i.Force {
				what = "no replacement yet"
			}
			return fmt.Errorf("%s: %s", strings.Join(pending, ", "), what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (i *podKillInjection) killed(ctx context.Context, p podRef) (bool, error) {
	pod, err := i.client.CoreV1().Pods(i.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	gone := apierrors.IsNotFound(err) || (err == nil && pod.UID != p.UID)
	if err != nil && !gone {
		return false, err
	}
	if !i.Force {
		return gone || containersStopped(pod), nil
	}
	if !gone {
		return false, nil
	}
	if p.Owner == "" {
		return true, nil
	}
	return i.replaced(ctx, p)
}

// containersStopped reports whether every container of the pod has
// terminated.
func containersStopped(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	if len(pod.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Terminated == nil {
			return false
		}
	}
	return true
}

// replaced reports whether the victim's controller has created a pod that
// was not among its pods when the victim was chosen.
func (i *podKillInjection) replaced(ctx context.Context, p podRef) (bool, error) {
	list, err := i.client.CoreV1().Pods(i.Namespace).List(ctx, metav1.ListOptions{LabelSelector: i.Selector})
	if err != nil {
		return false, err
	}
	known := map[types.UID]bool{p.UID: true}
	for _, u := range p.Siblings {
		known[u] = true
	}
	for _, pod := range list.Items {
		if o := metav1.GetControllerOf(&pod); o != nil && o.UID == p.Owner && !known[pod.UID] {
			return true, nil
		}
	}
	return false, nil
}

// Revert does nothing: the pods' controller replaces them, which is the
// behaviour under test.
func (i *podKillInjection) Revert(context.Context) error { return nil }

// RevertPodKill is the journal reverter for pod kills: nothing to undo.
func RevertPodKill(context.Context, Entry) error { return nil }
