package faults

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// CheckTarget refuses clusters that are not kind clusters unless the
// caller names the kubeconfig context explicitly in allowContext. A kind
// cluster is one whose every node has a "kind://" provider ID.
func CheckTarget(ctx context.Context, client kubernetes.Interface, contextName, allowContext string) error {
	if allowContext != "" && allowContext == contextName {
		return nil
	}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("check target cluster: %w", err)
	}
	if len(nodes.Items) == 0 {
		return fmt.Errorf("context %q: cluster has no nodes", contextName)
	}
	for _, n := range nodes.Items {
		if !strings.HasPrefix(n.Spec.ProviderID, "kind://") {
			return &NotKindError{Context: contextName, Node: n.Name, ProviderID: n.Spec.ProviderID}
		}
	}
	return nil
}

// NotKindError refuses a cluster that is not a kind cluster.
type NotKindError struct{ Context, Node, ProviderID string }

func (e *NotKindError) Error() string {
	return fmt.Sprintf("context %q is not a kind cluster (node %s has provider ID %q); refusing to inject faults. Pass --allow-context %s to inject into it anyway",
		e.Context, e.Node, e.ProviderID, e.Context)
}
