package faults

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeKind is a kind cluster as the node faults see it: node containers
// (Docker) and a fake API whose Node conditions follow what happens to the
// containers, kubelets and iptables rules, the way the control plane's
// node lifecycle controller would.
type fakeKind struct {
	t  *testing.T
	cs *fake.Clientset

	mu       sync.Mutex
	running  map[string]bool
	kubelet  map[string]bool
	rules    map[string][]string // node/iptables or node/ip6tables -> "-A CHAIN ..." lines
	gone     map[string]bool     // containers that no longer exist
	failOnce map[string]error    // next call of this verb fails
	calls    []string
	// blocked pods are refused by a budget when evicted
	blocked map[string]bool
}

// newFakeKind makes a cluster of a control plane and the given workers,
// each Ready, with IPs 172.18.0.2... in order.
func newFakeKind(t *testing.T, workers ...string) *fakeKind {
	k := &fakeKind{t: t, running: map[string]bool{}, kubelet: map[string]bool{}, rules: map[string][]string{},
		gone: map[string]bool{}, failOnce: map[string]error{}, blocked: map[string]bool{}}
	var objs []runtime.Object
	for i, n := range append([]string{"c-control-plane"}, workers...) {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("172.18.0.%d", i+2)}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		if i == 0 {
			node.Labels[controlPlaneLabel] = ""
		}
		objs = append(objs, node)
		k.running[n], k.kubelet[n] = true, true
	}
	k.cs = fake.NewSimpleClientset(objs...)
	// evictions delete the pod, unless a budget blocks it
	k.cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(interface{ GetName() string })
		k.mu.Lock()
		blocked := k.blocked[ev.GetName()]
		k.mu.Unlock()
		if blocked {
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		}
		err := k.cs.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, a.GetNamespace(), ev.GetName())
		return true, nil, err
	})
	// a kubelet that runs and reaches the API server renews its lease; a
	// real one does so every 10s, this one whenever the lease is read
	k.cs.PrependReactor("get", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		node := a.(k8stesting.GetAction).GetName()
		k.mu.Lock()
		up := k.running[node] && k.kubelet[node] && !k.droppedLocked(node)
		k.mu.Unlock()
		if !up {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, node)
		}
		now := metav1.NewMicroTime(time.Now())
		return true, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: node, Namespace: a.GetNamespace()},
			Spec: coordinationv1.LeaseSpec{RenewTime: &now}}, nil
	})
	return k
}

func (k *fakeKind) addPod(p *corev1.Pod) {
	if _, err := k.cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		k.t.Fatal(err)
	}
}

// settle sets each node's Ready condition from its state.
func (k *fakeKind) settle(node string) {
	k.mu.Lock()
	ready := k.running[node] && k.kubelet[node] && !k.droppedLocked(node)
	k.mu.Unlock()
	n, err := k.cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		return
	}
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionUnknown
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	_, _ = k.cs.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
}

// droppedLocked reports whether one of the node's rules drops traffic.
func (k *fakeKind) droppedLocked(node string) bool {
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, r := range k.rules[node+"/"+cmd] {
			if strings.Contains(r, "DROP") {
				return true
			}
		}
	}
	return false
}

func (k *fakeKind) call(verb, c string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, verb+" "+c)
	if k.gone[c] {
		return fmt.Errorf("docker %s %s: exit status 1: Error: No such container: %s", verb, c, c)
	}
	if err := k.failOnce[verb]; err != nil {
		delete(k.failOnce, verb)
		return err
	}
	return nil
}

func (k *fakeKind) Stop(_ context.Context, c string, _ bool) error {
	if err := k.call("stop", c); err != nil {
		return err
	}
	k.mu.Lock()
	k.running[c] = false
	k.mu.Unlock()
	k.settle(c)
	return nil
}

func (k *fakeKind) Start(_ context.Context, c string) error {
	if err := k.call("start", c); err != nil {
		return err
	}
	k.mu.Lock()
	k.running[c] = true
	k.mu.Unlock()
	k.settle(c)
	return nil
}

