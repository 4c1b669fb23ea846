package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func deployment() *appsv1.Deployment {
	three := int32(3)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "d"},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "web:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "a"}}}}}}},
		Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3},
	}
}

// setStatus plays the Deployment controller.
func setStatus(t *testing.T, cs *fake.Clientset, st appsv1.DeploymentStatus) {
	t.Helper()
	d, err := cs.AppsV1().Deployments("d").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Status = st
	if _, err := cs.AppsV1().Deployments("d").UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// applyWorkload plays the gate's deploy: the workload's own manifest,
// server-side applied.
func applyWorkload(t *testing.T, cs *fake.Clientset) {
	t.Helper()
	d := appsv1ac.Deployment("web", "d").WithSpec(appsv1ac.DeploymentSpec().WithReplicas(3).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).
		WithTemplate(corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "web"}).WithSpec(corev1ac.PodSpec().WithContainers(
			corev1ac.Container().WithName("app").WithImage("web:1").WithEnv(corev1ac.EnvVar().WithName("MODE").WithValue("a"))))))
	if _, err := cs.AppsV1().Deployments("d").Apply(context.Background(), d, metav1.ApplyOptions{FieldManager: "chaosgate", Force: true}); err != nil {
		t.Fatal(err)
	}
}

func TestRolloutChangesTheTemplateAndWaitsForIt(t *testing.T) {
	cs := fake.NewClientset()
	applyWorkload(t, cs)
	r := &Rollout{Client: cs, Namespace: "d", Deployment: "web", Image: "web:2", Env: map[string]string{"MODE": "b", "NEW": "x"}}
	inj, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// mid-rollout: one new pod, not available yet
	setStatus(t, cs, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3})
	if err := inj.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ := cs.AppsV1().Deployments("d").Get(context.Background(), "web", metav1.GetOptions{})
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "web:2" || len(c.Env) != 2 || envValue(c, "MODE") != "b" || envValue(c, "NEW") != "x" || d.Spec.Template.Annotations[RestartAnnotation] == "" {
		t.Fatalf("template %+v", d.Spec.Template)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := inj.Verify(ctx); err == nil {
		t.Fatal("a rollout in progress is not complete")
	}
	setStatus(t, cs, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3})
	if err := inj.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a good release is the intended state: nothing to revert
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := cs.AppsV1().Deployments("d").Get(context.Background(), "web", metav1.GetOptions{}); d.Spec.Template.Spec.Containers[0].Image != "web:2" {
		t.Fatal("a good release was rolled back")
	}
	// the next suite deploys the workload again and takes back what the
	// release changed: nothing of it leaks into later suites
	applyWorkload(t, cs)
	if err := ReleaseRollout(context.Background(), cs, "d", "web"); err != nil {
		t.Fatal(err)
	}
	d, _ = cs.AppsV1().Deployments("d").Get(context.Background(), "web", metav1.GetOptions{})
	c = d.Spec.Template.Spec.Containers[0]
	if c.Image != "web:1" || len(c.Env) != 1 || envValue(c, "MODE") != "a" || d.Spec.Template.Annotations[RestartAnnotation] != "" {
		t.Fatalf("the release leaked: %+v %v", c, d.Spec.Template.Annotations)
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestBadReleaseIsDetectedAndRolledBack(t *testing.T) {
	cs := fake.NewSimpleClientset(deployment())
	r := &Rollout{Client: cs, Namespace: "d", Deployment: "web", Image: "web:missing", PullNever: true, Bad: true, DetectAfter: 200 * time.Millisecond}
	inj, err := r.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	// the new pod never becomes available; the old ones still serve
	setStatus(t, cs, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3})
	start := time.Now()
	if err := inj.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("declared failed after %s, before its detection budget", waited)
	}
	// the Deployment's own deadline says so at once
	inj2, _ := r.Plan(context.Background())
	setStatus(t, cs, appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := inj2.Verify(ctx); err != nil {
		t.Fatalf("ProgressDeadlineExceeded not taken as detection: %v", err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		setStatus(t, cs, appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3})
	}()
	if err := inj.Revert(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, _ := cs.AppsV1().Deployments("d").Get(context.Background(), "web", metav1.GetOptions{})
	if c := d.Spec.Template.Spec.Containers[0]; c.Image != "web:1" || c.ImagePullPolicy != "" {
		t.Fatalf("not rolled back: %+v", c)
	}
	// from the journal alone, as recover does
	state, _ := inj.State()
	if err := RevertRollout(cs)(context.Background(), Entry{ID: "x", Kind: "bad-release", State: state}); err != nil {
		t.Fatal(err)
	}
	if err := (&Rollout{Client: cs, Namespace: "d", Deployment: "web", Env: map[string]string{"A B": "x"}}).Validate(); err == nil || !strings.Contains(err.Error(), "A B") {
		t.Fatalf("bad env name accepted: %v", err)
	}
}
