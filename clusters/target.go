package clusters

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// ConnectContext returns a Cluster for a context of a kubeconfig (default
// $KUBECONFIG or ~/.kube/config): any cluster, kind or not. Name and Ports
// are empty: the caller finds out whether it is a kind cluster (KindName).
func ConnectContext(kubeconfigPath, contextName string) (*Cluster, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfigPath != "" {
		rules.ExplicitPath = kubeconfigPath
	}
	cfg := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: contextName})
	raw, err := cfg.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if _, ok := raw.Contexts[contextName]; !ok {
		return nil, &ContextError{Context: contextName, Known: keys(raw.Contexts)}
	}
	rc, err := cfg.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", contextName, err)
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &Cluster{Context: contextName, Kubeconfig: rules.GetDefaultFilename(), REST: rc, Client: cs}, nil
}

// ContextError is a context the kubeconfig does not have.
type ContextError struct {
	Context string
	Known   []string
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("--context %q: no such context in the kubeconfig (it has: %s)", e.Context, strings.Join(e.Known, ", "))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// KindName returns the name of the kind cluster the client talks to, read
// from its nodes' provider IDs (kind://docker/CLUSTER/NODE); ok is false
// unless every node is a node of the same kind cluster.
func KindName(ctx context.Context, cs kubernetes.Interface) (name string, ok bool, err error) {
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", false, err
	}
	for _, n := range nodes.Items {
		rest, found := strings.CutPrefix(n.Spec.ProviderID, "kind://")
		parts := strings.Split(rest, "/")
		if !found || len(parts) != 3 || (name != "" && parts[1] != name) {
			return "", false, nil
		}
		name = parts[1]
	}
	return name, name != "", nil
}

// MappedPorts returns the node ports the kind cluster's control-plane node
// maps to 127.0.0.1, as one range.
func MappedPorts(ctx context.Context, name string) (PortRange, error) {
	b, err := controlPlaneBindings(ctx, name)
	if err != nil {
		return PortRange{}, err
	}
	return b.nodePorts()
}

// portBindings is docker's HostConfig.PortBindings of a node container:
// container port ("30080/tcp") to the host addresses it is published on.
type portBindings map[string][]struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

func controlPlaneBindings(ctx context.Context, name string) (portBindings, error) {
	out, err := dockerOutput(ctx, "inspect", "--format", "{{json .HostConfig.PortBindings}}", name+"-control-plane")
	if err != nil {
		return nil, err
	}
	return parsePortBindings(out)
}

func parsePortBindings(js string) (portBindings, error) {
	var b portBindings
	if err := json.Unmarshal([]byte(js), &b); err != nil {
		return nil, fmt.Errorf("port bindings %q: %w", js, err)
	}
	return b, nil
}

// nodePorts returns the NodePorts published on 127.0.0.1, as one range.
func (b portBindings) nodePorts() (PortRange, error) {
	var r PortRange
	for _, hs := range b {
		for _, h := range hs {
			p, err := strconv.Atoi(h.HostPort)
			if err != nil || h.HostIP != "127.0.0.1" || p < 30000 || p > 32767 {
				continue
			}
			if r.First == 0 || p < r.First {
				r.First = p
			}
			r.Last = max(r.Last, p)
		}
	}
	if r.First == 0 {
		return r, fmt.Errorf("no node port is mapped to 127.0.0.1")
	}
	return r, nil
}

// apiServerPort returns the host port the API server's 6443/tcp is
// published on, or 0.
func (b portBindings) apiServerPort() int {
	if len(b["6443/tcp"]) == 0 {
		return 0
	}
	p, _ := strconv.Atoi(b["6443/tcp"][0].HostPort)
	return p
}

// nodeGracePeriod reads kube-controller-manager's
// --node-monitor-grace-period from its static pod ("default" when unset).
func nodeGracePeriod(ctx context.Context, cs kubernetes.Interface) (string, error) {
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "component=kube-controller-manager"})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		for _, c := range p.Spec.Containers {
			for _, a := range append(append([]string(nil), c.Command...), c.Args...) {
				if v, ok := strings.CutPrefix(a, "--node-monitor-grace-period="); ok {
					if d, err := time.ParseDuration(v); err == nil {
						return d.String(), nil
					}
					return v, nil
				}
			}
		}
	}
	return "Kubernetes' default (50s)", nil
}

// ReuseMismatchError says an existing cluster was made with other settings
// than the ones asked for: reusing it would silently ignore them.
type ReuseMismatchError struct {
	Name, Setting, Asked, Has string
}

func (e *ReuseMismatchError) Error() string {
	return fmt.Sprintf("cluster %s exists with %s %s, but %s was asked for; use its settings, or delete it first (chaosgate cluster down --name %s)",
		e.Name, e.Setting, e.Has, e.Asked, e.Name)
}

// checkReuse compares an existing cluster with the settings asked for.
func checkReuse(ctx context.Context, c *Cluster, o UpOptions) error {
	bindings, err := controlPlaneBindings(ctx, o.Name)
	if err != nil {
		return err
	}
	ports, err := bindings.nodePorts()
	if err != nil {
		return err
	}
	if p := bindings.apiServerPort(); p >= 30000 {
		// made before chaosgate chose the port (see apiServerPortBase)
		fmt.Fprintf(o.Progress, "Note: cluster %q's API server is published on 127.0.0.1:%d, a port other programs may bind and lose to it; `chaosgate cluster down --name %s` and `cluster up` move it to 29000-29999\n", o.Name, p, o.Name)
	}
	if ports != o.Ports {
		return &ReuseMismatchError{Name: o.Name, Setting: "--ports", Asked: o.Ports.String(), Has: ports.String()}
	}
	if o.Image != "" {
		img, err := dockerOutput(ctx, "inspect", "--format", "{{.Config.Image}}", o.Name+"-control-plane")
		if err != nil {
			return err
		}
		if img = strings.TrimSpace(img); img != o.Image {
			return &ReuseMismatchError{Name: o.Name, Setting: "--image", Asked: o.Image, Has: img}
		}
	}
	if o.NodeGracePeriod != 0 {
		has, err := nodeGracePeriod(ctx, c.Client)
		if err != nil {
			return err
		}
		if has != o.NodeGracePeriod.String() {
			return &ReuseMismatchError{Name: o.Name, Setting: "--node-grace-period", Asked: o.NodeGracePeriod.String(), Has: has}
		}
	}
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, n := range nodes.Items {
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil && !o.PodSubnet.Overlaps(p) {
			return &ReuseMismatchError{Name: o.Name, Setting: "--pod-subnet", Asked: o.PodSubnet.String(), Has: "a node podCIDR " + p.String()}
		}
	}
	svc, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && !o.ServiceSubnet.Contains(ip) {
		return &ReuseMismatchError{Name: o.Name, Setting: "--service-subnet", Asked: o.ServiceSubnet.String(), Has: "the kubernetes Service at " + ip.String()}
	}
	return nil
}
