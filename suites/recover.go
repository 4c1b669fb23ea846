package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
)

// RecoverOptions say which journaled faults to revert.
type RecoverOptions struct {
	Journal faults.Journal
	// Cluster limits recovery to one kind cluster's faults; All takes
	// every cluster's.
	Cluster string
	All     bool
	// Kubeconfig is where the clusters' contexts are (default kind's).
	Kubeconfig string
	Out        io.Writer
}

// Recover reverts the faults a crashed run left in the journal, cluster by
// cluster: each cluster is reached through its own context, so one run's
// recovery never touches another cluster's faults. The faults of a cluster
// that no longer exists are discarded (and listed): there is nothing left to
// revert. It returns how many faults were reverted or discarded, and an
// error naming those that stay journaled.
func Recover(ctx context.Context, o RecoverOptions) (int, error) {
	entries, listErr := o.Journal.Entries()
	byCluster := map[string]bool{}
	for _, e := range entries {
		if o.All || e.Cluster == o.Cluster {
			byCluster[e.Cluster] = true
		}
	}
	names := make([]string, 0, len(byCluster))
	for n := range byCluster {
		names = append(names, n)
	}
	sort.Strings(names)
	errs := []error{listErr}
	n := 0
	for _, name := range names {
		done, err := recoverCluster(ctx, o, name)
		n += done
		errs = append(errs, err)
	}
	if n == 0 && errors.Join(errs...) == nil {
		scope := "cluster " + o.Cluster
		if o.All {
			scope = "any cluster"
		}
		fmt.Fprintf(o.Out, "No active faults of %s in %s\n", scope, o.Journal.Dir)
	}
	return n, errors.Join(errs...)
}

func recoverCluster(ctx context.Context, o RecoverOptions, name string) (int, error) {
	ofCluster := func(e faults.Entry) bool { return e.Cluster == name }
	exists, err := clusters.Exists(name)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: %w", name, err)
	}
	if !exists {
		dropped, err := o.Journal.Discard(ofCluster)
		for _, e := range dropped {
			fmt.Fprintf(o.Out, "discarded %s: %s (cluster %s no longer exists)\n", e.ID, e.Description, name)
		}
		return len(dropped), err
	}
	c, err := clusters.Connect(name, o.Kubeconfig)
	if err != nil {
		return 0, fmt.Errorf("cluster %s: %w", name, err)
	}
	done, err := o.Journal.Recover(ctx, faults.Reverters(faults.DockerCLI{}, c.Client), ofCluster)
	for _, d := range done {
		verb := "reverted"
		if d.Discarded {
			verb = "discarded"
		}
		fmt.Fprintf(o.Out, "%s %s: %s (%v)", verb, d.Entry.ID, d.Entry.Description, d.Entry.Targets)
		if d.Reason != "" {
			fmt.Fprintf(o.Out, ": %s", d.Reason)
		}
		fmt.Fprintln(o.Out)
	}
	if err != nil {
		return len(done), fmt.Errorf("cluster %s: some faults could not be reverted and stay journaled in %s: %w", name, o.Journal.Dir, err)
	}
	return len(done), nil
}
