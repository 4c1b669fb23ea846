package clusters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindlog "sigs.k8s.io/kind/pkg/log"

	"github.com/chaosgate/chaosgate/clusters/capfilter"
	"github.com/chaosgate/chaosgate/clusters/nodeimage"
)

// Cluster is a running kind cluster.
type Cluster struct {
	Name string
	// Context is the kubeconfig context kind wrote ("kind-NAME").
	Context string
	// Kubeconfig is the file holding that context.
	Kubeconfig string
	REST       *rest.Config
	Client     kubernetes.Interface
	Ports      PortRange
	// Reused is true when Up found the cluster healthy and kept it.
	Reused bool
}

// UpOptions configure Up beyond the cluster shape.
type UpOptions struct {
	Config
	// KubeconfigPath receives the context; default kind's ($KUBECONFIG or
	// ~/.kube/config).
	KubeconfigPath string
	// Timeout bounds the wait for nodes and add-ons.
	Timeout time.Duration
	// LogsDir receives node logs when creation fails; default ./chaosgate-logs.
	LogsDir string
	// ImageOptions are used when Image is empty and a node image must be
	// found or built.
	ImageOptions nodeimage.Options
	Progress     io.Writer
}

func provider(progress io.Writer) *cluster.Provider {
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(&kindLogger{w: progress}))
}

// Up creates the cluster, or reuses it when one of that name is healthy,
// and waits until every node is Ready and networking and metrics-server
// work.
func Up(ctx context.Context, o UpOptions) (*Cluster, error) {
	o.Config = o.Config.WithDefaults()
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.LogsDir == "" {
		o.LogsDir = "chaosgate-logs"
	}
	caps, err := capfilter.BoundingSet()
	if err != nil {
		return nil, err
	}
	o.HostCaps = caps
	if err := o.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	p := provider(o.Progress)

	if err := EnsureBlackholes(ctx, o.PodSubnet, o.ServiceSubnet); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Progress, " ✓ unreachable routes for %s and %s on this machine (cluster traffic stays here)\n", o.PodSubnet, o.ServiceSubnet)

	existing, err := p.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters (is Docker running? clusters/scripts/ensure-docker.sh starts it): %w", err)
	}
	if contains(existing, o.Name) {
		c, err := reuse(ctx, p, o)
		var mismatch *ReuseMismatchError
		if errors.As(err, &mismatch) {
			return nil, err
		}
		if err != nil {
			return nil, fmt.Errorf("cluster %q exists but is not healthy: %w; delete it with `chaosgate cluster down --name %s`", o.Name, err, o.Name)
		}
		fmt.Fprintf(o.Progress, "Reusing healthy cluster %q (context %s)\n", o.Name, c.Context)
		return c, nil
	}

	if o.Image == "" {
		io := o.ImageOptions
		if io.Progress == nil {
			io.Progress = o.Progress
		}
		res, err := nodeimage.Ensure(ctx, io)
		if err != nil {
			return nil, fmt.Errorf("node image: %w", err)
		}
		o.Image = res.Image
	}

	if o.APIServerPort == 0 {
		published, err := dockerOutput(ctx, "ps", "--format", "{{.Ports}}")
		if err != nil {
			return nil, err
		}
		taken := publishedHostPorts(published)
		if o.APIServerPort, err = freeAPIServerPort(o.Name, func(p int) bool { return taken[p] }); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(o.Progress, "Creating cluster %q: 1 control plane + %d workers, image %s, API server on 127.0.0.1:%d\n", o.Name, o.Workers, o.Image, o.APIServerPort)
	kcfg := KindConfig(o.Config)
	createErr := make(chan error, 1)
	go func() {
		// kind's Create takes no context; on cancellation we stop waiting
		// and delete what it made.
		createErr <- p.Create(o.Name,
			cluster.CreateWithV1Alpha4Config(kcfg),
			cluster.CreateWithKubeconfigPath(o.KubeconfigPath),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false),
			cluster.CreateWithRetain(true),
		)
	}()
	select {
	case err = <-createErr:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return nil, failCreate(p, o, fmt.Errorf("kind create: %w", err))
	}
	c, err := connect(p, o)
	if err != nil {
		return nil, failCreate(p, o, err)
	}
	if err := installAddons(ctx, p, c, o); err != nil {
		return nil, failCreate(p, o, err)
	}
	if err := WaitHealthy(ctx, c, o.Workers+1, o.Timeout, o.Progress); err != nil {
		return nil, failCreate(p, o, err)
	}
	fmt.Fprintf(o.Progress, "Cluster %q ready in %s; kubeconfig context %s\n", o.Name, time.Since(start).Round(time.Second), c.Context)
	return c, nil
}

