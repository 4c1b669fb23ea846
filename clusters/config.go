// Package clusters creates, checks and deletes the multi-worker kind clusters
// chaosgate runs on, including on machines without an image registry
// (see package nodeimage) and with the fixes such sandboxes need.
package clusters

import (
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/chaosgate/chaosgate/clusters/capfilter"
)

// Defaults. The port range is reserved for suites: each port is a NodePort
// that kind maps to 127.0.0.1 on this machine.
const (
	DefaultName    = "chaosgate"
	DefaultWorkers = 3
	// DefaultNodeGracePeriod is what chaosgate's clusters use (Kubernetes'
	// own default is 50s): node suites then wait 20s for a lost node to
	// show instead of 50s.
	DefaultNodeGracePeriod = 20 * time.Second
	DefaultPodSubnet       = "10.244.0.0/16"
	DefaultServiceSubnet   = "10.96.0.0/12"
	DefaultFirstPort       = 30080
	DefaultLastPort        = 30099
)

// The API server's port on 127.0.0.1 comes from this range, below Linux's
// ephemeral ports (32768-60999 by default) and the NodePort range. kind
// would pick a free ephemeral port, but with Docker's userland proxy off
// (as on this machine) a published port is a DNAT rule, not a listener:
// the port stays free to bind, and a later program that binds it (a test
// server on port 0) has its connections sent to the API server instead, or
// refused once the node is gone and the rule stays behind a dead dockerd.
const (
	apiServerPortBase = 29000
	apiServerPortSpan = 1000
)

// PortRange is an inclusive range of NodePorts mapped to 127.0.0.1.
type PortRange struct{ First, Last int }

func (p PortRange) String() string { return fmt.Sprintf("%d-%d", p.First, p.Last) }

// Contains reports whether port is in the range.
func (p PortRange) Contains(port int) bool { return port >= p.First && port <= p.Last }

// ParsePortRange parses "FIRST-LAST" (or a single port). NodePorts must lie
// in Kubernetes' default NodePort range 30000-32767.
func ParsePortRange(s string) (PortRange, error) {
	first, last, found := strings.Cut(s, "-")
	if !found {
		last = first
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(first))
	b, err2 := strconv.Atoi(strings.TrimSpace(last))
	if err1 != nil || err2 != nil {
		return PortRange{}, fmt.Errorf("port range %q: want FIRST-LAST, e.g. 30080-30099", s)
	}
	r := PortRange{a, b}
	if a > b || a < 30000 || b > 32767 {
		return PortRange{}, fmt.Errorf("port range %q: must be ascending and inside the NodePort range 30000-32767", s)
	}
	if b-a >= 200 {
		return PortRange{}, fmt.Errorf("port range %q: at most 200 ports (each is a mapping on the node container)", s)
	}
	return r, nil
}

