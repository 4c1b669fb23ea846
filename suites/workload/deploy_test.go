package workload

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
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
	}{
		{name: "absent: created", namespace: "gate", digest: "d1"},
		{
			name: "same workload, last run clean: kept", namespace: "gate", digest: "d1", wantKept: true,
			objects: []runtime.Object{managed("d1", false), pod("serving", corev1.PodRunning, false),
				pod("done", corev1.PodSucceeded, false), pod("leaving", corev1.PodRunning, true)},
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
			// a kept or new namespace holds no digest until the run ends
			// cleanly
			if got := ns.Annotations[DigestAnnotation]; got != "" {
				t.Errorf("digest annotation %q during the run", got)
			}
			if ns.Labels[ManagedByLabel] != fieldManager {
				t.Errorf("namespace not labelled as chaosgate's: %v", ns.Labels)
			}
			if err := MarkNamespace(context.Background(), cs, tt.namespace, tt.digest); err != nil {
				t.Fatal(err)
			}
			ns, err = cs.CoreV1().Namespaces().Get(context.Background(), tt.namespace, metav1.GetOptions{})
			if err != nil || ns.Annotations[DigestAnnotation] != tt.digest {
				t.Errorf("after MarkNamespace: %v %v", ns.Annotations, err)
			}
		})
	}
}

// The namespace controller waits for every pod's graceful shutdown; a
// ReplicaSet it has not deleted yet replaces a force-deleted pod. The reset
// keeps force-deleting pods until the namespace is gone.
func TestResetNamespaceForceDeletesPodsWhileTerminating(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "gate", Labels: map[string]string{ManagedByLabel: fieldManager}}}
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "gate"}}
	cs := fake.NewClientset(ns, old)
	podsGVR := corev1.SchemeGroupVersion.WithResource("pods")
	nsGVR := corev1.SchemeGroupVersion.WithResource("namespaces")
	var mu sync.Mutex
	deletions, graceful := 0, 0
	terminating := false
	cs.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		terminating = true // finalizing, not gone
		return true, nil, nil
	})
	cs.PrependReactor("delete-collection", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		if g := a.(k8stesting.DeleteCollectionActionImpl).DeleteOptions.GracePeriodSeconds; g == nil || *g != 0 {
			graceful++
		}
		deletions++
		list, _ := cs.Tracker().List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), "gate")
		for _, p := range list.(*corev1.PodList).Items {
			_ = cs.Tracker().Delete(podsGVR, "gate", p.Name)
		}
		if deletions == 1 { // the ReplicaSet replaces it
			_ = cs.Tracker().Add(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "replacement", Namespace: "gate"}})
		}
		return true, nil, nil
	})
	// the namespace controller removes the namespace once no pod is left
	cs.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		list, _ := cs.Tracker().List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), "gate")
		if terminating && len(list.(*corev1.PodList).Items) == 0 {
			_ = cs.Tracker().Delete(nsGVR, "", "gate")
			terminating = false
		}
		return false, nil, nil
	})
	if _, err := ResetNamespace(context.Background(), cs, "gate", "d1", 10*time.Second); err != nil {
		t.Fatalf("ResetNamespace: %v", err)
	}
	if deletions < 2 || graceful != 0 {
		t.Errorf("pod deletions %d (graceful %d), want the replacement force-deleted too", deletions, graceful)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "gate", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace not created again: %v", err)
	}
}

func TestDeployDigest(t *testing.T) {
	w := &Workload{Objects: []Object{}}
	a := w.DeployDigest("v1", map[string]string{"img:v1": "sha256:aa", "other:v1": "sha256:bb"})
	if b := w.DeployDigest("v1", map[string]string{"other:v1": "sha256:bb", "img:v1": "sha256:aa"}); a != b {
		t.Errorf("digest depends on map order: %s != %s", a, b)
	}
	if c := w.DeployDigest("v1", map[string]string{"img:v1": "sha256:ab", "other:v1": "sha256:bb"}); a == c {
		t.Error("a rebuilt image under the same tag gives the same digest")
	}
	if c := w.DeployDigest("v2", map[string]string{"img:v1": "sha256:aa", "other:v1": "sha256:bb"}); a == c {
		t.Error("another chaosgate version gives the same digest")
	}
	if d := w.DeployDigest("v1", nil); d == a || d == "" {
		t.Errorf("digest without images %q", d)
	}
}
