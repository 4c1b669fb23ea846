package clusters

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestParsePortBindings(t *testing.T) {
	js := `{"30080/tcp":[{"HostIp":"127.0.0.1","HostPort":"30080"}],"30081/tcp":[{"HostIp":"127.0.0.1","HostPort":"30081"}],` +
		`"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"41235"}],"30090/tcp":[{"HostIp":"0.0.0.0","HostPort":"30090"}]}`
	b, err := parsePortBindings(js)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.nodePorts()
	if err != nil || r != (PortRange{30080, 30081}) {
		t.Fatalf("%v %v", r, err)
	}
	if p := b.apiServerPort(); p != 41235 {
		t.Fatalf("API server port %d, want 41235", p)
	}
	apiOnly, err := parsePortBindings(`{"6443/tcp":[{"HostIp":"127.0.0.1","HostPort":"41235"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiOnly.nodePorts(); err == nil {
		t.Fatal("no node port mapped must be an error")
	}
	nodePortOnly, err := parsePortBindings(`{"30080/tcp":[{"HostIp":"127.0.0.1","HostPort":"30080"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if p := nodePortOnly.apiServerPort(); p != 0 {
		t.Fatalf("no 6443 binding: port %d, want 0", p)
	}
	if _, err := parsePortBindings(`not json`); err == nil {
		t.Fatal("bad JSON must be an error")
	}
}

func TestKindName(t *testing.T) {
	node := func(name, provider string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{ProviderID: provider}}
	}
	cases := []struct {
		nodes []*corev1.Node
		name  string
		ok    bool
	}{
		{[]*corev1.Node{node("c-control-plane", "kind://docker/c/c-control-plane"), node("c-worker", "kind://docker/c/c-worker")}, "c", true},
		{[]*corev1.Node{node("c-worker", "kind://docker/c/c-worker"), node("fake", "aws:///eu-west-1a/i-1")}, "", false},
		{[]*corev1.Node{node("a", "kind://docker/a/a"), node("b", "kind://docker/b/b")}, "", false},
		{nil, "", false},
	}
	for i, c := range cases {
		cs := fake.NewSimpleClientset()
		for _, n := range c.nodes {
			_, _ = cs.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
		}
		name, ok, err := KindName(context.Background(), cs)
		if err != nil || name != c.name || ok != c.ok {
			t.Errorf("case %d: %q %v %v", i, name, ok, err)
		}
	}
}
