package clusters

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseImages(t *testing.T) {
	listing := `REF                          TYPE                                                 DIGEST                                                                  SIZE      PLATFORMS   LABELS
chaosgate.local/sampleapp:v1 application/vnd.docker.distribution.manifest.v2+json sha256:99e6 8.9 MiB   linux/amd64 chaosgate.dev/image-id=sha256:c3a8@sha256:99e6,io.cri-containerd.image=managed
docker.io/library/myapp:dev  application/vnd.docker.distribution.manifest.v2+json sha256:0e03 1.1 MiB   linux/amd64 io.cri-containerd.image=managed,chaosgate.dev/image-id=sha256:beef@sha256:0e03
registry.k8s.io/pause:3.10   application/vnd.oci.image.index.v1+json sha256:ee6521 312.0 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned
import-2026-11-27@sha256:99e6 application/vnd.docker.distribution.manifest.v2+json sha256:99e6 8.9 MiB linux/amd64 -
`
	got := parseImages(listing)
	want := map[string]loadedImage{
		"chaosgate.local/sampleapp:v1":  {digest: "sha256:99e6", label: "sha256:c3a8@sha256:99e6"},
		"docker.io/library/myapp:dev":   {digest: "sha256:0e03", label: "sha256:beef@sha256:0e03"},
		"registry.k8s.io/pause:3.10":    {digest: "sha256:ee6521"},
		"import-2026-11-27@sha256:99e6": {digest: "sha256:99e6"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseImages = %v, want %v", got, want)
	}
	if len(parseImages("")) != 0 {
		t.Error("an empty listing gave images")
	}
	// the label holds only while the manifest is the one it was set for
	l := got["chaosgate.local/sampleapp:v1"]
	if l.label != l.stamp("sha256:c3a8") {
		t.Error("a labelled image does not match its own Docker ID")
	}
	if moved := (loadedImage{digest: "sha256:aaaa", label: l.label}); moved.label == moved.stamp("sha256:c3a8") {
		t.Error("an image imported again under the same name still matches its old label")
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"myapp:dev":                    "docker.io/library/myapp:dev",
		"nginx":                        "docker.io/library/nginx:latest",
		"acme/app:1.2":                 "docker.io/acme/app:1.2",
		"chaosgate.local/sampleapp:v1": "chaosgate.local/sampleapp:v1",
		"localhost/app":                "localhost/app:latest",
		"registry:5000/team/app":       "registry:5000/team/app:latest",
		"registry:5000/team/app:v2":    "registry:5000/team/app:v2",
		"app@sha256:abcd":              "docker.io/library/app@sha256:abcd",
		"ghcr.io/o/app:v1@sha256:abcd": "ghcr.io/o/app:v1@sha256:abcd",
	} {
		if got := normalizeRef(in); got != want {
			t.Errorf("normalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseNodeStates(t *testing.T) {
	out := "chaosgate-worker2\tworker\trunning\nchaosgate-control-plane\tcontrol-plane\trunning\nchaosgate-worker\tworker\texited\n\n"
	want := []nodeState{
		{name: "chaosgate-worker2", role: "worker", state: "running"},
		{name: "chaosgate-control-plane", role: "control-plane", state: "running"},
		{name: "chaosgate-worker", role: "worker", state: "exited"},
	}
	if got := parseNodeStates(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseNodeStates = %+v, want %+v", got, want)
	}
	if got := parseNodeStates(""); len(got) != 0 {
		t.Errorf("no containers gave %+v", got)
	}
}

func TestPodOnEveryNode(t *testing.T) {
	node := func(n string) corev1.Node { return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}} }
	pod := func(n string, ready bool) corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return corev1.Pod{Spec: corev1.PodSpec{NodeName: n}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	nodes := []corev1.Node{node("a"), node("b")}
	for _, tt := range []struct {
		name  string
		nodes []corev1.Node
		pods  []corev1.Pod
		want  bool
	}{
		{"every node", nodes, []corev1.Pod{pod("a", true), pod("b", true)}, true},
		{"one not Ready", nodes, []corev1.Pod{pod("a", true), pod("b", false)}, false},
		{"one missing", nodes, []corev1.Pod{pod("a", true)}, false},
		// a pod left on a deleted node does not count, nor block
		{"a pod of a node that is gone", nodes, []corev1.Pod{pod("a", true), pod("b", true), pod("gone", false)}, true},
		{"no node", nil, nil, false},
	} {
		if got := podOnEveryNode(tt.nodes, tt.pods); got != tt.want {
			t.Errorf("%s: podOnEveryNode = %v, want %v", tt.name, got, tt.want)
		}
	}
}
