package faults

import (
	"context"

	"k8s.io/client-go/kubernetes"
)

// Reverters returns the reverter of every fault kind, for recovery from the
// journal. Faults the cluster heals (pod and container kills) have nothing
// to undo; node faults need Docker (kind nodes are containers) and the
// cluster's API to check the node is back.
func Reverters(d Docker, cs kubernetes.Interface) map[string]Reverter {
	node := RevertNodeShutdown(d, cs)
	return map[string]Reverter{
		"pod-kill":          RevertPodKill,
		"container-kill":    func(context.Context, Entry) error { return nil },
		"node-shutdown":     node,
		"node-stop":         node, // journals of earlier versions
		"kubelet-stop":      RevertKubeletStop(d, cs),
		"network-partition": RevertNetworkPartition(d, cs),
		"drain":             RevertDrain(cs),
		"rollout":           RevertRollout(cs),
		"bad-release":       RevertRollout(cs),
		"config-change":     func(context.Context, Entry) error { return nil },
	}
}

// NeedsDocker reports whether a fault kind works on kind nodes through
// Docker, and so only on kind clusters.
func NeedsDocker(kind string) bool {
	switch kind {
	case "container-kill", "node-shutdown", "node-stop", "kubelet-stop", "network-partition":
		return true
	}
	return false
}
