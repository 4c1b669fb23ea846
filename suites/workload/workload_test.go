package workload

import (
	"io/fs"
	corev1 "k8s.io/api/core/v1"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/suites/workloads"
)

func writeWorkload(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const dep = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: web:1
        ports: [{name: http, containerPort: 8080}]
`

const svc = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`

func TestBundledWorkloadsAreValid(t *testing.T) {
	dirs, err := fs.ReadDir(workloads.FS, ".")
	if err != nil || len(dirs) < 6 {
		t.Fatalf("bundled workloads: %d, %v", len(dirs), err)
	}
	for _, d := range dirs {
		name := "bundled:" + d.Name()
		w, err := LoadWorkload(name, "", 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w.Deployment.Name != "sampleapp" || w.Service.Name != "sampleapp" || w.Port.Port != 80 || w.Selector() != "app=sampleapp" {
			t.Fatalf("%s: target %s/%s:%d", name, w.Deployment.Name, w.Service.Name, w.Port.Port)
		}
	}
	w, _ := LoadWorkload("bundled:broken-single-replica", "", 0)
	if w.Replicas() != 1 {
		t.Fatalf("broken variant has %d replicas", w.Replicas())
	}
}

func TestLoadWorkloadFromFolder(t *testing.T) {
	dir := writeWorkload(t, map[string]string{"all.yaml": "# comment\n---\n" + dep + "---\n" + svc, "README.md": "ignored"})
	w, err := LoadWorkload(dir, "web", 80)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Objects) != 2 || w.Replicas() != 2 || w.Objects[0].Pos != filepath.Join(dir, "all.yaml")+":3" {
		t.Fatalf("objects %d replicas %d pos %s", len(w.Objects), w.Replicas(), w.Objects[0].Pos)
	}
}

func TestLoadWorkloadErrors(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string]string
		svc     string
		port    int
		wantErr string
	}{
		{"empty folder", map[string]string{}, "", 0, "no .yaml"},
		{"no service", map[string]string{"d.yaml": dep}, "", 0, "no Service"},
		{"no deployment", map[string]string{"s.yaml": svc}, "", 0, "no Deployment"},
		{"bad yaml with position", map[string]string{"d.yaml": dep + "---\nkind: [\n"}, "", 0, "d.yaml:18: invalid YAML"},
		{"missing kind", map[string]string{"d.yaml": "apiVersion: v1\nmetadata: {name: x}\n"}, "", 0, "d.yaml:1: kind: missing"},
		{"missing name", map[string]string{"d.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, "", 0, "metadata.name: missing"},
		{"unknown service", map[string]string{"a.yaml": dep + "---\n" + svc}, "api", 0, `--target-service: no Service "api"`},
		{"unknown port", map[string]string{"a.yaml": dep + "---\n" + svc}, "", 8443, "--target-port: Service web has no port 8443"},
		{"selects nothing", map[string]string{"a.yaml": dep + "---\n" + strings.Replace(svc, "{app: web}", "{app: other}", 1)}, "", 0, "selects no Deployment"},
		{"kube-system", map[string]string{"a.yaml": strings.Replace(dep, "name: web\n", "name: web\n  namespace: kube-system\n", 1) + "---\n" + svc}, "", 0, "kube-system"},
		{"zero replicas", map[string]string{"a.yaml": strings.Replace(dep, "replicas: 2", "replicas: 0", 1) + "---\n" + svc}, "", 0, "spec.replicas: 0"},
		{"named port not declared", map[string]string{"a.yaml": dep + "---\n" + strings.Replace(svc, "targetPort: http", "targetPort: grpc", 1)}, "", 0, `named port "grpc"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadWorkload(writeWorkload(t, c.files), c.svc, c.port)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
		})
	}
	if _, err := LoadWorkload("/does/not/exist", "", 0); err == nil {
		t.Fatal("missing folder must fail")
	}
	if _, err := LoadWorkload("bundled:nope", "", 0); err == nil || !strings.Contains(err.Error(), "no bundled workload nope") {
		t.Fatalf("unknown bundled workload: %v", err)
	}
}

func TestTolerationsAndBudgets(t *testing.T) {
	sample, err := LoadWorkload(SampleWorkload, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if sample.UnreachableToleration() != 20*time.Second || sample.NotReadyToleration() != 20*time.Second {
		t.Fatalf("sample tolerations %s %s", sample.UnreachableToleration(), sample.NotReadyToleration())
	}
	if b, ok := sample.DisruptionBudget(); !ok || b.Name != "sampleapp" || b.MinServing != 2 || !b.SelectsTarget {
		t.Fatalf("sample budget %+v %v", b, ok)
	}
	plain, err := LoadWorkload(writeWorkload(t, map[string]string{"a.yaml": dep + "---\n" + svc}), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if plain.UnreachableToleration() != DefaultToleration {
		t.Fatalf("no toleration declared: %s", plain.UnreachableToleration())
	}
	if _, ok := plain.DisruptionBudget(); ok {
		t.Fatal("no budget declared")
	}
	pdb := func(spec string) string {
		return "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\nspec:\n  " + spec + "\n"
	}
	for _, c := range []struct {
		spec    string
		min     int
		selects bool
	}{
		{"minAvailable: 1\n  selector: {matchLabels: {app: web}}", 1, true},
		{"minAvailable: 50%\n  selector: {matchLabels: {app: web}}", 1, true},
		{"maxUnavailable: 1\n  selector: {matchLabels: {app: web}}", 1, true},
		// the disruption controller rounds 30% of 2 up to 1
		{"maxUnavailable: 30%\n  selector: {matchLabels: {app: web}}", 1, true},
		{"minAvailable: 2\n  selector: {matchLabels: {app: wbe}}", 2, false},
	} {
		w, err := LoadWorkload(writeWorkload(t, map[string]string{"a.yaml": dep + "---\n" + svc + "---\n" + pdb(c.spec)}), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := w.DisruptionBudget(); !ok || b.MinServing != c.min || b.SelectsTarget != c.selects {
			t.Errorf("%q: %+v %v", c.spec, b, ok)
		}
	}
}

// The taint eviction controller's reading: the shortest matching
// tolerationSeconds wins; matching tolerations without seconds mean for
// ever; nothing matching means the admission default.
func TestTolerationFollowsTheTaintEvictionController(t *testing.T) {
	secs := func(s int64) *int64 { return &s }
	const key = "node.kubernetes.io/unreachable"
	for _, c := range []struct {
		name string
		ts   []corev1.Toleration
		want time.Duration
	}{
		{"none", nil, DefaultToleration},
		{"another key", []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(5)}}, DefaultToleration},
		{"NoSchedule only", []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, DefaultToleration},
		{"20s", []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs(20)}}, 20 * time.Second},
		{"0s evicts at once", []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists, TolerationSeconds: secs(0)}}, 0},
		{"for ever", []corev1.Toleration{{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}, NeverEvicted},
		{"the shortest of several", []corev1.Toleration{
			{Operator: corev1.TolerationOpExists},
			{Key: key, Operator: corev1.TolerationOpExists, TolerationSeconds: secs(60)},
			{Key: key, Operator: corev1.TolerationOpExists, TolerationSeconds: secs(15)}}, 15 * time.Second},
	} {
		if got := toleration(c.ts, key); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestAutoscalerOfTheBundledWorkloads(t *testing.T) {
	for _, c := range []struct {
		workload       string
		want           Autoscaler
		requestMilli   float64
		reasonContains string
	}{
		{"sample", Autoscaler{Name: "sampleapp", Min: 3, Max: 6, CPUTargetPercent: 60, ScaleDownWindow: 20 * time.Second, LoadPath: "/work?ms=2"}, 100, ""},
		{"bundled:broken-hpa-max-low", Autoscaler{Name: "sampleapp", Min: 3, Max: 3, CPUTargetPercent: 60, ScaleDownWindow: 20 * time.Second, LoadPath: "/work?ms=2"}, 100, ""},
		// no request, no limit: the autoscaler has nothing to divide by
		{"bundled:broken-hpa-no-cpu-requests", Autoscaler{Name: "sampleapp", Min: 3, Max: 6, CPUTargetPercent: 60, ScaleDownWindow: 20 * time.Second, LoadPath: "/work?ms=2"}, 0, ""},
		{"bundled:broken-no-graceful", Autoscaler{}, 50, "no HorizontalPodAutoscaler of Deployment sampleapp"},
	} {
		w, err := LoadWorkload(c.workload, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		a, reason := w.Autoscaler()
		a.Pos = ""
		if a != c.want || !strings.Contains(reason, c.reasonContains) || (c.reasonContains == "") != (reason == "") {
			t.Errorf("%s: %+v, %q", c.workload, a, reason)
		}
		if got := w.CPURequestMilli(); got != c.requestMilli {
			t.Errorf("%s: CPU request %gm, want %gm", c.workload, got, c.requestMilli)
		}
	}
}

func TestAutoscalerDefaultsAndOtherVersions(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app.yaml", `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: a
        image: x
        resources:
          limits:
            cpu: 250m
      - name: b
        image: "y"
        resources:
          requests:
            cpu: "1"
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`)
	write("hpa.yaml", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  metrics: [{type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 70}}}]
`)
	w, err := LoadWorkload(dir, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// min 1 and a 300s window by default; memory is not a CPU target
	if a, reason := w.Autoscaler(); reason != "" || a.Min != 1 || a.Max != 4 || a.CPUTargetPercent != 0 || a.ScaleDownWindow != 300*time.Second {
		t.Fatalf("%+v, %q", a, reason)
	}
	// a container's CPU limit is its request when it sets none
	if got := w.CPURequestMilli(); got != 1250 {
		t.Fatalf("CPU request %gm, want 1250m", got)
	}
	write("hpa.yaml", `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
`)
	if w, err = LoadWorkload(dir, "", 0); err != nil {
		t.Fatal(err)
	}
	if _, reason := w.Autoscaler(); !strings.Contains(reason, "hpa.yaml:1: HorizontalPodAutoscaler web is autoscaling/v1; chaosgate reads autoscaling/v2") {
		t.Fatalf("reason %q", reason)
	}
}
