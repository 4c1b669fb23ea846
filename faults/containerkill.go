package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// ContainerKill SIGKILLs a container of serving pods inside their kind node,
// through the node's container runtime (crictl, or containerd's ctr where
// the node image has no crictl), not through the API: a real crash. The
// kubelet heals it by restarting the container, not by replacing the pod.
// It is in effect once the kubelet has seen the container die.
type ContainerKill struct {
	Client    kubernetes.Interface
	Docker    Docker
	Namespace string
	Selector  string
	// Container names the container to kill; empty: each pod's first.
	Container string
	Count     int
	// IncludeNotReady makes running pods that are not Ready candidates.
	IncludeNotReady bool
	Rand            *rand.Rand
}

// Kind implements Fault.
func (c *ContainerKill) Kind() string { return "container-kill" }

// SelfHealing implements SelfHealing: the kubelet restarts the container.
func (c *ContainerKill) SelfHealing() bool { return true }

// Describe implements Fault.
func (c *ContainerKill) Describe() string {
	which := "the first container"
	if c.Container != "" {
		which = "container " + c.Container
	}
	return fmt.Sprintf("SIGKILL %s of %d Ready pod(s) matching %q in %s, in the node", which, c.Count, c.Selector, c.Namespace)
}

// Validate checks the parameters before anything is injected.
func (c *ContainerKill) Validate() error {
	if c.Namespace == "" || c.Namespace == "kube-system" {
		return errors.New("container-kill: a namespace other than kube-system is required")
	}
	if c.Docker == nil || c.Client == nil {
		return errors.New("container-kill: needs Docker access to kind nodes and a cluster client")
	}
	sel, err := labels.Parse(c.Selector)
	if err != nil {
		return fmt.Errorf("container-kill: selector %q: %w", c.Selector, err)
	}
	if sel.Empty() {
		return errors.New("container-kill: selector must not be empty")
	}
	if c.Count < 1 {
		return fmt.Errorf("container-kill: count %d must be positive", c.Count)
	}
	return nil
}

// Plan implements Fault.
func (c *ContainerKill) Plan(ctx context.Context) (Injection, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	list, err := c.Client.CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{LabelSelector: c.Selector})
	if err != nil {
		return nil, err
	}
	var victims []containerRef
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || (!c.IncludeNotReady && !podReady(&p)) {
			continue
		}
		if ref, ok := c.running(&p); ok {
			victims = append(victims, ref)
		}
	}
	if len(victims) == 0 {
		return nil, &NoTargetError{Reason: fmt.Sprintf("no Ready pod matching %q in %s has a running container to kill", c.Selector, c.Namespace)}
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].Pod < victims[j].Pod })
	r := c.Rand
	if r == nil {
		r = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	}
	r.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
	return &containerKillInjection{client: c.Client, docker: c.Docker, Namespace: c.Namespace, Containers: victims[:min(c.Count, len(victims))]}, nil
}

// running finds the container to kill in the pod, if it runs.
func (c *ContainerKill) running(p *corev1.Pod) (containerRef, bool) {
	name := c.Container
	if name == "" && len(p.Spec.Containers) > 0 {
		name = p.Spec.Containers[0].Name
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Name != name || s.State.Running == nil {
			continue
		}
		id := runtimeID(s.ContainerID)
		if id == "" {
			return containerRef{}, false
		}
		return containerRef{Pod: p.Name, UID: p.UID, Node: p.Spec.NodeName, Container: name, ID: id, Restarts: s.RestartCount}, true
	}
	return containerRef{}, false
}

type containerRef struct {
	Pod       string    `json:"pod"`
	UID       types.UID `json:"uid"`
	Node      string    `json:"node"`
	Container string    `json:"container"`
	// ID is the runtime's container id; Restarts the restart count when
	// chosen.
	ID       string `json:"id"`
	Restarts int32  `json:"restarts"`
}

type containerKillInjection struct {
	client     kubernetes.Interface
	docker     Docker
	Namespace  string         `json:"namespace"`
	Containers []containerRef `json:"containers"`
}

func (i *containerKillInjection) Targets() []Target {
	out := make([]Target, len(i.Containers))
	for k, c := range i.Containers {
		out[k] = Target{Kind: "container", Namespace: i.Namespace, Name: c.Pod + "/" + c.Container, UID: string(c.UID), Node: c.Node}
	}
	return out
}

func (i *containerKillInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

// Apply kills each container with SIGKILL through the node's runtime.
func (i *containerKillInjection) Apply(ctx context.Context) error {
	var errs []error
	for _, c := range i.Containers {
		if err := killContainer(ctx, i.docker, c.Node, c.ID); err != nil {
			if strings.Contains(err.Error(), "not found") && !strings.Contains(err.Error(), "executable file not found") {
				// the container is gone already (restarted, pod deleted)
				err = &FindingError{Err: err}
			}
			errs = append(errs, fmt.Errorf("%s/%s: %w", c.Pod, c.Container, err))
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// killContainer stops a container at once (SIGKILL) with crictl, or with
// containerd's ctr where the node has no crictl.
func killContainer(ctx context.Context, d Docker, node, id string) error {
	_, err := d.Exec(ctx, node, "crictl", "stop", "--timeout", "0", id)
	if err == nil {
		return nil
	}
	if !strings.Contains(err.Error(), "executable file not found") && !strings.Contains(err.Error(), "not found in $PATH") {
		return err
	}
	_, err = d.Exec(ctx, node, "ctr", "--namespace", "k8s.io", "task", "kill", "--signal", "SIGKILL", id)
	return err
}

// Verify waits until the kubelet has seen each killed container die: a
// new container in its place, a restart counted, or the killed one no
// longer running. Waiting for the restart itself would make a second kill
// of one container wait out the kubelet's crash back-off (10s, doubling),
// which is recovery, judged by its own check.
func (i *containerKillInjection) Verify(ctx context.Context) error {
	for {
		var pending []string
		for _, c := range i.Containers {
			p, err := i.client.CoreV1().Pods(i.Namespace).Get(ctx, c.Pod, metav1.GetOptions{})
			if err != nil || p.UID != c.UID {
				pending = append(pending, c.Pod+" (gone)")
				continue
			}
			if !c.diedIn(p) {
				pending = append(pending, c.Pod)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still running the killed container: %s", strings.Join(pending, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// diedIn reports whether the pod's status shows the container c names dead.
func (c containerRef) diedIn(p *corev1.Pod) bool {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name != c.Container {
			continue
		}
		if last := s.LastTerminationState.Terminated; last != nil && runtimeID(last.ContainerID) == c.ID {
			return true
		}
		id := runtimeID(s.ContainerID)
		return s.RestartCount > c.Restarts || (id != "" && id != c.ID) || s.State.Running == nil
	}
	return false
}

// runtimeID is the runtime's id in a status's "containerd://ID" ("" when
// there is none yet).
func runtimeID(containerID string) string {
	_, id, _ := strings.Cut(containerID, "://")
	return id
}

// Revert does nothing: the kubelet restarts the container.
func (i *containerKillInjection) Revert(context.Context) error { return nil }
