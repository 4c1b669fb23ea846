package faults

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podOn(name, node string, ready bool) *corev1.Pod {
	p := pod("d", name, map[string]string{"app": "web"}, corev1.PodRunning)
	p.Spec.NodeName = node
	if !ready {
		p.Status.Conditions[0].Status = corev1.ConditionFalse
	}
	p.Status.ContainerStatuses[0].ContainerID = "containerd://id-" + name
	return p
}

func inject(t *testing.T, in *Injector, f Fault) Event {
	t.Helper()
	id, err := in.Inject(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.AwaitEffect(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for _, e := range in.Events() {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("no event %s", id)
	return Event{}
}

func TestPickWorker(t *testing.T) {
	k := newFakeKind(t, "w1", "w2", "w3")
	k.addPod(podOn("a", "w2", true))
	k.addPod(podOn("b", "w2", true))
	k.addPod(podOn("c", "w3", true))
	ctx := context.Background()
	if n, err := PickWorker(ctx, k.cs, "d", "app=web", ""); err != nil || n != "w2" {
		t.Fatalf("picked %q %v, want the worker with the most target pods", n, err)
	}
	if n, err := PickWorker(ctx, k.cs, "d", "app=web", "w1"); err != nil || n != "w1" {
		t.Fatalf("explicit node: %q %v", n, err)
	}
	if _, err := PickWorker(ctx, k.cs, "d", "app=web", "c-control-plane"); err == nil || !strings.Contains(err.Error(), "not a worker") {
		t.Fatalf("control plane accepted: %v", err)
	}
}

func TestNodeShutdown(t *testing.T) {
	k := newFakeKind(t, "w1", "w2")
	k.addPod(podOn("a", "w2", true))
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	ev := inject(t, in, &NodeShutdown{Docker: k, Client: k.cs, Namespace: "d", Selector: "app=web"})
	if !ev.TookEffect() || targetNames(ev.Targets) != "node w2,pod d/a@w2" {
		t.Fatalf("event %+v", ev)
	}
	if k.ready("w2") == corev1.ConditionTrue {
		t.Fatal("node still Ready")
	}
	// a stop cancelled half-way may still be finishing when the revert
	// starts: the first start fails, the revert tries again
	k.failOnce["start"] = errors.New("docker start w2: container is stopping")
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !k.running["w2"] || k.ready("w2") != corev1.ConditionTrue {
		t.Fatal("not reverted")
	}
}

func TestKubeletStop(t *testing.T) {
	k := newFakeKind(t, "w1")
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	ev := inject(t, in, &KubeletStop{Docker: k, Client: k.cs, Node: "w1"})
	if !ev.TookEffect() || k.kubelet["w1"] || !k.running["w1"] {
		t.Fatalf("event %+v kubelet %v", ev, k.kubelet["w1"])
	}
	if err := in.RevertAll(context.Background()); err != nil || !k.kubelet["w1"] || k.ready("w1") != corev1.ConditionTrue {
		t.Fatalf("revert %v", err)
	}
}

func TestNetworkPartitionRemovesExactlyItsRules(t *testing.T) {
	k := newFakeKind(t, "w1", "w2")
	k.rules["w1/iptables"] = []string{"-A INPUT -j KUBE-FIREWALL", "-A OUTPUT -d 10.96.0.1/32 -j ACCEPT"}
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	ev := inject(t, in, &NetworkPartition{Docker: k, Client: k.cs, Node: "w1", FromWorkers: true})
	if !ev.TookEffect() {
		t.Fatalf("event %+v", ev)
	}
	// cut off from the control plane (.2) and the other worker (.4), both
	// ways, over IPv4 and IPv6 (kind networks are dual-stack)
	ours := func(cmd string) int {
		n := 0
		for _, r := range k.rules["w1/"+cmd] {
			if strings.Contains(r, "chaosgate-partition-") {
				n++
			}
		}
		return n
	}
	all := strings.Join(append(k.rules["w1/iptables"], k.rules["w1/ip6tables"]...), "\n")
	if ours("iptables") != 4 || ours("ip6tables") != 4 ||
		!strings.Contains(all, "-A INPUT -s 172.18.0.2/32 -m comment --comment chaosgate-partition-") ||
		!strings.Contains(all, "-A OUTPUT -d fc00:f853:ccd:e793::4/128 -m comment --comment chaosgate-partition-") {
		t.Fatalf("rules:\n%s", all)
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(k.rules["w1/iptables"], "\n"); got != "-A INPUT -j KUBE-FIREWALL\n-A OUTPUT -d 10.96.0.1/32 -j ACCEPT" || len(k.rules["w1/ip6tables"]) != 0 {
		t.Fatalf("rules after revert:\n%s\n%v", got, k.rules["w1/ip6tables"])
	}
	if k.ready("w1") != corev1.ConditionTrue {
		t.Fatal("node not Ready after revert")
	}
}

func TestContainerKillThroughTheRuntime(t *testing.T) {
	k := newFakeKind(t, "w1")
	k.addPod(podOn("a", "w1", true))
	k.addPod(podOn("b", "w1", false)) // not serving: not a candidate
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	ev := inject(t, in, &ContainerKill{Client: k.cs, Docker: k, Namespace: "d", Selector: "app=web", Count: 2})
	if !ev.TookEffect() || targetNames(ev.Targets) != "container d/a/app@w1" {
		t.Fatalf("event %+v", ev)
	}
	// crictl is missing in the node: containerd's ctr did the kill
	if !strings.Contains(strings.Join(k.calls, "\n"), "exec w1 ctr --namespace k8s.io task kill --signal SIGKILL id-a") {
		t.Fatalf("calls %v", k.calls)
	}
	p, _ := k.cs.CoreV1().Pods("d").Get(context.Background(), "a", metav1.GetOptions{})
	if p.Status.ContainerStatuses[0].RestartCount != 1 {
		t.Fatal("no restart")
	}
}

// A kill is in effect once the kubelet has seen the container die, not
// once it restarted it: a second crash waits out the crash back-off.
func TestContainerKillTakesEffectWhenTheKubeletSeesItDie(t *testing.T) {
	killed := containerRef{Pod: "a", Container: "app", ID: "old", Restarts: 1}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	for _, tc := range []struct {
		name string
		st   corev1.ContainerStatus
		dead bool
	}{
		{"still running", corev1.ContainerStatus{Name: "app", ContainerID: "containerd://old", RestartCount: 1, State: running}, false},
		{"in crash back-off", corev1.ContainerStatus{Name: "app", ContainerID: "containerd://old", RestartCount: 1, State: waiting}, true},
		{"terminated, last state names it", corev1.ContainerStatus{Name: "app", RestartCount: 1, State: waiting,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, ContainerID: "containerd://old"}}}, true},
		{"restarted", corev1.ContainerStatus{Name: "app", ContainerID: "containerd://new", RestartCount: 2, State: running}, true},
		{"a new container before the count moved", corev1.ContainerStatus{Name: "app", ContainerID: "containerd://new", RestartCount: 1, State: running}, true},
		{"another container died", corev1.ContainerStatus{Name: "sidecar", ContainerID: "containerd://x", State: waiting}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{tc.st}}}
			if got := killed.diedIn(p); got != tc.dead {
				t.Fatalf("diedIn = %v, want %v", got, tc.dead)
			}
		})
	}
}