func (k *fakeKind) Running(_ context.Context, c string) (bool, error) {
	if err := k.call("inspect", c); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.running[c], nil
}

func (k *fakeKind) Exec(_ context.Context, c string, args ...string) (string, error) {
	line := strings.Join(args, " ")
	if err := k.call("exec", c+" "+line); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer func() { k.mu.Unlock(); k.settle(c) }()
	if !k.running[c] {
		return "", fmt.Errorf("docker exec %s: container %s is not running", line, c)
	}
	switch {
	case line == "systemctl stop kubelet":
		k.kubelet[c] = false
	case line == "systemctl start kubelet":
		k.kubelet[c] = true
	case strings.HasPrefix(line, "getent ahosts "):
		peer := strings.TrimPrefix(line, "getent ahosts ")
		n, err := k.cs.CoreV1().Nodes().Get(context.Background(), peer, metav1.GetOptions{})
		if err != nil {
			return "", errors.New("exit status 2")
		}
		v4 := n.Status.Addresses[0].Address
		last := v4[strings.LastIndex(v4, ".")+1:]
		return fmt.Sprintf("fc00:f853:ccd:e793::%s STREAM %s\nfc00:f853:ccd:e793::%s DGRAM\n%s STREAM\n", last, peer, last, v4), nil
	case strings.HasPrefix(line, "iptables -w -S"), strings.HasPrefix(line, "ip6tables -w -S"):
		cmd, _, _ := strings.Cut(line, " ")
		return "-P INPUT ACCEPT\n" + strings.Join(k.rules[c+"/"+cmd], "\n"), nil
	case strings.HasPrefix(line, "iptables -w -I "), strings.HasPrefix(line, "ip6tables -w -I "):
		cmd, rest, _ := strings.Cut(line, " -w -I ")
		// iptables -S shows addresses with their prefix length
		r, plen := "-A "+rest, "/32"
		if cmd == "ip6tables" {
			plen = "/128"
		}
		for _, flag := range []string{" -s ", " -d "} {
			if i := strings.Index(r, flag); i >= 0 {
				ip, tail, _ := strings.Cut(r[i+len(flag):], " ")
				r = r[:i+len(flag)] + ip + plen + " " + tail
			}
		}
		k.rules[c+"/"+cmd] = append([]string{r}, k.rules[c+"/"+cmd]...)
	case strings.HasPrefix(line, "iptables -w -D "), strings.HasPrefix(line, "ip6tables -w -D "):
		cmd, rest, _ := strings.Cut(line, " -w -D ")
		want := "-A " + rest
		for i, r := range k.rules[c+"/"+cmd] {
			if r == want {
				k.rules[c+"/"+cmd] = append(k.rules[c+"/"+cmd][:i], k.rules[c+"/"+cmd][i+1:]...)
				return "", nil
			}
		}
		return "", errors.New("iptables: Bad rule (does a matching rule exist in that chain?)")
	case strings.HasPrefix(line, "crictl "):
		return "", errors.New(`OCI runtime exec failed: exec: "crictl": executable file not found in $PATH`)
	case strings.HasPrefix(line, "ctr --namespace k8s.io task kill --signal SIGKILL "):
		id := strings.TrimPrefix(line, "ctr --namespace k8s.io task kill --signal SIGKILL ")
		go k.restart(id)
	default:
		return "", fmt.Errorf("fake node: unknown command %q", line)
	}
	return "", nil
}

// restart bumps the restart count of the container with that runtime id,
// as the kubelet does after a crash.
func (k *fakeKind) restart(id string) {
	pods, _ := k.cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		for i, s := range p.Status.ContainerStatuses {
			if s.ContainerID == "containerd://"+id {
				p.Status.ContainerStatuses[i].RestartCount++
				_, _ = k.cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), &p, metav1.UpdateOptions{})
			}
		}
	}
}

func (k *fakeKind) ready(node string) corev1.ConditionStatus {
	n, err := k.cs.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		k.t.Fatal(err)
	}
	return NodeReady(n)
}
