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
	// Cluster limits recovery to one kind cluster's faults; Context to the
	// faults injected through one kubeconfig context (clusters that are not
	// kind clusters are only known by it); All takes every entry.
	Cluster string
	Context string
	All     bool
	// Kubeconfig is where the clusters' contexts are (default kind's).
	Kubeconfig string
	Out        io.Writer
}

// scope is where journaled faults live: a kind cluster by name, or
// another cluster by the context that reached it.
type scope struct{ cluster, context string }

func (s scope) String() string {
	if s.cluster != "" {
		return "cluster " + s.cluster
	}
	return "context " + s.context
}

func scopeOf(e faults.Entry) scope {
	if e.Cluster != "" {
		return scope{cluster: e.Cluster}
	}
	return scope{context: e.Context}
}

// Recover reverts the faults a crashed run left in the journal, cluster by
// cluster: each cluster is reached through its own context, so one run's
// recovery never touches another cluster's faults. The faults of a kind
// cluster that no longer exists are discarded (and listed): there is
// nothing left to revert. Faults of other clusters are never discarded:
// when their context cannot reach them they stay journaled. It returns how
// many faults were reverted or discarded, and an error naming those that
// stay journaled.
func Recover(ctx context.Context, o RecoverOptions) (int, error) {
	entries, listErr := o.Journal.Entries()
	scopes := map[scope]bool{}
	for _, e := range entries {
		switch {
		case o.All, o.Context != "" && e.Context == o.Context, o.Context == "" && e.Cluster != "" && e.Cluster == o.Cluster:
			scopes[scopeOf(e)] = true
		}
	}
	list := make([]scope, 0, len(scopes))
	for s := range scopes {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	errs := []error{listErr}
	n := 0
	for _, sc := range list {
		done, err := recoverScope(ctx, o, sc, entries)
		n += done
		errs = append(errs, err)
	}
	if n == 0 && errors.Join(errs...) == nil {
		what := "cluster " + o.Cluster
		switch {
		case o.All:
			what = "any cluster"
		case o.Context != "":
			what = "context " + o.Context
		}
		fmt.Fprintf(o.Out, "No active faults of %s in %s\n", what, o.Journal.Dir)
	}
	return n, errors.Join(errs...)
}

// recoverScope reverts the journaled faults of one scope; entries is the
// journal as Recover read it.
func recoverScope(ctx context.Context, o RecoverOptions, sc scope, entries []faults.Entry) (int, error) {
	of := func(e faults.Entry) bool { return scopeOf(e) == sc }
	var c *clusters.Cluster
	switch {
	case sc.cluster != "":
		exists, err := clusters.Exists(sc.cluster)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", sc, err)
		}
		if !exists {
			dropped, err := o.Journal.Discard(of)
			for _, e := range dropped {
				fmt.Fprintf(o.Out, "discarded %s: %s (%s no longer exists)\n", e.ID, e.Description, sc)
			}
			return len(dropped), err
		}
		if c, err = clusters.Connect(sc.cluster, o.Kubeconfig); err != nil {
			return 0, fmt.Errorf("%s: %w", sc, err)
		}
	case sc.context == "":
		return 0, errors.New("journal entries with neither a cluster nor a context (written by an older chaosgate) stay journaled: revert them by hand from their description, then delete their files")
	default:
		var err error
		if c, err = clusters.ConnectContext(o.Kubeconfig, sc.context); err != nil {
			return 0, fmt.Errorf("%s: %w (its faults stay journaled)", sc, err)
		}
		// context names repeat across kubeconfigs: revert only on the API
		// server the faults went to
		for _, e := range entries {
			if of(e) && e.Server != "" && e.Server != c.REST.Host {
				return 0, fmt.Errorf("%s now reaches %s, but fault %s was injected through %s: nothing reverted, its faults stay journaled (use the kubeconfig it was run with)",
					sc, c.REST.Host, e.ID, e.Server)
			}
		}
	}
	done, err := o.Journal.Recover(ctx, faults.Reverters(faults.DockerCLI{}, c.Client), of)
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
		return len(done), fmt.Errorf("%s: some faults could not be reverted and stay journaled in %s: %w", sc, o.Journal.Dir, err)
	}
	return len(done), nil
}
