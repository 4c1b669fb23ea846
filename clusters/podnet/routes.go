// Package podnet is chaosgate's minimal pod network for kind clusters that
// cannot run kindnetd (no image registry). On every node it writes the CNI
// configuration for the node's podCIDR (ptp + host-local + portmap), keeps a
// route to every other node's podCIDR via that node's address, and
// masquerades pod traffic that leaves the pod network. It follows node
// changes (a node stopped and started again may come back with another
// address) through an informer plus a periodic resync, because routes are
// lost whenever a node container restarts.
package podnet

import (
	"fmt"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// Route is a route to another node's pod range.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Via.String() }

// DesiredRoutes computes the routes node self needs: for every other node
// with a podCIDR and an InternalIP of the same family, its podCIDR via that
// IP. Nodes with incomplete data are skipped (they will be seen again when
// the controller manager or kubelet fill it in).
func DesiredRoutes(nodes []corev1.Node, self string) []Route {
	var out []Route
	for i := range nodes {
		n := &nodes[i]
		if n.Name == self {
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			dst, err := netip.ParsePrefix(c)
			if err != nil {
				continue
			}
			if via, ok := internalIP(n, dst.Addr().Is4()); ok {
				out = append(out, Route{Dst: dst.Masked(), Via: via})
			}
		}
	}
	sortRoutes(out)
	return out
}

// OwnPodCIDR returns the first podCIDR of node self.
func OwnPodCIDR(nodes []corev1.Node, self string) (netip.Prefix, error) {
	for i := range nodes {
		if nodes[i].Name != self {
			continue
		}
		c := nodes[i].Spec.PodCIDR
		if c == "" && len(nodes[i].Spec.PodCIDRs) > 0 {
			c = nodes[i].Spec.PodCIDRs[0]
		}
		if c == "" {
			return netip.Prefix{}, fmt.Errorf("node %s has no podCIDR yet", self)
		}
		return netip.ParsePrefix(c)
	}
	return netip.Prefix{}, fmt.Errorf("node %s not found", self)
}

func internalIP(n *corev1.Node, v4 bool) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		ip, err := netip.ParseAddr(a.Address)
		if err == nil && ip.Is4() == v4 {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// DiffRoutes returns the routes to add or replace (missing, or present with
// another gateway) and the ones to delete (no longer wanted).
func DiffRoutes(current, desired []Route) (replace, remove []Route) {
	cur := make(map[netip.Prefix]netip.Addr, len(current))
	for _, r := range current {
		cur[r.Dst] = r.Via
	}
	want := make(map[netip.Prefix]bool, len(desired))
	for _, r := range desired {
		want[r.Dst] = true
		if via, ok := cur[r.Dst]; !ok || via != r.Via {
			replace = append(replace, r)
		}
	}
	for _, r := range current {
		if !want[r.Dst] {
			remove = append(remove, r)
		}
	}
	sortRoutes(replace)
	sortRoutes(remove)
	return replace, remove
}

func sortRoutes(rs []Route) {
	sort.Slice(rs, func(i, j int) bool {
		if c := rs[i].Dst.Addr().Compare(rs[j].Dst.Addr()); c != 0 {
			return c < 0
		}
		return rs[i].Dst.Bits() < rs[j].Dst.Bits()
	})
}

// CNIConfig is the CNI network configuration for a node's pod range: ptp
// veths with host-local addresses, a default route through the node, and
// portmap for hostPort.
func CNIConfig(podCIDR netip.Prefix, mtu int) string {
	return fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "podnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": %d,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{"dst": "%s"}],
        "ranges": [[{"subnet": "%s"}]]
      }
    },
    {
      "type": "portmap",
      "capabilities": {"portMappings": true}
    }
  ]
}
`, mtu, defaultRoute(podCIDR), podCIDR.Masked())
}

func defaultRoute(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "0.0.0.0/0"
	}
	return "::/0"
}
