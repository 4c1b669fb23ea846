package workload

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestResetNamespace(t *testing.T) {
	managed := func(digest string, terminating bool) *corev1.Namespace {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gate",
			Labels:      map[string]string{ManagedByLabel: fieldManager},
			Annotations: map[string]string{DigestAnnotation: digest}}}
		if terminating {
			now := metav1.Now()
			ns.DeletionTimestamp = &now
		}
		return ns
	}
	pod := func(name string, phase corev1.PodPhase, terminating bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gate"}, Status: corev1.PodStatus{Phase: phase}}
		if terminating {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	tests := []struct {
		name      string
		namespace string
		objects   []runtime.Object
		digest    string
		wantKept  bool
		wantErr   bool
		wantPods  []string
	}{
		{name: "absent: created", namespace: "gate", digest: "d1"},
		{
			name: "same workload: kept, finished and terminating pods removed", namespace: "gate", digest: "d1", wantKept: true,
			objects: []runtime.Object{managed("d1", false), pod("serving", corev1.PodRunning, false),
				pod("done", corev1.PodSucceeded, false), pod("crashed", corev1.PodFailed, false), pod("leaving", corev1.PodRunning, true)},
			wantPods: []string{"serving"},
		},
		{
			name: "another workload: recreated", namespace: "gate", digest: "d2",
			objects: []runtime.Object{managed("d1", false), pod("serving", corev1.PodRunning, false)},
		},
		{
			name: "same workload but terminating: recreated", namespace: "gate", digest: "d1",
			objects: []runtime.Object{managed("d1", true)},
		},
		{
			name: "no digest never matches", namespace: "gate", digest: "",
			objects: []runtime.Object{managed("", false)},
		},
		{
			name: "not created by chaosgate: refused", namespace: "gate", digest: "d1", wantErr: true,
			objects: []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gate"}}},
		},
		{name: "kube-system: refused", namespace: "kube-system", digest: "d1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objects...)
			kept, err := ResetNamespace(context.Background(), cs, tt.namespace, tt.digest, time.Second)
			if tt.wantErr {
				var un *UnmanagedNamespaceError
				if !errors.As(err, &un) {
					t.Fatalf("err %v, want an UnmanagedNamespaceError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResetNamespace: %v", err)
			}
			if kept != tt.wantKept {
				t.Errorf("kept %v, want %v", kept, tt.wantKept)
			}
			ns, err := cs.CoreV1().Namespaces().Get(context.Background(), tt.namespace, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace after reset: %v", err)
			}
			if got := ns.Annotations[DigestAnnotation]; got != tt.digest {
				t.Errorf("digest annotation %q, want %q", got, tt.digest)
			}
			if ns.Labels[ManagedByLabel] != fieldManager {
				t.Errorf("namespace not labelled as chaosgate's: %v", ns.Labels)
			}
			if !kept {
				// the fake clientset neither cascades a namespace's deletion
				// nor deletes collections: only a kept namespace's pods say
				// something here
				return
			}
			pods, err := cs.CoreV1().Pods(tt.namespace).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Name)
			}
			if len(names) != len(tt.wantPods) || (len(names) > 0 && names[0] != tt.wantPods[0]) {
				t.Errorf("pods left %v, want %v", names, tt.wantPods)
			}
		})
	}
}

func TestDeployDigest(t *testing.T) {
	w := &Workload{Objects: []Object{}}
	a := w.DeployDigest(map[string]string{"img:v1": "sha256:aa", "other:v1": "sha256:bb"})
	if b := w.DeployDigest(map[string]string{"other:v1": "sha256:bb", "img:v1": "sha256:aa"}); a != b {
		t.Errorf("digest depends on map order: %s != %s", a, b)
	}
	if c := w.DeployDigest(map[string]string{"img:v1": "sha256:ab", "other:v1": "sha256:bb"}); a == c {
		t.Error("a rebuilt image under the same tag gives the same digest")
	}
	if d := w.DeployDigest(nil); d == a || d == "" {
		t.Errorf("digest without images %q", d)
	}
}
