package podnet

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func node(name, podCIDR, ip string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Spec.PodCIDR = podCIDR
	if podCIDR != "" {
		n.Spec.PodCIDRs = []string{podCIDR}
	}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

func r(dst, via string) Route {
	return Route{Dst: netip.MustParsePrefix(dst), Via: netip.MustParseAddr(via)}
}

func TestDesiredRoutes(t *testing.T) {
	nodes := []corev1.Node{
		node("cp", "10.244.0.0/24", "172.18.0.2"),
		node("w1", "10.244.1.0/24", "172.18.0.3"),
		node("w2", "10.244.2.0/24", "172.18.0.4"),
		node("new", "", "172.18.0.5"),       // no podCIDR yet
		node("noaddr", "10.244.4.0/24", ""), // no address yet
	}
	got := DesiredRoutes(nodes, "w1")
	want := []Route{r("10.244.0.0/24", "172.18.0.2"), r("10.244.2.0/24", "172.18.0.4")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	own, err := OwnPodCIDR(nodes, "w2")
	if err != nil || own.String() != "10.244.2.0/24" {
		t.Fatalf("own = %v, %v", own, err)
	}
	if _, err := OwnPodCIDR(nodes, "new"); err == nil {
		t.Fatal("want error for node without podCIDR")
	}
	if _, err := OwnPodCIDR(nodes, "ghost"); err == nil {
		t.Fatal("want error for unknown node")
	}
}

func TestDiffRoutes(t *testing.T) {
	cases := []struct {
		name                    string
		current, desired        []Route
		wantReplace, wantRemove []Route
	}{
		{"empty", nil, nil, nil, nil},
		{"fresh node", nil, []Route{r("10.244.1.0/24", "172.18.0.3")}, []Route{r("10.244.1.0/24", "172.18.0.3")}, nil},
		{"in sync", []Route{r("10.244.1.0/24", "172.18.0.3")}, []Route{r("10.244.1.0/24", "172.18.0.3")}, nil, nil},
		// a restarted node came back with another address
		{"address changed", []Route{r("10.244.1.0/24", "172.18.0.3")}, []Route{r("10.244.1.0/24", "172.18.0.4")}, []Route{r("10.244.1.0/24", "172.18.0.4")}, nil},
		{"node gone", []Route{r("10.244.1.0/24", "172.18.0.3"), r("10.244.2.0/24", "172.18.0.4")}, []Route{r("10.244.2.0/24", "172.18.0.4")}, nil, []Route{r("10.244.1.0/24", "172.18.0.3")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, rem := DiffRoutes(c.current, c.desired)
			if !reflect.DeepEqual(rep, c.wantReplace) || !reflect.DeepEqual(rem, c.wantRemove) {
				t.Fatalf("replace=%v remove=%v", rep, rem)
			}
		})
	}
}

func TestParseIPRouteJSON(t *testing.T) {
	out := `[{"dst":"10.244.1.0/24","gateway":"172.18.0.3","dev":"eth0","protocol":"222","flags":[]},{"dst":"10.244.9.9","gateway":"172.18.0.9","dev":"eth0","flags":[]}]`
	got, err := parseIPRouteJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{r("10.244.1.0/24", "172.18.0.3"), r("10.244.9.9/32", "172.18.0.9")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	if got, err := parseIPRouteJSON([]byte("\n")); err != nil || got != nil {
		t.Fatalf("empty output: %v %v", got, err)
	}
}

func TestCNIConfigIsValidJSON(t *testing.T) {
	var v struct {
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				Ranges [][]struct{ Subnet string } `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(CNIConfig(netip.MustParsePrefix("10.244.3.0/24"), 1500)), &v); err != nil {
		t.Fatal(err)
	}
	if v.Plugins[0].Type != "ptp" || v.Plugins[0].IPAM.Ranges[0][0].Subnet != "10.244.3.0/24" || v.Plugins[1].Type != "portmap" {
		t.Fatalf("unexpected config %+v", v)
	}
}

func TestManifestCarriesKindMarkers(t *testing.T) {
	m := Manifest("chaosgate.local/podnet:abc")
	for _, want := range []string{"would you kindly template this file", "would you kindly patch this file", "{{ .PodSubnet }}", "image: chaosgate.local/podnet:abc", "NODE_NAME"} {
		if !strings.Contains(m, want) {
			t.Errorf("manifest lacks %q", want)
		}
	}
}

// fakeNet records what the syncer does to the node.
type fakeNet struct {
	mu     sync.Mutex
	routes map[netip.Prefix]netip.Addr
	masq   []netip.Prefix
}

func (f *fakeNet) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = map[netip.Prefix]netip.Addr{}
}

func (f *fakeNet) Routes(context.Context) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Route
	for d, v := range f.routes {
		out = append(out, Route{d, v})
	}
	sortRoutes(out)
	return out, nil
}
func (f *fakeNet) ReplaceRoute(_ context.Context, r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[r.Dst] = r.Via
	return nil
}

func (f *fakeNet) DeleteRoute(_ context.Context, r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.routes, r.Dst)
	return nil
}

func (f *fakeNet) EnsureMasquerade(_ context.Context, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.masq = append(f.masq, p)
	return nil
}

func TestRunFollowsNodeChanges(t *testing.T) {
	dir := t.TempDir()
	cp, w1, w2 := node("cp", "10.244.0.0/24", "172.18.0.2"), node("w1", "10.244.1.0/24", "172.18.0.3"), node("w2", "10.244.2.0/24", "172.18.0.4")
	cs := fake.NewSimpleClientset(&cp, &w1, &w2)
	net := &fakeNet{routes: map[netip.Prefix]netip.Addr{
		// stale route left by a deleted node
		netip.MustParsePrefix("10.244.7.0/24"): netip.MustParseAddr("172.18.0.9"),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			NodeName: "w1", PodSubnet: netip.MustParsePrefix("10.244.0.0/16"),
			CNIConfDir: dir, ReadyFile: filepath.Join(dir, "ready"), Resync: 20 * time.Millisecond,
			Client: cs, Net: net,
		})
	}()
	waitFor(t, func() bool {
		rs, _ := net.Routes(ctx)
		return reflect.DeepEqual(rs, []Route{r("10.244.0.0/24", "172.18.0.2"), r("10.244.2.0/24", "172.18.0.4")})
	})
	conf, err := os.ReadFile(filepath.Join(dir, CNIFile))
	if err != nil || !strings.Contains(string(conf), "10.244.1.0/24") {
		t.Fatalf("CNI config: %s %v", conf, err)
	}
	// the ready file follows the first full sync, a moment after the routes
	waitFor(t, func() bool { return CheckReady(filepath.Join(dir, "ready"), time.Minute) == nil })
	// w2 restarts with another address
	w2.Status.Addresses[1].Address = "172.18.0.5"
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, &w2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		rs, _ := net.Routes(ctx)
		return len(rs) == 2 && rs[1] == r("10.244.2.0/24", "172.18.0.5")
	})
	// the node's routes vanish (node container restarted): resync restores them
	net.reset()
	waitFor(t, func() bool { rs, _ := net.Routes(ctx); return len(rs) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(net.masq) == 0 || net.masq[0].String() != "10.244.0.0/16" {
		t.Fatalf("masquerade not ensured: %v", net.masq)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCheckReadyStale(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ready")
	if err := CheckReady(f, time.Second); err == nil {
		t.Fatal("missing file must not be ready")
	}
	_ = os.WriteFile(f, nil, 0o644)
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(f, old, old)
	if err := CheckReady(f, time.Minute); err == nil {
		t.Fatal("stale file must not be ready")
	}
}
