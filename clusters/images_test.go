package clusters

import (
	"reflect"
	"testing"
)

func TestParseImageIDLabels(t *testing.T) {
	listing := `REF                          TYPE                                                 DIGEST                                                                  SIZE      PLATFORMS   LABELS
chaosgate.local/sampleapp:v1 application/vnd.docker.distribution.manifest.v2+json sha256:99e6afc0b9d42c18790f650bdfd6e56afc85f1b4a7abe767a7edebdecf822e05 8.9 MiB   linux/amd64 chaosgate.dev/image-id=sha256:c3a8,io.cri-containerd.image=managed
chaosgate.local/other:v2     application/vnd.docker.distribution.manifest.v2+json sha256:0e03 1.1 MiB   linux/amd64 io.cri-containerd.image=managed,chaosgate.dev/image-id=sha256:beef
registry.k8s.io/pause:3.10   application/vnd.oci.image.index.v1+json sha256:ee6521 312.0 KiB linux/amd64 io.cri-containerd.image=managed,io.cri-containerd.pinned=pinned
import-2026-11-27@sha256:99e6 application/vnd.docker.distribution.manifest.v2+json sha256:99e6 8.9 MiB linux/amd64 -
`
	want := map[string]string{
		"chaosgate.local/sampleapp:v1": "sha256:c3a8",
		"chaosgate.local/other:v2":     "sha256:beef",
	}
	if got := parseImageIDLabels(listing); !reflect.DeepEqual(got, want) {
		t.Errorf("parseImageIDLabels = %v, want %v", got, want)
	}
	if got := parseImageIDLabels(""); len(got) != 0 {
		t.Errorf("empty listing gave %v", got)
	}
}

func TestParseNodeStates(t *testing.T) {
	out := "chaosgate-worker2\tworker\trunning\nchaosgate-control-plane\tcontrol-plane\trunning\nchaosgate-worker\tworker\texited\n\n"
	want := []nodeState{
		{name: "chaosgate-worker2", role: "worker", running: true},
		{name: "chaosgate-control-plane", role: "control-plane", running: true},
		{name: "chaosgate-worker", role: "worker", running: false},
	}
	if got := parseNodeStates(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseNodeStates = %+v, want %+v", got, want)
	}
	if got := parseNodeStates(""); len(got) != 0 {
		t.Errorf("no containers gave %+v", got)
	}
}
