package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
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
	return "stop the kubelet of worker " + describeNode(k.Node, k.Selector) + " (its pods keep running)"
}

// Validate checks parameters before anything is injected.
func (k *KubeletStop) Validate() error {
	if k.Docker == nil || k.Client == nil {
		return errors.New("kubelet-stop: needs Docker access to kind nodes and a cluster client")
	}
	if k.Node == "" && k.Selector == "" {
		return errors.New("kubelet-stop: name a node or a selector to pick one by")
	}
	return nil
}

// Plan implements Fault.
func (k *KubeletStop) Plan(ctx context.Context) (Injection, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	node, err := PickWorker(ctx, k.Client, k.Namespace, k.Selector, k.Node)
	if err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	if k.Selector != "" {
		if pods, err = podsOn(ctx, k.Client, k.Namespace, k.Selector, node); err != nil {
			return nil, err
		}
	}
	return &kubeletStopInjection{docker: k.Docker, client: k.Client, Node: node, RevertTimeout: k.RevertTimeout, targets: nodeTargets(node, pods)}, nil
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
	timeout := i.RevertTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	since := time.Now()
	for {
		_, err := i.docker.Exec(ctx, i.Node, "systemctl", "start", "kubelet")
		if err == nil {
			err = nodeBack(ctx, i.client, i.Node, since)
		}
		if err == nil {
			return nil
		}
		if isNotFound(err) {
			return &TargetGoneError{Target: "node " + i.Node, Err: err}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubelet of %s not back: %w", i.Node, err)
		case <-time.After(time.Second):
		}
	}
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
