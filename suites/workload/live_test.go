package workload

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func liveObjects() []runtime.Object {
	web := map[string]string{"app": "web"}
	two := int32(2)
	one := intstr.FromInt32(1)
	svc := func(name string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"},
			Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
	}
	pdb := func(name string, sel map[string]string) *policyv1.PodDisruptionBudget {
		return &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: sel}}}
	}
	return []runtime.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team"}, Spec: appsv1.DeploymentSpec{
			Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: web},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:1", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}}},
		svc("web", web),
		svc("db", map[string]string{"app": "db"}),
		svc(ExposedServiceName, web), // a gate's NodePort Service: never the target
		pdb("web", web),
		pdb("db", map[string]string{"app": "db"}),
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}, MaxReplicas: 4}},
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "team"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "db"}, MaxReplicas: 4}},
	}
}

// A workload already deployed is read as it is: its Deployment, the one
// Service in front of its pods, the budget and autoscaler that concern it,
// and nothing of the other apps in its namespace.
func TestFromClusterReadsTheLiveTarget(t *testing.T) {
	w, err := FromCluster(context.Background(), fake.NewClientset(liveObjects()...), "team", "web", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range w.Objects {
		got = append(got, o.GetKind()+"/"+o.GetName()+"@"+o.GetAPIVersion())
	}
	sort.Strings(got)
	want := "Deployment/web@apps/v1,HorizontalPodAutoscaler/web@autoscaling/v2,PodDisruptionBudget/web@policy/v1,Service/web@v1"
	if strings.Join(got, ",") != want {
		t.Errorf("objects %v, want %s", got, want)
	}
	if !w.Live || w.Deployment.Name != "web" || w.Service.Name != "web" || w.Port.Port != 80 || w.Selector() != "app=web" {
		t.Errorf("target: live %v, deployment %s, service %s, port %d, selector %s", w.Live, w.Deployment.Name, w.Service.Name, w.Port.Port, w.Selector())
	}
	if b, ok := w.DisruptionBudget(); !ok || b.Name != "web" || b.MinServing != 1 {
		t.Errorf("budget %+v %v", b, ok)
	}
	if a, reason := w.Autoscaler(); a.Name != "web" || a.Max != 4 {
		t.Errorf("no autoscaler: %s", reason)
	}
	if !strings.Contains(w.Source, "deployment/web in team (live)") {
		t.Errorf("source %q", w.Source)
	}
}

func TestFromClusterNamesWhatIsMissing(t *testing.T) {
	cs := fake.NewClientset(liveObjects()...)
	for _, tc := range []struct {
		name, ns, deployment, service string
		want                          string
		notFound                      bool
	}{
		{"no such deployment", "team", "api", "", "Deployment api not found in namespace team", true},
		{"no such namespace", "other", "web", "", "Deployment web not found in namespace other", true},
		{"a Service of another app", "team", "web", "db", "Service db does not select the pods of Deployment web", false},
		{"no such Service", "team", "web", "front", "Service front not found in namespace team", true},
		{"kube-system", "kube-system", "coredns", "", "workloads in kube-system are not targets", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromCluster(context.Background(), cs, tc.ns, tc.deployment, tc.service, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			var nf *NotFoundError
			if errors.As(err, &nf) != tc.notFound {
				t.Errorf("NotFoundError: %v, want %v", errors.As(err, &nf), tc.notFound)
			}
		})
	}
}

// In a namespace that is not chaosgate's, the run's NodePort Service is
// added and deleted again, and a Service of the same name that the team
// made is neither taken over nor deleted.
func TestExposeAndUnexposeInATeamsNamespace(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(liveObjects()[:2]...)
	w, err := FromCluster(ctx, cs, "team", "web", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Expose(ctx, cs, w, "team", 30081); err != nil {
		t.Fatal(err)
	}
	svc, err := cs.CoreV1().Services("team").Get(ctx, ExposedServiceName, metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].NodePort != 30081 || svc.Spec.Selector["app"] != "web" {
		t.Fatalf("exposed: %+v, %v", svc, err)
	}
	if err := Unexpose(ctx, cs, "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services("team").Get(ctx, ExposedServiceName, metav1.GetOptions{}); err == nil {
		t.Fatal("the run's Service is left")
	}
	if err := Unexpose(ctx, cs, "team"); err != nil {
		t.Fatalf("a second unexpose: %v", err)
	}

	theirs := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ExposedServiceName, Namespace: "team"}}
	if _, err := cs.CoreV1().Services("team").Create(ctx, theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Expose(ctx, cs, w, "team", 30081); err == nil || !strings.Contains(err.Error(), "chaosgate did not create") {
		t.Fatalf("took over the team's Service: %v", err)
	}
	if err := Unexpose(ctx, cs, "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services("team").Get(ctx, ExposedServiceName, metav1.GetOptions{}); err != nil {
		t.Fatalf("deleted the team's Service: %v", err)
	}
}
