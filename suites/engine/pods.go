package engine

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// PodState is what the pod observer keeps of one pod.
type PodState struct {
	UID  types.UID
	Name string
	Node string
	// Revision is the pod's template hash: which ReplicaSet, old or new,
	// it belongs to during a rollout.
	Revision string
	// Ready is the pod's Ready condition; Terminating that it has a
	// deletionTimestamp; Gone that it was deleted.
	Ready, Terminating, Gone bool
}

// Serving reports whether the pod takes traffic: Ready and not on its way
// out. A terminating pod is removed from the Service's ready endpoints.
func (s PodState) Serving() bool { return s.Ready && !s.Terminating && !s.Gone }

// PodChange is a pod's state from At on.
type PodChange struct {
	At time.Time
	PodState
}

// DesiredChange is the Deployment's desired replicas from At on.
type DesiredChange struct {
	At      time.Time
	Desired int
}

// PodHistory is every change of the target's pods and of its desired
// replica count, timestamped as the watch delivered them. Recovery is
// computed from it per pod, so a dip between two updates of the
// Deployment's status is never missed.
type PodHistory struct {
	Pods    []PodChange
	Desired []DesiredChange
}

// states replays the history up to and including t.
func (h *PodHistory) states(t time.Time) map[types.UID]PodState {
	m := map[types.UID]PodState{}
	for _, c := range h.Pods {
		if c.At.After(t) {
			break
		}
		m[c.UID] = c.PodState
	}
	return m
}

// DesiredAt is the desired replica count at t (0 before the first
// observation).
func (h *PodHistory) DesiredAt(t time.Time) int {
	d := 0
	for _, c := range h.Desired {
		if c.At.After(t) {
			break
		}
		d = c.Desired
	}
	return d
}

// ServingAt counts the pods serving at t, leaving out those in exclude.
func (h *PodHistory) ServingAt(t time.Time, exclude map[types.UID]bool) int {
	n := 0
	for uid, s := range h.states(t) {
		if s.Serving() && !exclude[uid] {
			n++
		}
	}
	return n
}

// TerminatingAt counts the pods on their way out at t, not gone yet.
func (h *PodHistory) TerminatingAt(t time.Time) int {
	n := 0
	for _, s := range h.states(t) {
		if s.Terminating && !s.Gone {
			n++
		}
	}
	return n
}

// LowestServing returns the fewest pods serving at any moment of [from,
// to], and when that was first the case.
func (h *PodHistory) LowestServing(from, to time.Time) (int, time.Time) {
	low, at := h.ServingAt(from, nil), from
	for _, t := range h.changeTimes() {
		if t.After(from) && !t.After(to) {
			if n := h.ServingAt(t, nil); n < low {
				low, at = n, t
			}
		}
	}
	return low, at
}

// PodsOn returns the pods not gone that ran on node at t.
func (h *PodHistory) PodsOn(node string, t time.Time) []types.UID {
	var out []types.UID
	for uid, s := range h.states(t) {
		if s.Node == node && !s.Gone {
			out = append(out, uid)
		}
	}
	return out
}

// onNode is exclude plus every pod on node at t, for counting the pods
// serving elsewhere.
func (h *PodHistory) onNode(t time.Time, node string, exclude map[types.UID]bool) map[types.UID]bool {
	out := maps.Clone(exclude)
	if out == nil {
		out = map[types.UID]bool{}
	}
	for _, uid := range h.PodsOn(node, t) {
		out[uid] = true
	}
	return out
}

