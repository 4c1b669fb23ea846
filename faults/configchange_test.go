package faults

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigChangeValidate(t *testing.T) {
	cs := fake.NewClientset()
	served := func(context.Context) error { return nil }
	tests := []struct {
		name    string
		c       ConfigChange
		wantErr string
	}{
		{"complete", ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cm", Data: map[string]string{"k": "v"}, Served: served}, ""},
		{"no ConfigMap", ConfigChange{Client: cs, Namespace: "ns", Data: map[string]string{"k": "v"}, Served: served}, "required"},
		{"no way to see it served", ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cm", Data: map[string]string{"k": "v"}}, "required"},
		{"kube-system", ConfigChange{Client: cs, Namespace: "kube-system", ConfigMap: "cm", Data: map[string]string{"k": "v"}, Served: served}, "kube-system"},
		{"no key", ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cm", Served: served}, "no key"},
		{"bad key", ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cm", Data: map[string]string{"a/b": "v"}, Served: served}, `key "a/b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigChange(t *testing.T) {
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"greeting": "hello", "other": "x"}}
	cs := fake.NewClientset(cm)
	var asked atomic.Int32
	applied := false
	c := &ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cfg", Data: map[string]string{"greeting": "hi", "release": "r1"},
		Served: func(context.Context) error {
			// once by Plan (the change is not served before it), once more
			// by Verify, then served
			if asked.Add(1) <= 2 {
				return errors.New("old value")
			}
			return nil
		},
		Applied: func() { applied = true }}
	if got := c.Describe(); got != "set greeting=hi, release=r1 in ConfigMap ns/cfg" {
		t.Errorf("Describe() = %q", got)
	}
	inj, err := c.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := inj.(*configInjection).Previous; len(p) != 1 || p["greeting"] != "hello" {
		t.Errorf("previous values %v", p)
	}
	if applied {
		t.Error("Applied called before Apply")
	}
	if err := inj.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if !applied {
		t.Error("Applied not called after Apply")
	}
	got, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Data["greeting"] != "hi" || got.Data["release"] != "r1" || got.Data["other"] != "x" {
		t.Errorf("data after the change %v", got.Data)
	}
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	// three rounds in a row over at least a second
	if err := inj.Verify(vctx); err != nil || asked.Load() != 5 || time.Since(start) < time.Second {
		t.Errorf("Verify() = %v after %d asks in %s, want nil after 5 over at least 1s", err, asked.Load(), time.Since(start))
	}
	if err := inj.Revert(ctx); err != nil {
		t.Errorf("Revert() = %v", err)
	}

	// never served: Verify ends with the cause when its context does
	never := &ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cfg", Data: map[string]string{"greeting": "hey"},
		Served: func(context.Context) error { return errors.New("GET /config: greeting=hello") }}
	inj2, err := never.Plan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel2()
	if err := inj2.Verify(sctx); err == nil || !strings.Contains(err.Error(), "greeting=hello") {
		t.Errorf("Verify() of a change never served = %v", err)
	}

	already := &ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "cfg", Data: map[string]string{"greeting": "hi"},
		Served: func(context.Context) error { return nil }}
	if _, err := already.Plan(ctx); err == nil || !strings.Contains(err.Error(), "already serves greeting=hi before the change") {
		t.Errorf("Plan() of values already served = %v", err)
	}

	missing := &ConfigChange{Client: cs, Namespace: "ns", ConfigMap: "nope", Data: map[string]string{"k": "v"}, Served: c.Served}
	if _, err := missing.Plan(ctx); !IsNoTarget(err) {
		t.Errorf("Plan() of a missing ConfigMap = %v, want a NoTargetError", err)
	}
}

func TestReleaseConfig(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	// the workload's own apply, then a change, then the release
	if _, err := cs.CoreV1().ConfigMaps("ns").Apply(ctx, corev1ac.ConfigMap("cfg", "ns").WithData(map[string]string{"greeting": "hello"}),
		metav1.ApplyOptions{FieldManager: "chaosgate", Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("ns").Apply(ctx, corev1ac.ConfigMap("cfg", "ns").WithData(map[string]string{"release": "r1"}),
		metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true}); err != nil {
		t.Fatal(err)
	}
	if err := ReleaseConfig(ctx, cs, "ns", "cfg"); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Data["release"]; ok || got.Data["greeting"] != "hello" {
		t.Errorf("data after the release %v, want only the workload's greeting", got.Data)
	}
	if err := ReleaseConfig(ctx, cs, "ns", "absent"); err != nil {
		t.Errorf("ReleaseConfig of a missing ConfigMap = %v", err)
	}
	if _, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "absent", metav1.GetOptions{}); err == nil {
		t.Error("ReleaseConfig created a ConfigMap")
	}
}
