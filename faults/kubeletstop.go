package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"
)

// KubeletStop stops the kubelet of a kind worker while its pods keep
// running: the control plane loses a node that is not dead. It is in
// effect when the Node is NotReady; the revert starts the kubelet and
// waits until the Node is Ready.
type KubeletStop struct {
	Docker              Docker
	Client              kubernetes.Interface
	Node                string
	Namespace, Selector string
	RevertTimeout       time.Duration
}

// Kind implements Fault.
func (k *KubeletStop) Kind() string { return "kubelet-stop" }

// Describe implements Fault.
func (k *KubeletStop) Describe() string {
	return "stop the kubelet of worker " + k.target().describe() + " (its pods keep running)"
}

func (k *KubeletStop) target() nodeFaultTarget {
	return nodeFaultTarget{Docker: k.Docker, Client: k.Client, Node: k.Node, Namespace: k.Namespace, Selector: k.Selector}
}

// Validate checks parameters before anything is injected.
func (k *KubeletStop) Validate() error { return k.target().validate(k.Kind()) }

// Plan implements Fault.
func (k *KubeletStop) Plan(ctx context.Context) (Injection, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	node, targets, err := k.target().pick(ctx)
	if err != nil {
		return nil, err
	}
	return &kubeletStopInjection{docker: k.Docker, client: k.Client, Node: node, RevertTimeout: k.RevertTimeout, targets: targets}, nil
}

type kubeletStopInjection struct {
	docker        Docker
	client        kubernetes.Interface
	targets       []Target
	Node          string        `json:"node"`
	RevertTimeout time.Duration `json:"revertTimeout,omitempty"`
}

func (i *kubeletStopInjection) Targets() []Target               { return i.targets }
func (i *kubeletStopInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

func (i *kubeletStopInjection) Apply(ctx context.Context) error {
	_, err := i.docker.Exec(ctx, i.Node, "systemctl", "stop", "kubelet")
	return err
}

// Verify waits until the Node is NotReady.
func (i *kubeletStopInjection) Verify(ctx context.Context) error {
	return waitNodeReady(ctx, i.client, i.Node, false)
}

// Revert starts the kubelet (again, until it runs) and waits until the Node
// is Ready.
func (i *kubeletStopInjection) Revert(ctx context.Context) error {
	return revertUntilBack(ctx, i.client, i.Node, i.RevertTimeout, "kubelet of "+i.Node+" not back", func(ctx context.Context) error {
		_, err := i.docker.Exec(ctx, i.Node, "systemctl", "start", "kubelet")
		return err
	})
}

// RevertKubeletStop returns the journal reverter for kubelet stops.
func RevertKubeletStop(d Docker, cs kubernetes.Interface) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj kubeletStopInjection
		if err := json.Unmarshal(e.State, &inj); err != nil || inj.Node == "" {
			return fmt.Errorf("decode state %s: %v", e.State, err)
		}
		inj.docker, inj.client = d, cs
		return inj.Revert(ctx)
	}
}