// changeTimes returns every time the serving count or the desired count
// may have changed, sorted.
func (h *PodHistory) changeTimes() []time.Time {
	ts := make([]time.Time, 0, len(h.Pods)+len(h.Desired))
	for _, c := range h.Pods {
		ts = append(ts, c.At)
	}
	for _, c := range h.Desired {
		ts = append(ts, c.At)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts
}

// RecoveredAt is the first time at or after from at which at least the
// desired number of pods serve, the victims excluded (they count as lost
// from the moment of the fault, whether or not the watch had shown them
// going yet). ok is false when that never happened within the history.
func (h *PodHistory) RecoveredAt(from time.Time, victims map[types.UID]bool) (time.Time, bool) {
	whole := func(t time.Time) bool {
		d := h.DesiredAt(t)
		return d > 0 && h.ServingAt(t, victims) >= d
	}
	if whole(from) {
		return from, true
	}
	for _, t := range h.changeTimes() {
		if t.After(from) && whole(t) {
			return t, true
		}
	}
	return time.Time{}, false
}

// ReplicaSeries is the serving and desired count at every change, from
// the first observation on.
func (h *PodHistory) ReplicaSeries() []ReplicaPoint {
	var out []ReplicaPoint
	for _, t := range h.changeTimes() {
		p := ReplicaPoint{At: t, Serving: h.ServingAt(t, nil), Desired: h.DesiredAt(t)}
		if n := len(out); n > 0 && out[n-1].Serving == p.Serving && out[n-1].Desired == p.Desired {
			continue
		}
		if n := len(out); n > 0 && out[n-1].At.Equal(t) {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	return out
}

// RevisionSeries is, at every change, how many pods of each revision (pod
// template hash) serve: the old and the new ReplicaSet of a rollout side
// by side. Only changes to a revision's count are listed.
func (h *PodHistory) RevisionSeries() []RevisionPoint {
	var out []RevisionPoint
	last := map[string]int{}
	for _, t := range h.changeTimes() {
		count := map[string]int{}
		for _, s := range h.states(t) {
			if !s.Gone {
				count[s.Revision] += 0 // a revision is listed from its first pod on
			}
			if s.Serving() {
				count[s.Revision]++
			}
		}
		for rev := range last {
			if _, ok := count[rev]; !ok {
				count[rev] = 0
			}
		}
		for rev, n := range count {
			if prev, ok := last[rev]; !ok || prev != n {
				out = append(out, RevisionPoint{At: t, Revision: rev, Serving: n})
				last[rev] = n
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].Revision < out[j].Revision
	})
	return out
}

// RevisionPoint is how many pods of one revision serve from At on.
type RevisionPoint struct {
	At       time.Time
	Revision string
	Serving  int
}

// ReplicaPoint is the target's serving and desired replicas at a moment.
type ReplicaPoint struct {
	At               time.Time
	Serving, Desired int
}

// PodObserver records the target's pods and desired replicas through
// informers (which relist and rewatch on their own when a watch breaks).
type PodObserver struct {
	Client     kubernetes.Interface
	Namespace  string
	Selector   string
	Deployment string

	mu   sync.Mutex
	hist PodHistory
	last map[types.UID]PodState
}

// Start runs the informers until ctx ends and returns once their caches
// have synced, so the history holds the state at the start.
func (o *PodObserver) Start(ctx context.Context) error {
	o.last = map[types.UID]PodState{}
	pods := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = o.Selector }))
	pi := pods.Core().V1().Pods().Informer()
	podReg, err := pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.pod(obj, false) },
		UpdateFunc: func(_, obj any) { o.pod(obj, false) },
		DeleteFunc: func(obj any) { o.pod(obj, true) },
	})
	if err != nil {
		return err
	}
	deps := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.Deployment).String()
		}))
	di := deps.Apps().V1().Deployments().Informer()
	depReg, err := di.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    o.deployment,
		UpdateFunc: func(_, obj any) { o.deployment(obj) },
	})
	if err != nil {
		return err
	}
	pods.Start(ctx.Done())
	deps.Start(ctx.Done())
	return waitSynced(ctx, fmt.Sprintf("pods and deployment %s in %s", o.Deployment, o.Namespace), podReg.HasSynced, depReg.HasSynced)
}

// syncTimeout bounds an observer's first list: an API server that does not
// answer is an infrastructure error, not a hang.
const syncTimeout = time.Minute

// waitSynced waits until the handlers have seen every object of the first
// list (not only the caches), so the history holds the state at the start.
func waitSynced(ctx context.Context, what string, synced ...cache.InformerSynced) error {
	wctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) {
		return fmt.Errorf("watch %s: not synced within %s: %w", what, syncTimeout, wctx.Err())
	}
	return nil
}

func (o *PodObserver) pod(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s := PodState{UID: p.UID, Name: p.Name, Node: p.Spec.NodeName, Revision: p.Labels["pod-template-hash"],
		Ready: podReady(p), Terminating: p.DeletionTimestamp != nil, Gone: deleted}
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev, ok := o.last[p.UID]; ok && prev == s {
		return
	}
	o.last[p.UID] = s
	o.hist.Pods = append(o.hist.Pods, PodChange{At: time.Now(), PodState: s})
}

func (o *PodObserver) deployment(obj any) {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return
	}
	n := 1
	if d.Spec.Replicas != nil {
		n = int(*d.Spec.Replicas)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := len(o.hist.Desired); k > 0 && o.hist.Desired[k-1].Desired == n {
		return
	}
	o.hist.Desired = append(o.hist.Desired, DesiredChange{At: time.Now(), Desired: n})
}

// History returns a copy of what was recorded so far.
func (o *PodObserver) History() *PodHistory {
	o.mu.Lock()
	defer o.mu.Unlock()
	return &PodHistory{Pods: append([]PodChange(nil), o.hist.Pods...), Desired: append([]DesiredChange(nil), o.hist.Desired...)}
}

// Now returns the serving and desired counts as last observed.
func (o *PodObserver) Now() (serving, desired int) {
	h := o.History()
	now := time.Now()
	return h.ServingAt(now, nil), h.DesiredAt(now)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
