package clusters

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/chaosgate/chaosgate/clusters/capfilter"
)

func TestParsePortRange(t *testing.T) {
	cases := []struct {
		in      string
		want    PortRange
		wantErr string
	}{
		{"30080-30099", PortRange{30080, 30099}, ""},
		{"30080", PortRange{30080, 30080}, ""},
		{" 30100 - 30101 ", PortRange{30100, 30101}, ""},
		{"30099-30080", PortRange{}, "ascending"},
		{"80-90", PortRange{}, "30000-32767"},
		{"30000-32767", PortRange{}, "at most 200"},
		{"a-b", PortRange{}, "FIRST-LAST"},
	}
	for _, c := range cases {
		got, err := ParsePortRange(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err = %v, want containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %v, %v", c.in, got, err)
		}
	}
	if !(PortRange{30080, 30099}).Contains(30090) || (PortRange{30080, 30099}).Contains(30100) {
		t.Fatal("Contains is wrong")
	}
}

func TestValidate(t *testing.T) {
	base := Config{}.WithDefaults()
	if err := base.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	bad := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"upper-case name", func(c *Config) { c.Name = "Bad" }, "name"},
		{"no workers", func(c *Config) { c.Workers = -1 }, "workers"},
		{"too many workers", func(c *Config) { c.Workers = 11 }, "workers"},
		{"overlap", func(c *Config) { c.ServiceSubnet = netip.MustParsePrefix("10.244.128.0/20") }, "overlaps"},
		{"grace too short", func(c *Config) { c.NodeGracePeriod = 8 * time.Second }, "node grace period"},
		{"API server port privileged", func(c *Config) { c.APIServerPort = 443 }, "API server port 443"},
		{"API server port a NodePort", func(c *Config) { c.APIServerPort = 30085 }, "1024-29999"},
		{"API server port ephemeral", func(c *Config) { c.APIServerPort = 42815 }, "ephemeral"},
		{"grace not a multiple of 4s", func(c *Config) { c.NodeGracePeriod = 30 * time.Second }, "multiple of 4s"},
	}
	for _, b := range bad {
		c := base
		b.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: err = %v", b.name, err)
		}
	}
}

func TestKindConfig(t *testing.T) {
	c := Config{Name: "gate", Workers: 3, Image: "chaosgate.local/node:v1.34.4-abc", Ports: PortRange{30080, 30082}, APIServerPort: 29123}.WithDefaults()
	c.HostCaps = capfilter.Set(0x000001fffeffffff) // no CAP_SYS_RESOURCE
	kc := KindConfig(c)
	if len(kc.Nodes) != 4 || kc.Nodes[0].Role != "control-plane" || kc.Nodes[3].Role != "worker" {
		t.Fatalf("nodes = %+v", kc.Nodes)
	}
	for _, n := range kc.Nodes {
		if n.Image != c.Image {
			t.Fatalf("node image %q", n.Image)
		}
	}
	pm := kc.Nodes[0].ExtraPortMappings
	if len(pm) != 3 || pm[0].ListenAddress != "127.0.0.1" || pm[0].HostPort != 30080 || pm[2].ContainerPort != 30082 {
		t.Fatalf("port mappings = %+v", pm)
	}
	for _, w := range kc.Nodes[1:] {
		if len(w.ExtraPortMappings) != 0 {
			t.Fatal("workers must not carry port mappings: node faults would take the ports down")
		}
	}
	if kc.Networking.PodSubnet != DefaultPodSubnet || kc.Networking.ServiceSubnet != DefaultServiceSubnet || kc.Networking.APIServerAddress != "127.0.0.1" || kc.Networking.APIServerPort != 29123 {
		t.Fatalf("networking = %+v", kc.Networking)
	}
	if len(kc.ContainerdConfigPatches) != 1 || !strings.Contains(kc.ContainerdConfigPatches[0], "restrict_oom_score_adj = true") {
		t.Fatalf("patches = %v", kc.ContainerdConfigPatches)
	}
	// a host with every capability needs no patch
	c.HostCaps = capfilter.Set(1<<41 - 1)
	if p := KindConfig(c).ContainerdConfigPatches; len(p) != 0 {
		t.Fatalf("unexpected patches %v", p)
	}
	if p := KindConfig(c).KubeadmConfigPatches; len(p) != 0 {
		t.Fatalf("Kubernetes' default grace period needs no patch: %v", p)
	}
	c.NodeGracePeriod = 20 * time.Second
	p := KindConfig(c).KubeadmConfigPatches
	if len(p) != 2 || !strings.Contains(p[0], `node-monitor-grace-period: "20s"`) || !strings.Contains(p[1], "nodeLeaseDurationSeconds: 20") {
		t.Fatalf("grace period patches %q", p)
	}
	// the config must serialise as kind expects
	y, err := yaml.Marshal(kc)
	if err != nil || !strings.Contains(string(y), "apiVersion: kind.x-k8s.io/v1alpha4") || !strings.Contains(string(y), "listenAddress: 127.0.0.1") {
		t.Fatalf("yaml: %v\n%s", err, y)
	}
}

