package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NodeShutdown stops a kind worker node's container, like a machine shutting
// down (or, with Kill, losing power). It is in effect when the control
// plane has marked the Node NotReady; the revert starts the container again
// and waits until the Node is Ready with its networking pods running.
type NodeShutdown struct {
	Docker Docker
	Client kubernetes.Interface
	// Node is the worker to stop; empty picks the worker that hosts the
	// most pods matching Selector in Namespace.
	Node                string
	Namespace, Selector string
	Kill                bool
	// RevertTimeout bounds waiting for the node to be Ready again; default
	// 3 minutes.
	RevertTimeout time.Duration
}

// Kind implements Fault.
func (n *NodeShutdown) Kind() string { return "node-shutdown" }

// Describe implements Fault.
func (n *NodeShutdown) Describe() string {
	how := "shut down (clean stop of the node container)"
	if n.Kill {
		how = "power off (kill of the node container)"
	}
	return fmt.Sprintf("%s worker %s", how, n.target().describe())
}

func describeNode(node, selector string) string {
	if node != "" {
		return node
	}
	return fmt.Sprintf("hosting the most pods matching %q", selector)
}

func (n *NodeShutdown) target() nodeFaultTarget {
	return nodeFaultTarget{Docker: n.Docker, Client: n.Client, Node: n.Node, Namespace: n.Namespace, Selector: n.Selector}
}

// Validate checks parameters before anything is injected.
func (n *NodeShutdown) Validate() error { return n.target().validate(n.Kind()) }

// Plan implements Fault.
func (n *NodeShutdown) Plan(ctx context.Context) (Injection, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	node, targets, err := n.target().pick(ctx)
	if err != nil {
		return nil, err
	}
	return &nodeShutdownInjection{docker: n.Docker, client: n.Client, Node: node, Kill: n.Kill,
		RevertTimeout: n.RevertTimeout, targets: targets}, nil
}

type nodeShutdownInjection struct {
	docker        Docker
	client        kubernetes.Interface
	targets       []Target
	Node          string        `json:"node"`
	Kill          bool          `json:"kill"`
	RevertTimeout time.Duration `json:"revertTimeout,omitempty"`
}

func (i *nodeShutdownInjection) Targets() []Target               { return i.targets }
func (i *nodeShutdownInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *nodeShutdownInjection) Apply(ctx context.Context) error {
	return i.docker.Stop(ctx, i.Node, i.Kill)
}

// Verify waits until the control plane has noticed: the Node is NotReady.
func (i *nodeShutdownInjection) Verify(ctx context.Context) error {
	return waitNodeReady(ctx, i.client, i.Node, false)
}

// Revert starts the node again and waits until it is Ready with its
// DaemonSet pods (kube-proxy, the pod network) Ready. It checks the end
// state rather than trusting `docker start`: a stop cancelled half-way may
// still be finishing in the daemon when the revert begins.
func (i *nodeShutdownInjection) Revert(ctx context.Context) error {
	return revertUntilBack(ctx, i.client, i.Node, i.RevertTimeout, "node "+i.Node+" not back", i.start)
}

// start starts the container when it is not running.
func (i *nodeShutdownInjection) start(ctx context.Context) error {
	running, err := i.docker.Running(ctx, i.Node)
	if err != nil {
		return err
	}
	if !running {
		if err := i.docker.Start(ctx, i.Node); err != nil {
			return err
		}
		if running, err = i.docker.Running(ctx, i.Node); err != nil || !running {
			return fmt.Errorf("container %s not running after start (%v)", i.Node, err)
		}
	}
	return nil
}

// nodeBack reports nil when the node's kubelet has renewed its lease since
// since, the node is Ready and every DaemonSet pod on it (kube-proxy, the
// pod network) is Ready. The lease proves the kubelet is back: a revert
// that starts before the control plane noticed the outage would otherwise
// read the Ready status of before the fault.
func nodeBack(ctx context.Context, cs kubernetes.Interface, node string, since time.Time) error {
	lease, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("lease of node %s: %w", node, err)
	}
	if lease.Spec.RenewTime == nil || !lease.Spec.RenewTime.Time.After(since) {
		return fmt.Errorf("the kubelet of %s has not renewed its lease since the revert began", node)
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if NodeReady(n) != corev1.ConditionTrue {
		return fmt.Errorf("node %s is Ready=%s", node, NodeReady(n))
	}
	pods, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		owner := metav1.GetControllerOf(&p)
		if owner == nil || owner.Kind != "DaemonSet" || p.DeletionTimestamp != nil {
			continue
		}
		if !podReady(&p) {
			return fmt.Errorf("pod %s/%s on %s not Ready yet", p.Namespace, p.Name, node)
		}
	}
	return nil
}

// TargetGoneError says a fault's target no longer exists (the cluster was
// deleted): there is nothing left to revert.
type TargetGoneError struct {
	Target string
	Err    error
}

func (e *TargetGoneError) Error() string { return e.Target + " no longer exists: " + e.Err.Error() }
func (e *TargetGoneError) Unwrap() error { return e.Err }

// RevertNodeShutdown returns the journal reverter for node shutdowns (and
// the node stops of earlier versions).
func RevertNodeShutdown(d Docker, cs kubernetes.Interface) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj nodeShutdownInjection
		if err := json.Unmarshal(e.State, &inj); err != nil {
			return fmt.Errorf("decode state: %w", err)
		}
		if inj.Node == "" {
			// node-stop entries of earlier versions held a list of nodes
			var old struct {
				Nodes []string `json:"nodes"`
			}
			if err := json.Unmarshal(e.State, &old); err != nil || len(old.Nodes) != 1 {
				return fmt.Errorf("decode state: no node in %s", e.State)
			}
			inj.Node = old.Nodes[0]
		}
		inj.docker, inj.client = d, cs
		return inj.Revert(ctx)
	}
}
