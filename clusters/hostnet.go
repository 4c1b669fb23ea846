package clusters

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// EnsureBlackholes installs routes on this machine that keep the cluster's
// pod and Service ranges from leaving it. kind nodes send packets for
// unknown destinations to the Docker bridge gateway, i.e. to this machine;
// a packet for a ClusterIP that kube-proxy has not programmed yet would
// otherwise leave through this machine's default route and be answered by
// whatever lies outside.
//
// The routes are of type unreachable, not blackhole: a blackhole drops a
// node's packet in silence, so its connect hangs until the client's own
// timeout (30s for client-go: CoreDNS and metrics-server, started just
// before kube-proxy's rules, stalled that long in every cluster up), while
// unreachable answers with an ICMP error and the connect fails at once.
// Either keeps the traffic here; an existing blackhole is replaced.
func EnsureBlackholes(ctx context.Context, prefixes ...netip.Prefix) error {
	existing, err := localRoutes(ctx)
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		p = p.Masked()
		if existing[p] == "unreachable" {
			continue
		}
		if os.Geteuid() != 0 {
			if existing[p] != "" {
				// contained, only slower to fail
				slog.Warn("cluster range has a "+existing[p]+" route: pods' connections to it hang instead of failing at once",
					"prefix", p.String(), "fix", "sudo ip route replace unreachable "+p.String())
				continue
			}
			return fmt.Errorf("route for %s is missing and adding it needs root: run `sudo ip route add unreachable %s` (it keeps cluster traffic from leaving this machine)", p, p)
		}
		if out, err := exec.CommandContext(ctx, "ip", "route", "replace", "unreachable", p.String()).CombinedOutput(); err != nil {
			return fmt.Errorf("add unreachable route %s: %w: %s", p, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Blackholed reports which of prefixes have a route here that keeps their
// traffic on this machine (unreachable, blackhole or prohibit).
func Blackholed(ctx context.Context, prefixes ...netip.Prefix) (map[netip.Prefix]bool, error) {
	existing, err := localRoutes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Prefix]bool, len(prefixes))
	for _, p := range prefixes {
		out[p] = existing[p.Masked()] != ""
	}
	return out, nil
}

// localRoutes maps each prefix with a route that ends on this machine to
// the route's type.
func localRoutes(ctx context.Context) (map[netip.Prefix]string, error) {
	m := map[netip.Prefix]string{}
	for _, typ := range []string{"unreachable", "blackhole", "prohibit"} {
		out, err := exec.CommandContext(ctx, "ip", "route", "show", "type", typ).Output()
		if err != nil {
			return nil, fmt.Errorf("list %s routes (is iproute2 installed?): %w", typ, err)
		}
		for p := range parseRoutes(string(out)) {
			if m[p] == "" {
				m[p] = typ
			}
		}
	}
	return m, nil
}

// parseRoutes reads `ip route show type T` output, whose lines look like
// "unreachable 10.96.0.0/12" (the type word may be omitted by some iproute2
// versions when filtering by type).
func parseRoutes(out string) map[netip.Prefix]bool {
	m := map[netip.Prefix]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if (dst == "blackhole" || dst == "unreachable" || dst == "prohibit") && len(f) > 1 {
			dst = f[1]
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			m[p.Masked()] = true
		} else if a, err := netip.ParseAddr(dst); err == nil {
			m[netip.PrefixFrom(a, a.BitLen())] = true
		}
	}
	return m
}
