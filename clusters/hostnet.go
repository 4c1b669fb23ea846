package clusters

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// EnsureBlackholes installs blackhole routes on this machine for the
// cluster's pod and Service ranges. kind nodes send packets for unknown
// destinations to the Docker bridge gateway, i.e. to this machine; a packet
// for a ClusterIP that kube-proxy has not programmed yet would otherwise
// leave through this machine's default route and be answered by whatever
// lies outside. With the blackholes such packets fail at once, locally.
func EnsureBlackholes(ctx context.Context, prefixes ...netip.Prefix) error {
	existing, err := blackholes(ctx)
	if err != nil {
		return err
	}
	for _, p := range prefixes {
		p = p.Masked()
		if existing[p] {
			continue
		}
		if os.Geteuid() != 0 {
			return fmt.Errorf("blackhole route for %s is missing and adding it needs root: run `sudo ip route add blackhole %s` (it keeps cluster traffic from leaving this machine)", p, p)
		}
		if out, err := exec.CommandContext(ctx, "ip", "route", "replace", "blackhole", p.String()).CombinedOutput(); err != nil {
			return fmt.Errorf("add blackhole route %s: %w: %s", p, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Blackholed reports which of prefixes have a blackhole route here.
func Blackholed(ctx context.Context, prefixes ...netip.Prefix) (map[netip.Prefix]bool, error) {
	existing, err := blackholes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[netip.Prefix]bool, len(prefixes))
	for _, p := range prefixes {
		out[p] = existing[p.Masked()]
	}
	return out, nil
}

func blackholes(ctx context.Context) (map[netip.Prefix]bool, error) {
	out, err := exec.CommandContext(ctx, "ip", "route", "show", "type", "blackhole").Output()
	if err != nil {
		return nil, fmt.Errorf("list blackhole routes (is iproute2 installed?): %w", err)
	}
	return parseBlackholes(string(out)), nil
}

// parseBlackholes reads `ip route show type blackhole` output, whose lines
// look like "blackhole 10.96.0.0/12" (the type word may be omitted by some
// iproute2 versions when filtering by type).
func parseBlackholes(out string) map[netip.Prefix]bool {
	m := map[netip.Prefix]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "blackhole" && len(f) > 1 {
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