// failCreate exports node logs, deletes the broken cluster, and returns an
// error naming the logs folder.
func failCreate(p *cluster.Provider, o UpOptions, cause error) error {
	dir, _ := filepath.Abs(filepath.Join(o.LogsDir, fmt.Sprintf("%s-%s", o.Name, time.Now().Format("20060102-150405"))))
	logErr := p.CollectLogs(o.Name, dir)
	_ = p.Delete(o.Name, o.KubeconfigPath)
	return fmt.Errorf("%w (%s)", cause, exportedLogs(dir, logErr))
}

// exportedLogs says where the node logs went. kind collects them part by
// part and reports every part that failed; the offline image has no
// crictl, so its image list is always one of them while the journals and
// /var/log are there. A node's journal tells the two cases apart (kind
// writes its own files in the folder either way).
func exportedLogs(dir string, err error) string {
	if err == nil {
		return "node logs exported to " + dir
	}
	if journals, _ := filepath.Glob(filepath.Join(dir, "*", "journal.log")); len(journals) > 0 {
		return fmt.Sprintf("node logs exported to %s, some parts missing: %v", dir, err)
	}
	return fmt.Sprintf("exporting node logs to %s also failed: %v", dir, err)
}

func reuse(ctx context.Context, p *cluster.Provider, o UpOptions) (*Cluster, error) {
	// one `docker ps` for roles and states: kind's node API costs a docker
	// call per node and question, and a reuse check runs before every gate
	ns, err := nodeStates(ctx, o.Name)
	if err != nil {
		return nil, err
	}
	workers := 0
	for _, n := range ns {
		if n.role == "worker" {
			workers++
		}
	}
	if workers != o.Workers {
		return nil, fmt.Errorf("it has %d workers, %d were asked for", workers, o.Workers)
	}
	// node containers stop when the machine restarts; start them again
	for _, n := range ns {
		var err error
		switch n.state {
		case "running":
		case "paused":
			_, err = dockerOutput(ctx, "unpause", n.name)
		default:
			_, err = dockerOutput(ctx, "start", n.name)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := whileLocked(ctx, func() error { return p.ExportKubeConfig(o.Name, o.KubeconfigPath, false) }); err != nil {
		return nil, err
	}
	c, err := connectExported(o)
	if err != nil {
		// another gate may be writing the file right now (kind does not
		// write it atomically): ask the node instead
		if c, err = connect(p, o); err != nil {
			return nil, err
		}
	}
	c.Reused = true
	if err := WaitHealthy(ctx, c, len(ns), o.Timeout, io.Discard); err != nil {
		return nil, err
	}
	return c, checkReuse(ctx, c, o)
}

type nodeState struct {
	name, role, state string
}

// nodeStates lists the cluster's node containers with their kind role and
// whether they run.
func nodeStates(ctx context.Context, cluster string) ([]nodeState, error) {
	out, err := dockerOutput(ctx, "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster="+cluster,
		"--format", `{{.Names}}	{{.Label "io.x-k8s.kind.role"}}	{{.State}}`)
	if err != nil {
		return nil, err
	}
	return parseNodeStates(out), nil
}

func parseNodeStates(out string) []nodeState {
	var ns []nodeState
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		ns = append(ns, nodeState{name: f[0], role: f[1], state: f[2]})
	}
	return ns
}

// connectExported connects through the context kind just exported into
// the kubeconfig file, instead of asking the node for it again.
func connectExported(o UpOptions) (*Cluster, error) {
	c, err := ConnectContext(o.KubeconfigPath, "kind-"+o.Name)
	if err != nil {
		return nil, err
	}
	c.Name, c.Ports = o.Name, o.Ports
	return c, nil
}

// Connect returns a Cluster for an existing kind cluster.
func Connect(name, kubeconfigPath string) (*Cluster, error) {
	return connect(provider(io.Discard), UpOptions{Config: Config{Name: name}.WithDefaults(), KubeconfigPath: kubeconfigPath})
}

func connect(p *cluster.Provider, o UpOptions) (*Cluster, error) {
	raw, err := p.KubeConfig(o.Name, false)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", o.Name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(raw))
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	path := o.KubeconfigPath
	if path == "" {
		path = clientcmd.NewDefaultPathOptions().GetDefaultFilename()
	}
	return &Cluster{Name: o.Name, Context: "kind-" + o.Name, Kubeconfig: path, REST: rc, Client: cs, Ports: o.Ports}, nil
}

// installAddons installs metrics-server unless kind already did: the
// offline image carries it in the CNI manifest. Older offline images keep
// it in a file of their own, kindest/node not at all.
func installAddons(ctx context.Context, p *cluster.Provider, c *Cluster, o UpOptions) error {
	_, err := c.Client.AppsV1().Deployments("kube-system").Get(ctx, "metrics-server", metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("look for metrics-server: %w", err)
	}
	ns, err := p.ListNodes(o.Name)
	if err != nil {
		return err
	}
	cps, err := nodeutils.ControlPlaneNodes(ns)
	if err != nil || len(cps) == 0 {
		return fmt.Errorf("no control-plane node: %v", err)
	}
	cp := cps[0]
	var manifest []byte
	var buf bytes.Buffer
	if err := cp.CommandContext(ctx, "cat", nodeimage.MetricsServerManifest).SetStdout(&buf).Run(); err == nil {
		manifest = buf.Bytes()
	} else {
		manifest, err = nodeimage.MetricsServerForRegistry(ctx)
		if err != nil {
			return fmt.Errorf("metrics-server manifest: %w", err)
		}
	}
	fmt.Fprintf(o.Progress, " • installing metrics-server\n")
	var out bytes.Buffer
	cmd := cp.CommandContext(ctx, "kubectl", "--kubeconfig=/etc/kubernetes/admin.conf", "apply", "-f", "-")
	cmd.SetStdin(bytes.NewReader(manifest)).SetStdout(&out).SetStderr(&out)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apply metrics-server: %w: %s", err, out.String())
	}
	return nil
}