func TestParseRoutes(t *testing.T) {
	out := "unreachable 10.96.0.0/12 \nblackhole 10.244.0.0/16\n10.1.2.3\n\n"
	m := parseRoutes(out)
	for _, p := range []string{"10.96.0.0/12", "10.244.0.0/16", "10.1.2.3/32"} {
		if !m[netip.MustParsePrefix(p)] {
			t.Errorf("missing %s in %v", p, m)
		}
	}
	if m[netip.MustParsePrefix("10.0.0.0/8")] {
		t.Error("unexpected prefix")
	}
}

// Gates started together reuse the cluster together: a kubeconfig lock
// held by another is waited for; any other error is not retried.
func TestWhileLockedRetriesOnlyTheLock(t *testing.T) {
	locked := errors.New("failed to lock config file: open /root/.kube/config.lock: file exists")
	calls := 0
	err := whileLocked(context.Background(), func() error {
		if calls++; calls < 3 {
			return locked
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, calls)
	}
	calls = 0
	other := errors.New("no such cluster")
	if err := whileLocked(context.Background(), func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("err %v after %d calls, want the other error at once", err, calls)
	}
}

func TestFreeAPIServerPort(t *testing.T) {
	none := func(int) bool { return false }
	first, err := freeAPIServerPort("chaosgate", none)
	if err != nil {
		t.Fatal(err)
	}
	// below the ephemeral ports: a test server on port 0 can never get it
	if first < 29000 || first > 29999 {
		t.Fatalf("port %d outside 29000-29999", first)
	}
	if again, err := freeAPIServerPort("chaosgate", none); err != nil || again != first {
		t.Fatalf("same name gave %d (%v), then %d", first, err, again)
	}
	// a port Docker publishes is a rule, not a listener: only taken knows
	published, err := freeAPIServerPort("chaosgate", func(p int) bool { return p == first })
	if err != nil || published == first || published < 29000 || published > 29999 {
		t.Fatalf("with %d published: port %d, %v", first, published, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first)))
	if err != nil {
		t.Fatalf("listen on %d: %v", first, err)
	}
	defer l.Close()
	if next, err := freeAPIServerPort("chaosgate", none); err != nil || next == first || next < 29000 || next > 29999 {
		t.Fatalf("with %d listened on: port %d, %v", first, next, err)
	}
	if _, err := freeAPIServerPort("chaosgate", func(int) bool { return true }); err == nil || !strings.Contains(err.Error(), "no free API server port") {
		t.Fatalf("every port taken: %v", err)
	}
}

func TestPublishedHostPorts(t *testing.T) {
	out := "127.0.0.1:30080-30082->30080-30082/tcp, 127.0.0.1:29952->6443/tcp\n\n0.0.0.0:8080->80/tcp, :::8080->80/tcp\n5432/tcp\n"
	got := publishedHostPorts(out)
	for _, p := range []int{30080, 30081, 30082, 29952, 8080} {
		if !got[p] {
			t.Errorf("port %d missing from %v", p, got)
		}
	}
	if got[6443] || got[5432] || got[80] || len(got) != 5 {
		t.Errorf("container side or unpublished ports counted: %v", got)
	}
}