// Config describes the cluster Up creates or reuses.
type Config struct {
	Name          string
	Workers       int
	Image         string
	Ports         PortRange
	PodSubnet     netip.Prefix
	ServiceSubnet netip.Prefix
	// NodeGracePeriod is how long the control plane waits for a node's
	// heartbeat before it marks the node NotReady (kube-controller-manager's
	// --node-monitor-grace-period; Kubernetes' default is 50s). Zero keeps
	// Kubernetes' default. A shorter one makes node faults show sooner; the
	// kubelets then renew their leases every quarter of it.
	NodeGracePeriod time.Duration
	// APIServerPort is the API server's port on 127.0.0.1. Up fills a zero
	// with a free one of 29000-29999, starting from one derived from the
	// name; KindConfig leaves a zero to kind, which picks an ephemeral one.
	APIServerPort int
	// HostCaps is the capability bounding set of this machine; it decides
	// the containerd settings the nodes need.
	HostCaps capfilter.Set
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate checks the configuration before anything is created.
func (c Config) Validate() error {
	if !nameRE.MatchString(c.Name) || len(c.Name) > 40 {
		return fmt.Errorf("name %q: must be lower-case letters, digits and '-', at most 40 characters", c.Name)
	}
	if c.Workers < 1 || c.Workers > 10 {
		return fmt.Errorf("workers %d: must be between 1 and 10", c.Workers)
	}
	if c.Ports.First == 0 {
		return fmt.Errorf("ports: empty range")
	}
	if !c.PodSubnet.IsValid() || !c.ServiceSubnet.IsValid() {
		return fmt.Errorf("pod and service subnets must be set")
	}
	if p := c.APIServerPort; p != 0 && (p < 1024 || p >= 30000) {
		return fmt.Errorf("API server port %d: must be 1024-29999, below the NodePort range and the ephemeral ports", p)
	}
	if c.PodSubnet.Overlaps(c.ServiceSubnet) {
		return fmt.Errorf("pod subnet %s overlaps service subnet %s", c.PodSubnet, c.ServiceSubnet)
	}
	if c.NodeGracePeriod != 0 && (c.NodeGracePeriod < 12*time.Second || c.NodeGracePeriod > 10*time.Minute || c.NodeGracePeriod%(4*time.Second) != 0) {
		return fmt.Errorf("node grace period %s: must be 12s-10m and a multiple of 4s (the kubelets renew their leases every quarter of it)", c.NodeGracePeriod)
	}
	return nil
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Ports.First == 0 {
		c.Ports = PortRange{DefaultFirstPort, DefaultLastPort}
	}
	if !c.PodSubnet.IsValid() {
		c.PodSubnet = netip.MustParsePrefix(DefaultPodSubnet)
	}
	if !c.ServiceSubnet.IsValid() {
		c.ServiceSubnet = netip.MustParsePrefix(DefaultServiceSubnet)
	}
	return c
}

// freeAPIServerPort returns a port of 29000-29999 that nothing on this
// machine listens on at 127.0.0.1 and that taken does not report (ports
// Docker publishes: without its userland proxy they are rules, not
// listeners, and a listen cannot see them), trying first the one derived
// from the cluster name so that a cluster keeps its port across
// re-creations.
func freeAPIServerPort(name string, taken func(port int) bool) (int, error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	first := int(h.Sum32() % apiServerPortSpan)
	for i := range apiServerPortSpan {
		port := apiServerPortBase + (first+i)%apiServerPortSpan
		if taken(port) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		if err := l.Close(); err != nil {
			return 0, fmt.Errorf("API server port %d: %w", port, err)
		}
		return port, nil
	}
	return 0, fmt.Errorf("no free API server port in %d-%d on 127.0.0.1", apiServerPortBase, apiServerPortBase+apiServerPortSpan-1)
}

// publishedHostPorts parses the host side of `docker ps --format
// {{.Ports}}` lines ("127.0.0.1:29952->6443/tcp, 127.0.0.1:30080-30099->
// 30080-30099/tcp") into the set of host ports they publish.
func publishedHostPorts(out string) map[int]bool {
	ports := map[int]bool{}
	for _, item := range strings.FieldsFunc(out, func(r rune) bool { return r == ',' || r == '\n' }) {
		host, _, found := strings.Cut(strings.TrimSpace(item), "->")
		if !found {
			continue
		}
		host = host[strings.LastIndex(host, ":")+1:]
		lo, hi, isRange := strings.Cut(host, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if !isRange {
			b, err2 = a, err1
		}
		if err1 != nil || err2 != nil || b < a || b-a > 65535 {
			continue
		}
		for p := a; p <= b; p++ {
			ports[p] = true
		}
	}
	return ports
}

// restrictOOMScoreAdj is the containerd setting for hosts whose root cannot
// lower oom_score_adj (no CAP_SYS_RESOURCE): without it every pod sandbox
// fails with "can't get final child's PID from pipe: EOF".
const restrictOOMScoreAdj = `[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
`

// KindConfig renders the kind cluster configuration: one control plane that
// also carries the 127.0.0.1 port mappings (node faults hit workers, so the
// mapped ports survive them), N workers, explicit subnets, and the
// containerd patches this host needs.
func KindConfig(c Config) *v1alpha4.Cluster {
	cp := v1alpha4.Node{Role: v1alpha4.ControlPlaneRole, Image: c.Image}
	for p := c.Ports.First; p <= c.Ports.Last; p++ {
		cp.ExtraPortMappings = append(cp.ExtraPortMappings, v1alpha4.PortMapping{
			ContainerPort: int32(p),
			HostPort:      int32(p),
			ListenAddress: "127.0.0.1",
			Protocol:      v1alpha4.PortMappingProtocolTCP,
		})
	}
	cfg := &v1alpha4.Cluster{
		TypeMeta: v1alpha4.TypeMeta{Kind: "Cluster", APIVersion: "kind.x-k8s.io/v1alpha4"},
		Name:     c.Name,
		Nodes:    []v1alpha4.Node{cp},
		Networking: v1alpha4.Networking{
			IPFamily:          v1alpha4.IPv4Family,
			APIServerAddress:  "127.0.0.1",
			APIServerPort:     int32(c.APIServerPort),
			PodSubnet:         c.PodSubnet.String(),
			ServiceSubnet:     c.ServiceSubnet.String(),
			KubeProxyMode:     v1alpha4.IPTablesProxyMode,
			DisableDefaultCNI: false,
		},
	}
	for i := 0; i < c.Workers; i++ {
		cfg.Nodes = append(cfg.Nodes, v1alpha4.Node{Role: v1alpha4.WorkerRole, Image: c.Image})
	}
	if !c.HostCaps.Has("CAP_SYS_RESOURCE") {
		cfg.ContainerdConfigPatches = append(cfg.ContainerdConfigPatches, restrictOOMScoreAdj)
	}
	if g := c.NodeGracePeriod; g > 0 {
		// a lease renewed every quarter of the grace period: a lost node
		// shows after g, a slow kubelet on a busy machine does not
		cfg.KubeadmConfigPatches = append(cfg.KubeadmConfigPatches,
			fmt.Sprintf("kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n    node-monitor-grace-period: %q\n", g.String()),
			fmt.Sprintf("kind: KubeletConfiguration\nnodeLeaseDurationSeconds: %d\n", int(g.Seconds())))
	}
	return cfg
}
