package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
)

// GateOptions configure one gate run.
type GateOptions struct {
	Cluster clusters.UpOptions
	// Workload is a folder of YAML, or "sample" for the bundled app.
	Workload      string
	TargetService string
	TargetPort    int
	// LoadImages are local Docker images copied into the kind nodes.
	LoadImages []string
	Namespace  string
	Suites     []string
	ReportDir  string
	// AllowContext names a non-kind kubeconfig context faults may hit.
	AllowContext string
	JournalDir   string
	// SourceDir is the chaosgate source, for building the sample image.
	SourceDir   string
	SelfHealing SelfHealingConfig
	Verbose     bool
	Progress    io.Writer
	Logger      *slog.Logger
	Command     []string
}

// InputError is an invalid input found before anything was deployed or
// injected (exit code 2).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// PrepareGate validates every input of a gate run and loads the workload,
// touching nothing.
func PrepareGate(o *GateOptions) (*Workload, error) {
	if o.Namespace == "" || o.Namespace == "kube-system" || !dnsLabel(o.Namespace) {
		return nil, &InputError{fmt.Errorf("--namespace %q: must be a DNS label other than kube-system", o.Namespace)}
	}
	if len(o.Suites) == 0 {
		return nil, &InputError{errors.New("--suites: no suite selected")}
	}
	if err := o.SelfHealing.Validate(); err != nil {
		return nil, &InputError{err}
	}
	if err := o.Cluster.Config.WithDefaults().Validate(); err != nil {
		return nil, &InputError{err}
	}
	if o.ReportDir == "" {
		return nil, &InputError{errors.New("--report-dir: required")}
	}
	for _, img := range o.LoadImages {
		if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t") {
			return nil, &InputError{fmt.Errorf("--load-image %q: not an image reference", img)}
		}
	}
	w, err := LoadWorkload(o.Workload, o.TargetService, o.TargetPort)
	if err != nil {
		return nil, &InputError{fmt.Errorf("--workload: %w", err)}
	}
	return w, nil
}

func dnsLabel(s string) bool {
	if len(s) > 63 {
		return false
	}
	for i, r := range s {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (r == '-' && i > 0 && i < len(s)-1)
		if !ok {
			return false
		}
	}
	return s != ""
}

// Gate runs the whole gate: cluster, images, workload, suites, report. The
// report is returned (and on disk) whatever happens after validation; err
// is non-nil only for invalid input (*InputError) or when the report
// itself could not be written.
func Gate(ctx context.Context, o GateOptions) (reports.Report, error) {
	w, err := PrepareGate(&o)
	if err != nil {
		return reports.Report{}, err
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return reports.Report{}, err
	}
	runID := time.Now().UTC().Format("20060102-150405")
	rep := reports.Report{SchemaVersion: reports.SchemaVersion, Run: reports.Run{
		ID: runID, Started: time.Now(), Status: reports.StatusRunning, Cluster: o.Cluster.Name,
		Context: "kind-" + o.Cluster.Name, Workload: w.Source, Target: fmt.Sprintf("%s:%d", w.Service.Name, w.Port.Port), Command: o.Command,
	}}
	var mu sync.Mutex
	save := func() {
		mu.Lock()
		defer mu.Unlock()
		if err := reports.WriteFolder(o.ReportDir, rep); err != nil {
			o.Logger.Error("write report", "err", err)
		}
	}
	save() // a crash from here on still leaves a report marked running

	specs, err := setUp(ctx, o, w, runID)
	if err != nil {
		rep.Run.Error = err.Error()
		rep.Finish(time.Now())
		save()
		return rep, nil
	}
	defer specs.env.Injector.RevertAll(context.WithoutCancel(ctx))
	specs.onScenario = func(sc reports.Scenario) {
		mu.Lock()
		rep.Scenarios = append(rep.Scenarios, sc)
		mu.Unlock()
		save()
	}
	fmt.Fprintf(o.Progress, "Running suites %s against %s (load at %s)\n", strings.Join(o.Suites, ", "), rep.Run.Target, specs.env.TargetURL)
	runSpecs(specs, o.Suites, 2*time.Hour, o.Verbose)
	if ctx.Err() != nil {
		rep.Run.Error = "interrupted: " + ctx.Err().Error()
	}
	rep.Finish(time.Now())
	save()
	return rep, nil
}

