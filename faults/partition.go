package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// NetworkPartition cuts a kind worker off from the control plane (and, with
// FromWorkers, from the other workers) with iptables rules in the node's
// own network namespace: the node's kubelet and kube-proxy lose the API
// server while its pods keep serving the traffic that reaches them. Every
// rule carries a comment with a tag of its own, so the revert removes
// exactly these rules and nothing else. It is in effect when the Node is
// NotReady.
type NetworkPartition struct {
	Docker              Docker
	Client              kubernetes.Interface
	Node                string
	Namespace, Selector string
	// FromWorkers cuts the node off from the other workers too.
	FromWorkers   bool
	RevertTimeout time.Duration
}

// Kind implements Fault.
func (p *NetworkPartition) Kind() string { return "network-partition" }

// Describe implements Fault.
func (p *NetworkPartition) Describe() string {
	from := "the control plane"
	if p.FromWorkers {
		from = "the control plane and the other workers"
	}
	return fmt.Sprintf("cut worker %s off from %s (iptables in the node)", p.target().describe(), from)
}

func (p *NetworkPartition) target() nodeFaultTarget {
	return nodeFaultTarget{Docker: p.Docker, Client: p.Client, Node: p.Node, Namespace: p.Namespace, Selector: p.Selector}
}

// Validate checks parameters before anything is injected.
func (p *NetworkPartition) Validate() error { return p.target().validate(p.Kind()) }

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// Plan implements Fault: it chooses the node and the peers to cut off.
func (p *NetworkPartition) Plan(ctx context.Context) (Injection, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	node, targets, err := p.target().pick(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := p.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	inj := &partitionInjection{docker: p.Docker, client: p.Client, Node: node, RevertTimeout: p.RevertTimeout,
		Tag: fmt.Sprintf("chaosgate-partition-%08x", rand.Uint32())}
	for _, n := range nodes.Items {
		if n.Name == node {
			continue
		}
		if _, cp := n.Labels[controlPlaneLabel]; !cp && !p.FromWorkers {
			continue
		}
		// every address the node reaches the peer by: kind networks are
		// dual-stack, and the kubelet may talk to the API server over IPv6
		addrs := p.resolve(ctx, node, n.Name)
		if ip := internalIP(&n); ip != "" {
			addrs = append(addrs, ip)
		}
		for _, a := range addrs {
			if !slices.Contains(inj.Peers, a) {
				inj.Peers = append(inj.Peers, a)
			}
		}
	}
	if len(inj.Peers) == 0 {
		return nil, &NoTargetError{Reason: "no control-plane address to cut " + node + " off from"}
	}
	inj.targets = targets
	return inj, nil
}

// resolve returns the addresses node resolves peer's name to (IPv4 and
// IPv6), or nothing when it cannot tell.
func (p *NetworkPartition) resolve(ctx context.Context, node, peer string) []string {
	out, err := p.Docker.Exec(ctx, node, "getent", "ahosts", peer)
	if err != nil {
		return nil
	}
	var addrs []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if ip := net.ParseIP(f[0]); ip != nil && !ip.IsLoopback() && !slices.Contains(addrs, ip.String()) {
			addrs = append(addrs, ip.String())
		}
	}
	return addrs
}

type partitionInjection struct {
	docker        Docker
	client        kubernetes.Interface
	targets       []Target
	Node          string        `json:"node"`
	Peers         []string      `json:"peers"`
	Tag           string        `json:"tag"`
	RevertTimeout time.Duration `json:"revertTimeout,omitempty"`
}

func (i *partitionInjection) Targets() []Target               { return i.targets }
func (i *partitionInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

// rule is one rule the partition adds: the command (iptables or
// ip6tables, by the peer's address family) and the rule without -I/-D.
type rule struct {
	cmd  string
	spec []string
}

func (i *partitionInjection) rules() []rule {
	var out []rule
	for _, peer := range i.Peers {
		cmd := "iptables"
		if ip := net.ParseIP(peer); ip != nil && ip.To4() == nil {
			cmd = "ip6tables"
		}
		tag := []string{"-m", "comment", "--comment", i.Tag, "-j", "DROP"}
		out = append(out,
			rule{cmd, append([]string{"INPUT", "-s", peer}, tag...)},
			rule{cmd, append([]string{"OUTPUT", "-d", peer}, tag...)})
	}
	return out
}

func (i *partitionInjection) Apply(ctx context.Context) error {
	for _, r := range i.rules() {
		if _, err := i.docker.Exec(ctx, i.Node, append([]string{r.cmd, "-w", "-I"}, r.spec...)...); err != nil {
			return err
		}
	}
	return nil
}

// Verify waits until the Node is NotReady.
func (i *partitionInjection) Verify(ctx context.Context) error {
	return waitNodeReady(ctx, i.client, i.Node, false)
}

// ours lists the rules in the node that carry the tag, by command.
func (i *partitionInjection) ours(ctx context.Context) (map[string][]string, int, error) {
	found, n := map[string][]string{}, 0
	cmds := map[string]bool{}
	for _, r := range i.rules() {
		cmds[r.cmd] = true
	}
	for _, cmd := range []string{"iptables", "ip6tables"} {
		if !cmds[cmd] {
			continue // a host without IPv6 may have no ip6tables
		}
		out, err := i.docker.Exec(ctx, i.Node, cmd, "-w", "-S")
		if err != nil {
			return nil, 0, err
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, i.Tag) {
				found[cmd] = append(found[cmd], l)
				n++
			}
		}
	}
	return found, n, nil
}

// Revert deletes the tagged rules, until none is left, and waits until the
// Node is Ready again.
func (i *partitionInjection) Revert(ctx context.Context) error {
	return revertUntilBack(ctx, i.client, i.Node, i.RevertTimeout, "partition of "+i.Node+" not undone", i.removeRules)
}

func (i *partitionInjection) removeRules(ctx context.Context) error {
	left, _, err := i.ours(ctx)
	if err != nil {
		return err
	}
	for cmd, rules := range left {
		for _, l := range rules {
			// "-A INPUT -s 172.18.0.3/32 -m comment ..." -> "-D INPUT ..."
			args := strings.Fields(strings.Replace(l, "-A ", "-D ", 1))
			if _, err := i.docker.Exec(ctx, i.Node, append([]string{cmd, "-w"}, args...)...); err != nil {
				return err
			}
		}
	}
	if _, n, err := i.ours(ctx); err != nil || n > 0 {
		if err != nil {
			return err
		}
		return fmt.Errorf("%d rule(s) tagged %s still in %s", n, i.Tag, i.Node)
	}
	return nil
}

// RevertNetworkPartition returns the journal reverter for partitions.
func RevertNetworkPartition(d Docker, cs kubernetes.Interface) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj partitionInjection
		if err := json.Unmarshal(e.State, &inj); err != nil || inj.Node == "" || inj.Tag == "" {
			return fmt.Errorf("decode state %s: %v", e.State, err)
		}
		inj.docker, inj.client = d, cs
		return inj.Revert(ctx)
	}
}
