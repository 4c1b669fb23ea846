package podnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// routeProto marks the routes podnet owns (`ip route ... proto 222`), so it
// lists and deletes only its own routes and never the node's others.
const routeProto = "222"

// masqChain holds podnet's masquerade rule in the nat table.
const masqChain = "CHAOSGATE-PODNET"

// NetOps is what podnet changes on the node. The real one runs ip and
// iptables; tests use a fake.
type NetOps interface {
	Routes(ctx context.Context) ([]Route, error)
	ReplaceRoute(ctx context.Context, r Route) error
	DeleteRoute(ctx context.Context, r Route) error
	// EnsureMasquerade makes traffic from podSubnet to anything outside it
	// leave with the node's address.
	EnsureMasquerade(ctx context.Context, podSubnet netip.Prefix) error
}

// Exec is NetOps through the ip and iptables commands.
type Exec struct{}

func run(ctx context.Context, name string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Routes lists the IPv4 routes podnet owns.
func (Exec) Routes(ctx context.Context) ([]Route, error) {
	out, err := run(ctx, "ip", "-j", "-4", "route", "show", "proto", routeProto)
	if err != nil {
		return nil, err
	}
	return parseIPRouteJSON([]byte(out))
}

func parseIPRouteJSON(data []byte) ([]Route, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	var entries []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("decode ip route output: %w", err)
	}
	var out []Route
	for _, e := range entries {
		dst, err := netip.ParsePrefix(e.Dst)
		if err != nil {
			// a host route prints without a prefix length
			a, aerr := netip.ParseAddr(e.Dst)
			if aerr != nil {
				continue
			}
			dst = netip.PrefixFrom(a, a.BitLen())
		}
		via, err := netip.ParseAddr(e.Gateway)
		if err != nil {
			continue
		}
		out = append(out, Route{Dst: dst, Via: via})
	}
	return out, nil
}

// ReplaceRoute adds or updates a route.
func (Exec) ReplaceRoute(ctx context.Context, r Route) error {
	_, err := run(ctx, "ip", "route", "replace", r.Dst.String(), "via", r.Via.String(), "proto", routeProto)
	return err
}

// DeleteRoute removes a route podnet added.
func (Exec) DeleteRoute(ctx context.Context, r Route) error {
	_, err := run(ctx, "ip", "route", "del", r.Dst.String(), "proto", routeProto)
	return err
}

// EnsureMasquerade installs, idempotently:
//
//	-t nat -A POSTROUTING -j CHAOSGATE-PODNET
//	-t nat -A CHAOSGATE-PODNET -s POD_SUBNET ! -d POD_SUBNET -j MASQUERADE
func (Exec) EnsureMasquerade(ctx context.Context, podSubnet netip.Prefix) error {
	for _, rule := range masqueradeRules(podSubnet) {
		if rule.chainOnly {
			// -N fails when the chain exists, which is fine
			_, _ = run(ctx, "iptables", "-w", "5", "-t", "nat", "-N", rule.chain)
			continue
		}
		check := append([]string{"-w", "5", "-t", "nat", "-C", rule.chain}, rule.spec...)
		if _, err := run(ctx, "iptables", check...); err == nil {
			continue
		}
		add := append([]string{"-w", "5", "-t", "nat", "-A", rule.chain}, rule.spec...)
		if _, err := run(ctx, "iptables", add...); err != nil {
			return err
		}
	}
	return nil
}

type iptRule struct {
	chain     string
	chainOnly bool
	spec      []string
}

func masqueradeRules(podSubnet netip.Prefix) []iptRule {
	s := podSubnet.Masked().String()
	return []iptRule{
		{chain: masqChain, chainOnly: true},
		{chain: "POSTROUTING", spec: []string{"-m", "comment", "--comment", "chaosgate podnet masquerade", "-j", masqChain}},
		{chain: masqChain, spec: []string{"-s", s, "!", "-d", s, "-j", "MASQUERADE"}},
	}
}
