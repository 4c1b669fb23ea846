package workload

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func testNode(name string, ready bool, taint corev1.TaintEffect, unschedulable bool) corev1.Node {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Unschedulable: unschedulable},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
	if taint != "" {
		n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: taint}}
	}
	return n
}

func testPod(name, node string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Spec:   corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
}

func TestCrowding(t *testing.T) {
	workers := []corev1.Node{testNode("w1", true, "", false), testNode("w2", true, "", false), testNode("w3", true, "", false),
		testNode("cp", true, corev1.TaintEffectNoSchedule, false)}
	tests := []struct {
		name  string
		nodes []corev1.Node
		pods  []corev1.Pod
		want  []string
	}{
		{"one per worker", workers, []corev1.Pod{testPod("a", "w1"), testPod("b", "w2"), testPod("c", "w3")}, nil},
		{"two on one worker after a drain", workers, []corev1.Pod{testPod("a", "w1"), testPod("b", "w1"), testPod("c", "w3")}, []string{"b"}},
		{"all on one worker", workers, []corev1.Pod{testPod("a", "w2"), testPod("b", "w2"), testPod("c", "w2")}, []string{"b", "c"}},
		{"five over three: two each at most", workers,
			[]corev1.Pod{testPod("a", "w1"), testPod("b", "w1"), testPod("c", "w2"), testPod("d", "w2"), testPod("e", "w3")}, nil},
		{"a cordoned or NotReady worker takes nothing", []corev1.Node{testNode("w1", true, "", false), testNode("w2", true, "", true), testNode("w3", false, "", false)},
			[]corev1.Pod{testPod("a", "w1"), testPod("b", "w1")}, nil},
		{"one replica", workers, []corev1.Pod{testPod("a", "w1")}, nil},
		{"no node can take pods", []corev1.Node{testNode("cp", true, corev1.TaintEffectNoSchedule, false)}, []corev1.Pod{testPod("a", "cp")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range crowding(tt.nodes, tt.pods) {
				got = append(got, p.Name)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("crowding = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("crowding = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestRespreadLeavesASpreadTargetAlone(t *testing.T) {
	nodes := []corev1.Node{testNode("w1", true, "", false), testNode("w2", true, "", false)}
	pods := []corev1.Pod{testPod("a", "w1"), testPod("b", "w2")}
	var objs []runtime.Object
	for i := range nodes {
		objs = append(objs, &nodes[i])
	}
	for i := range pods {
		objs = append(objs, &pods[i])
	}
	cs := fake.NewClientset(objs...)
	moved, err := Respread(context.Background(), cs, "ns", "app=web", time.Second)
	if err != nil || moved != 0 {
		t.Fatalf("Respread = %d, %v; want 0, nil", moved, err)
	}
	left, _ := cs.CoreV1().Pods("ns").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 2 {
		t.Errorf("%d pods left, want 2", len(left.Items))
	}
}

func TestRespreadMovesAndWaitsForTheReplacement(t *testing.T) {
	nodes := []corev1.Node{testNode("w1", true, "", false), testNode("w2", true, "", false)}
	a, b := testPod("a", "w1"), testPod("b", "w1")
	cs := fake.NewClientset(&nodes[0], &nodes[1], &a, &b)
	// the ReplicaSet's part: a replacement appears on the empty worker
	go func() {
		time.Sleep(300 * time.Millisecond)
		c := testPod("c", "w2")
		_, _ = cs.CoreV1().Pods("ns").Create(context.Background(), &c, metav1.CreateOptions{})
	}()
	moved, err := Respread(context.Background(), cs, "ns", "app=web", 5*time.Second)
	if err != nil || moved != 1 {
		t.Fatalf("Respread = %d, %v; want 1, nil", moved, err)
	}
	if _, err := cs.CoreV1().Pods("ns").Get(context.Background(), "b", metav1.GetOptions{}); err == nil {
		t.Error("the crowding pod b was not deleted")
	}
}
