package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/clusters/nodeimage"
	"github.com/chaosgate/chaosgate/faults"
)

const clusterUsage = `usage:
  chaosgate cluster up [--name N] [--workers 3] [--image IMG] [--ports 30080-30099] [--offline]
  chaosgate cluster down [--name N]
  chaosgate cluster status [--name N] [--json]`

// clusterFlags are the flags shared by commands that create or reuse a
// cluster (cluster up, run).
type clusterFlags struct {
	name, image, ports, kubeconfig, logs, cache string
	podSubnet, serviceSubnet                    string
	workers                                     int
	offline                                     bool
	timeout, nodeGrace                          time.Duration
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", clusters.DefaultName, "kind cluster name")
	fs.IntVar(&f.workers, "workers", clusters.DefaultWorkers, "number of worker nodes")
	fs.StringVar(&f.image, "image", "", "node image (default: kindest/node "+nodeimage.KubernetesVersion+" if available, else built offline)")
	fs.StringVar(&f.ports, "ports", fmt.Sprintf("%d-%d", clusters.DefaultFirstPort, clusters.DefaultLastPort), "NodePort range mapped to 127.0.0.1, reserved for suites")
	fs.StringVar(&f.podSubnet, "pod-subnet", clusters.DefaultPodSubnet, "pod CIDR")
	fs.StringVar(&f.serviceSubnet, "service-subnet", clusters.DefaultServiceSubnet, "Service CIDR")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file to write the context to (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&f.logs, "logs-dir", "chaosgate-logs", "folder for node logs when cluster creation fails")
	fs.StringVar(&f.cache, "cache", nodeimage.DefaultCacheDir(), "node image build cache")
	fs.BoolVar(&f.offline, "offline", false, "build the node image offline even if kindest/node can be pulled")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "how long to wait for nodes and add-ons")
	fs.DurationVar(&f.nodeGrace, "node-grace-period", clusters.DefaultNodeGracePeriod, "how long the control plane waits for a node's heartbeat before marking it NotReady (Kubernetes' default is 50s; 0 keeps it)")
}

func (f *clusterFlags) options(progress io.Writer) (clusters.UpOptions, error) {
	ports, err := clusters.ParsePortRange(f.ports)
	if err != nil {
		return clusters.UpOptions{}, usagef("--ports: %v", err)
	}
	pod, err := netip.ParsePrefix(f.podSubnet)
	if err != nil {
		return clusters.UpOptions{}, usagef("--pod-subnet: %v", err)
	}
	svc, err := netip.ParsePrefix(f.serviceSubnet)
	if err != nil {
		return clusters.UpOptions{}, usagef("--service-subnet: %v", err)
	}
	if f.workers < 1 {
		return clusters.UpOptions{}, usagef("--workers %d: must be at least 1", f.workers)
	}
	if f.timeout <= 0 {
		return clusters.UpOptions{}, usagef("--timeout must be positive")
	}
	o := clusters.UpOptions{
		Config: clusters.Config{
			Name: f.name, Workers: f.workers, Image: f.image, Ports: ports,
			PodSubnet: pod, ServiceSubnet: svc, NodeGracePeriod: f.nodeGrace,
		},
		KubeconfigPath: f.kubeconfig,
		Timeout:        f.timeout,
		LogsDir:        f.logs,
		ImageOptions:   nodeimage.Options{Offline: f.offline, CacheDir: f.cache, Progress: progress},
		Progress:       progress,
	}
	if err := o.Config.WithDefaults().Validate(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("%s", clusterUsage)
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "up":
		var cf clusterFlags
		cf.register(fs)
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err}
		}
		if fs.NArg() > 0 {
			return usagef("cluster up: unexpected arguments %v", fs.Args())
		}
		o, err := cf.options(stderr)
		if err != nil {
			return err
		}
		c, err := clusters.Up(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cluster %s ready\ncontext: %s\nkubeconfig: %s\nnodeports: 127.0.0.1:%s\n", c.Name, c.Context, c.Kubeconfig, c.Ports)
		return nil
	case "down":
		name := fs.String("name", clusters.DefaultName, "kind cluster name")
		kubeconfig := fs.String("kubeconfig", "", "kubeconfig file holding the context")
		journal := fs.String("journal", faults.DefaultJournalDir(), "fault journal whose entries for this cluster are cleared")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err}
		}
		if err := clusters.Down(ctx, *name, *kubeconfig, stderr); err != nil {
			return err
		}
		// faults journaled for the cluster died with it: clear them, or
		// they would block the name for ever
		dropped, err := faults.Journal{Dir: *journal}.Discard(func(e faults.Entry) bool { return e.Cluster == *name })
		for _, e := range dropped {
			fmt.Fprintf(stdout, "cleared journal entry %s: %s (the cluster is gone)\n", e.ID, e.Description)
		}
		return err
	case "status":
		name := fs.String("name", clusters.DefaultName, "kind cluster name")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return usageError{err}
		}
		st, err := clusters.GetStatus(ctx, *name)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return err
			}
		} else {
			printStatus(stdout, st)
		}
		if !st.Healthy() {
			return fmt.Errorf("cluster %s is not healthy: %s", st.Name, st.HealthProblem)
		}
		return nil
	default:
		return usagef("unknown cluster command %q\n%s", args[0], clusterUsage)
	}
}

func printStatus(w io.Writer, st clusters.Status) {
	fmt.Fprintf(w, "cluster %s: exists=%v context=%s\n", st.Name, st.Exists, st.Context)
	for _, n := range st.Nodes {
		ready := "NotReady"
		if n.Ready {
			ready = "Ready"
		}
		fmt.Fprintf(w, "  %-28s %-14s %-15s %s\n", n.Name, n.Role, n.InternalIP, ready)
	}
	if st.Exists {
		fmt.Fprintf(w, "  pod network ready: %v; CoreDNS ready: %v; metrics API nodes: %d\n", st.CNIReady, st.CoreDNSReady, st.MetricsNodes)
	}
	var prefixes []string
	for p := range st.Blackholed {
		prefixes = append(prefixes, p)
	}
	sort.Strings(prefixes)
	for _, p := range prefixes {
		fmt.Fprintf(w, "  %s kept on this machine by a local route: %v\n", p, st.Blackholed[p])
	}
	if st.Healthy() {
		fmt.Fprintln(w, "  healthy")
	} else {
		fmt.Fprintf(w, "  problems: %s\n", st.HealthProblem)
	}
}
