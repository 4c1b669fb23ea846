package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// NodeChange is one node's state from At on.
type NodeChange struct {
	At   time.Time
	Node string
	// Ready is the node's Ready condition status: True, False or Unknown.
	Ready       corev1.ConditionStatus
	Schedulable bool
}

// NodeObserver records every node's readiness and cordon state.
type NodeObserver struct {
	Client kubernetes.Interface

	mu      sync.Mutex
	changes []NodeChange
	last    map[string]NodeChange
}

// Start runs the informer until ctx ends and returns once it has synced.
func (o *NodeObserver) Start(ctx context.Context) error {
	o.last = map[string]NodeChange{}
	f := informers.NewSharedInformerFactory(o.Client, 0)
	inf := f.Core().V1().Nodes().Informer()
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    o.node,
		UpdateFunc: func(_, obj any) { o.node(obj) },
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	return waitSynced(ctx, "nodes", reg.HasSynced)
}

func (o *NodeObserver) node(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c := NodeChange{Node: n.Name, Ready: corev1.ConditionUnknown, Schedulable: !n.Spec.Unschedulable}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			c.Ready = cond.Status
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev, ok := o.last[n.Name]; ok && prev.Ready == c.Ready && prev.Schedulable == c.Schedulable {
		return
	}
	c.At = time.Now()
	o.last[n.Name] = c
	o.changes = append(o.changes, c)
}

// Changes returns a copy of the changes recorded so far.
func (o *NodeObserver) Changes() []NodeChange {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]NodeChange(nil), o.changes...)
}

// Now returns every node's state as last observed, in name order.
func (o *NodeObserver) Now() []NodeChange {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]NodeChange, 0, len(o.last))
	for _, c := range o.last {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b NodeChange) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// problem is what keeps the node from taking pods ("NotReady",
// "cordoned"), or "" when it is Ready and schedulable.
func (c NodeChange) problem() string {
	switch {
	case c.Ready != corev1.ConditionTrue:
		return "NotReady"
	case !c.Schedulable:
		return "cordoned"
	}
	return ""
}