// setUp brings up the cluster, loads images, deploys and exposes the
// workload.
func setUp(ctx context.Context, o GateOptions, w *Workload, runID string) (*specRun, error) {
	journal := faults.Journal{Dir: o.JournalDir}
	if journal.Dir == "" {
		journal.Dir = faults.DefaultJournalDir()
	}
	// faults a crashed run left active would distort this run's verdict
	if left, err := journal.Entries(); err != nil {
		return nil, fmt.Errorf("read fault journal %s: %w", journal.Dir, err)
	} else {
		for _, e := range left {
			if e.Cluster == o.Cluster.Name {
				return nil, fmt.Errorf("fault %s (%s) from an earlier run is still active on cluster %s; run `chaosgate recover --journal %s` first", e.ID, e.Description, e.Cluster, journal.Dir)
			}
		}
	}
	c, err := clusters.Up(ctx, o.Cluster)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := faults.CheckTarget(ctx, c.Client, c.Context, o.AllowContext); err != nil {
		return nil, err
	}
	images := append([]string(nil), o.LoadImages...)
	// the sample image is built on demand for any workload that runs it
	if w.UsesImage(SampleImage) {
		if err := BuildSampleImage(ctx, o.SourceDir, SampleImage, "v1", o.Progress); err != nil {
			return nil, fmt.Errorf("sample image: %w", err)
		}
		images = append(images, SampleImage)
	}
	if len(images) > 0 {
		fmt.Fprintf(o.Progress, " • loading images into the nodes: %s\n", strings.Join(images, ", "))
		if err := clusters.LoadImages(ctx, c.Name, images...); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(o.Progress, " • deploying %s into namespace %s\n", w.Source, o.Namespace)
	if err := Deploy(ctx, c.REST, c.Client, w, o.Namespace); err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	if err := WaitDeploymentComplete(ctx, c.REST, o.Namespace, w.Deployment.Name, 3*time.Minute); err != nil {
		return nil, err
	}
	port, err := FreeNodePort(ctx, c.Client, o.Namespace, c.Ports.First, c.Ports.Last)
	if err != nil {
		return nil, err
	}
	if err := Expose(ctx, c.Client, w, o.Namespace, port); err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if err := waitStable(ctx, url, 30, 2*time.Minute); err != nil {
		return nil, err
	}
	events, err := reports.CreateJSONLines(filepath.Join(o.ReportDir, "events.jsonl"))
	if err != nil {
		return nil, err
	}
	inj := &faults.Injector{
		Journal: journal, Cluster: c.Name, RunID: runID, Logger: o.Logger,
		Observe: func(e faults.Event) { _ = events.Write(e) },
	}
	return &specRun{
		env: Env{REST: c.REST, Client: c.Client, Namespace: o.Namespace, Workload: w, TargetURL: url,
			ReportDir: o.ReportDir, Injector: inj, Progress: o.Progress, Logger: o.Logger},
		selfHealing: o.SelfHealing,
	}, nil
}

// waitStable waits until the exposed target answers want requests in a
// row through 127.0.0.1, each on a new connection. Right after a rollout,
// kube-proxy may still route some connections to pods that are gone; load
// started then would blame the workload for the cluster's catching up.
func waitStable(ctx context.Context, url string, want int, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(timeout)
	streak := 0
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				if streak++; streak >= want {
					return nil
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		streak, last = 0, err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("target %s did not answer %d requests in a row within %s (last error: %v)", url, want, timeout, last)
}