func TestDrainRespectsBudgetsAndUncordons(t *testing.T) {
	k := newFakeKind(t, "w1", "w2")
	k.addPod(podOn("a", "w1", true))
	k.addPod(podOn("b", "w1", true))
	ds := podOn("proxy", "w1", true)
	ds.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "kube-proxy", UID: "ds", Controller: ptr(true)}}
	k.addPod(ds)
	sys := podOn("coredns", "w1", true)
	sys.Namespace = "kube-system"
	k.addPod(sys)
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	ev := inject(t, in, &Drain{Client: k.cs, Namespace: "d", Selector: "app=web"})
	if !ev.TookEffect() || targetNames(ev.Targets) != "node w1,pod d/a@w1,pod d/b@w1" {
		t.Fatalf("event %+v", ev)
	}
	left := strings.Join(podNames(t, k.cs, "d"), ",")
	if left != "proxy" {
		t.Fatalf("pods left in d: %s", left)
	}
	if sysLeft := podNames(t, k.cs, "kube-system"); len(sysLeft) != 1 {
		t.Fatal("a kube-system pod was evicted")
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, _ := k.cs.CoreV1().Nodes().Get(context.Background(), "w1", metav1.GetOptions{})
	if n.Spec.Unschedulable {
		t.Fatal("still cordoned")
	}

	// a budget that never allows the eviction: a finding naming it, after
	// the deadline, not a hang
	k.addPod(podOn("c", "w2", true))
	k.blocked["c"] = true
	ev = inject(t, in, &Drain{Client: k.cs, Node: "w2", EvictionDeadline: 100 * time.Millisecond})
	if ev.TookEffect() || ev.Stage != StageApply || !strings.Contains(ev.Error, "eviction of d/c refused for 100ms by a PodDisruptionBudget") {
		t.Fatalf("blocked drain: %+v", ev)
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := k.cs.CoreV1().Nodes().Get(context.Background(), "w2", metav1.GetOptions{}); n.Spec.Unschedulable {
		t.Fatal("a drain that could not finish must still be reverted")
	}
}
