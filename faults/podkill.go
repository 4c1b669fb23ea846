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

// PodKill deletes pods chosen at random among the running pods that match a
// label selector in one namespace.
type PodKill struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string
	// Count pods, or Percent of the matching pods (rounded up); exactly one
	// of them is set.
	Count   int
	Percent int
	// Force deletes with grace period 0 (no SIGTERM drain); otherwise the
	// pods' own terminationGracePeriodSeconds applies.
	Force bool
	// Rand picks the victims; nil uses a random source.
	Rand *rand.Rand
	// AllowKubeSystem must be set to target kube-system.
	AllowKubeSystem bool
}

// Kind implements Fault.
func (p *PodKill) Kind() string { return "pod-kill" }

// Describe implements Fault.
func (p *PodKill) Describe() string {
	n := fmt.Sprintf("%d pod(s)", p.Count)
	if p.Percent > 0 {
		n = fmt.Sprintf("%d%% of pods", p.Percent)
	}
	mode := "gracefully"
	if p.Force {
		mode = "forcefully (grace period 0)"
	}
	return fmt.Sprintf("delete %s matching %q in %s %s", n, p.Selector, p.Namespace, mode)
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

// Plan implements Fault: it picks victims among running, not terminating
// pods.
func (p *PodKill) Plan(ctx context.Context) (Injection, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	list, err := p.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
	if err != nil {
		return nil, err
	}
	var cands []corev1.Pod
	for _, pod := range list.Items {
		if pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodRunning {
			cands = append(cands, pod)
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no running pods match %q in %s", p.Selector, p.Namespace)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Name < cands[j].Name })
	r := p.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
	}
	r.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	k := p.victims(len(cands))
	inj := &podKillInjection{client: p.Client, ns: p.Namespace, force: p.Force}
	for _, pod := range cands[:k] {
		inj.Pods = append(inj.Pods, podRef{Name: pod.Name, UID: pod.UID, Node: pod.Spec.NodeName})
	}
	return inj, nil
}

type podRef struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
	Node string    `json:"node"`
}

type podKillInjection struct {
	client kubernetes.Interface
	ns     string
	force  bool
	Pods   []podRef `json:"pods"`
}

func (i *podKillInjection) Targets() []string {
	out := make([]string, len(i.Pods))
	for k, p := range i.Pods {
		out[k] = i.ns + "/" + p.Name + "@" + p.Node
	}
	return out
}

func (i *podKillInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *podKillInjection) Apply(ctx context.Context) error {
	var errs []string
	for _, p := range i.Pods {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}
		if i.force {
			zero := int64(0)
			opts.GracePeriodSeconds = &zero
		}
		if err := i.client.CoreV1().Pods(i.ns).Delete(ctx, p.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("%s: %v", p.Name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete pods: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Verify waits until every victim is gone or terminating: a pod with the
// same name but another UID (StatefulSets) counts as gone.
func (i *podKillInjection) Verify(ctx context.Context) error {
	for {
		pending := 0
		for _, p := range i.Pods {
			pod, err := i.client.CoreV1().Pods(i.ns).Get(ctx, p.Name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				pending++
			case pod.UID != p.UID || pod.DeletionTimestamp != nil:
			default:
				pending++
			}
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d pods still running: %w", pending, len(i.Pods), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Revert does nothing: the pods' controller replaces them, which is the
// behaviour under test.
func (i *podKillInjection) Revert(context.Context) error { return nil }

// RevertPodKill is the journal reverter for pod kills: nothing to undo.
func RevertPodKill(context.Context, Entry) error { return nil }