// Down deletes the cluster and its kubeconfig context.
func Down(ctx context.Context, name, kubeconfigPath string, progress io.Writer) error {
	p := provider(progress)
	existing, err := p.List()
	if err != nil {
		return err
	}
	if !contains(existing, name) {
		fmt.Fprintf(progress, "No cluster %q\n", name)
		return nil
	}
	return p.Delete(name, kubeconfigPath)
}

// NodeContainers lists the node containers of a cluster by role.
func NodeContainers(name string) (controlPlanes, workers []string, err error) {
	ns, err := provider(io.Discard).ListNodes(name)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range ns {
		role, err := n.Role()
		if err != nil {
			return nil, nil, err
		}
		if role == "control-plane" {
			controlPlanes = append(controlPlanes, n.String())
		} else {
			workers = append(workers, n.String())
		}
	}
	return controlPlanes, workers, nil
}

// Exists reports whether kind knows a cluster of that name.
func Exists(name string) (bool, error) {
	l, err := provider(io.Discard).List()
	if err != nil {
		return false, err
	}
	return contains(l, name), nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func dockerOutput(ctx context.Context, args ...string) (string, error) {
	out, err := execOutput(ctx, "docker", args...)
	if err != nil {
		return "", fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// kindLogger prints kind's user-facing messages (V(0)) and warnings, and
// adds to each finished step how long it took: the breakdown of a cluster's
// creation, printed every time.
type kindLogger struct {
	w   io.Writer
	now func() time.Time

	mu   sync.Mutex
	step time.Time // when the running step (" • ...") started
}

func (l *kindLogger) Warn(m string)            { l.println("WARNING: " + m) }
func (l *kindLogger) Warnf(f string, a ...any) { l.Warn(fmt.Sprintf(f, a...)) }
func (l *kindLogger) Error(m string)           { l.println("ERROR: " + m) }
func (l *kindLogger) Errorf(f string, a ...any) {
	l.Error(fmt.Sprintf(f, a...))
}
func (l *kindLogger) V(v kindlog.Level) kindlog.InfoLogger { return kindInfo{l, v == 0} }

func (l *kindLogger) println(m string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, m)
}

func (l *kindLogger) info(m string) {
	m = strings.TrimSpace(m)
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case strings.HasPrefix(m, "• "):
		l.step = now()
	case (strings.HasPrefix(m, "✓ ") || strings.HasPrefix(m, "✗ ")) && !l.step.IsZero():
		m += fmt.Sprintf(" (%s)", now().Sub(l.step).Round(100*time.Millisecond))
		l.step = time.Time{}
	}
	fmt.Fprintln(l.w, " "+m)
}

type kindInfo struct {
	l  *kindLogger
	on bool
}

func (i kindInfo) Info(m string) {
	if i.on {
		i.l.info(m)
	}
}
func (i kindInfo) Infof(f string, a ...any) { i.Info(fmt.Sprintf(f, a...)) }
func (i kindInfo) Enabled() bool            { return i.on }

// whileLocked retries fn, for up to 10s, while it fails because another
// process holds the kubeconfig's lock file (kind takes it with an exclusive
// create and gives up at once; gates started together reuse the cluster
// together).
func whileLocked(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil || !strings.Contains(err.Error(), ".lock: file exists") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
