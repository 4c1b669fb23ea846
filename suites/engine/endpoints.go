package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// EndpointChange is whether one pod is a ready endpoint of the Service
// from At on: whether kube-proxy sends it new connections.
type EndpointChange struct {
	At    time.Time
	Pod   types.UID
	Ready bool
}

// EndpointObserver records which pods are ready endpoints of a Service,
// from its EndpointSlices.
type EndpointObserver struct {
	Client    kubernetes.Interface
	Namespace string
	Service   string

	mu      sync.Mutex
	changes []EndpointChange
	// per slice, the ready state of each pod it lists
	slices map[string]map[types.UID]bool
	last   map[types.UID]bool
}

// Start runs the informer until ctx ends and returns once it has synced.
func (o *EndpointObserver) Start(ctx context.Context) error {
	o.slices, o.last = map[string]map[types.UID]bool{}, map[types.UID]bool{}
	f := informers.NewSharedInformerFactoryWithOptions(o.Client, 0, informers.WithNamespace(o.Namespace),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = discoveryv1.LabelServiceName + "=" + o.Service }))
	inf := f.Discovery().V1().EndpointSlices().Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { o.slice(obj, false) },
		UpdateFunc: func(_, obj any) { o.slice(obj, false) },
		DeleteFunc: func(obj any) { o.slice(obj, true) },
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	return waitSynced(ctx, fmt.Sprintf("endpoint slices of %s/%s", o.Namespace, o.Service), reg.HasSynced)
}

func (o *EndpointObserver) slice(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	pods := map[types.UID]bool{}
	if !deleted {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Kind == "Pod" {
				pods[e.TargetRef.UID] = e.Conditions.Ready == nil || *e.Conditions.Ready
			}
		}
	}
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.slices[s.Name] = pods
	// a pod is a ready endpoint if any slice lists it ready
	cur := map[types.UID]bool{}
	for _, sl := range o.slices {
		for uid, ready := range sl {
			cur[uid] = cur[uid] || ready
		}
	}
	for uid := range o.last {
		if _, ok := cur[uid]; !ok {
			cur[uid] = false
		}
	}
	for uid, ready := range cur {
		if prev, ok := o.last[uid]; !ok || prev != ready {
			o.changes = append(o.changes, EndpointChange{At: now, Pod: uid, Ready: ready})
			o.last[uid] = ready
		}
	}
}

// Changes returns a copy of what was recorded so far.
func (o *EndpointObserver) Changes() []EndpointChange {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]EndpointChange(nil), o.changes...)
}

// EndpointsGone is the first time at or after from at which none of pods
// is a ready endpoint any more; ok is false when that did not happen.
func EndpointsGone(changes []EndpointChange, pods map[types.UID]bool, from time.Time) (time.Time, bool) {
	ready := map[types.UID]bool{}
	gone := func() bool {
		for uid := range pods {
			if ready[uid] {
				return false
			}
		}
		return true
	}
	i := 0
	for ; i < len(changes) && !changes[i].At.After(from); i++ {
		if pods[changes[i].Pod] {
			ready[changes[i].Pod] = changes[i].Ready
		}
	}
	if gone() {
		return from, true
	}
	for ; i < len(changes); i++ {
		if pods[changes[i].Pod] {
			ready[changes[i].Pod] = changes[i].Ready
		}
		if gone() {
			return changes[i].At, true
		}
	}
	return time.Time{}, false
}
