package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports/live"
	"github.com/chaosgate/chaosgate/suites"
	"github.com/chaosgate/chaosgate/suites/engine"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clusterFlags
	cf.register(fs)
	params := suites.DefaultParams()
	params.RegisterFlags(fs)
	workload := fs.String("workload", "sample", `folder of Kubernetes YAML (a Deployment and a Service at least), "sample", or "bundled:NAME"`)
	targetService := fs.String("target-service", "", "Service the load goes through (default: the workload's only Service)")
	targetPort := fs.Int("target-port", 0, "port of the target Service (default: its only port)")
	var loadImages stringList
	fs.Var(&loadImages, "load-image", "local Docker image to load into the kind nodes (repeatable)")
	agentImage := fs.String("agent-image", "", "image of the in-cluster load agent (cmd/loadagent) for suites whose load comes from inside the cluster (default: built from source and loaded into the kind nodes)")
	agentCPU := fs.String("agent-cpu-limit", "", "CPU limit of each in-cluster load agent, e.g. 500m (default: none)")
	var appMetrics engine.AppMetrics
	fs.StringVar(&appMetrics.Path, "app-metrics-path", "", "path where the target's pods serve Prometheus metrics, scraped through the API server during every scenario (default: /metrics for the sample app, none otherwise)")
	fs.StringVar(&appMetrics.Port, "app-metrics-port", "", "port of --app-metrics-path (default: the container port the target Service sends to)")
	fs.StringVar(&appMetrics.RequestsMetric, "app-requests-metric", "", "counter of the requests each pod served (default: http_requests_total; sampleapp_http_requests_total for the sample app)")
	fs.StringVar(&appMetrics.CodeLabel, "app-code-label", "", "label of --app-requests-metric holding the HTTP status (default: code)")
	fs.StringVar(&appMetrics.LatencyMetric, "app-latency-metric", "", "histogram of request durations in seconds, for each pod's own p99 (default: http_request_duration_seconds)")
	namespace := fs.String("namespace", "chaosgate", "namespace the workload is deployed into (deleted and recreated for a clean slate; chaosgate refuses a namespace it did not create)")
	suiteList := fs.String("suites", "all", "comma-separated suites to run: "+strings.Join(suites.Names(), ", "))
	labelFilter := fs.String("label-filter", "", "Ginkgo label filter selecting suites and checks (ANDed with --suites), e.g. '!check:latency-p99'")
	list := fs.Bool("list", false, "list every suite, its checks, labels and expected duration (a dry run: touches nothing)")
	reportDir := fs.String("report-dir", "", "report folder (default chaosgate-reports/<time>)")
	kubeContext := fs.String("context", "", "run against an existing cluster through this kubeconfig context instead of the kind cluster --name")
	targetURL := fs.String("target-url", "", "loopback URL the load goes to on a cluster that is not a kind cluster (e.g. a kubectl port-forward)")
	allowContext := fs.String("allow-context", "", "kubeconfig context that may receive faults although it is not a kind cluster")
	allowClusterScoped := fs.Bool("allow-cluster-scoped", false, "apply cluster-scoped objects of the workload (ClusterRoles, CRDs...), which change the cluster for everyone")
	journal := fs.String("journal", faults.DefaultJournalDir(), "folder journaling active faults (for chaosgate recover)")
	runTimeout := fs.Duration("run-timeout", 2*time.Hour, "bound on the whole run of the suites")
	verbose := fs.Bool("v", false, "verbose spec output")
	plain := fs.Bool("plain", false, "show each scenario's state as a line every 5s, even on a terminal (default there: a panel redrawn in place)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return badInput(stderr, err)
	}
	if fs.NArg() > 0 {
		return badInput(stderr, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if params.SelfHealing.Percent > 0 && !flagSet(fs, "kill-count") {
		params.SelfHealing.Count = 0
	}
	uo, err := cf.options(stderr)
	if err != nil {
		return badInput(stderr, err)
	}
	dir := *reportDir
	if dir == "" {
		dir = "chaosgate-reports/" + time.Now().Format("20060102-150405")
	}
	// -v prints Ginkgo's own output as specs run: lines the panel cannot
	// keep above itself
	progress, logger, display := liveOutput(stderr, *plain || *verbose)
	opts := suites.Options{
		Cluster: uo, Workload: *workload, TargetService: *targetService, TargetPort: *targetPort,
		LoadImages: loadImages, AgentImage: *agentImage, AgentCPULimit: *agentCPU, AppMetrics: appMetrics, Namespace: *namespace, Suites: *suiteList, LabelFilter: *labelFilter, ReportDir: dir,
		Context: *kubeContext, TargetURL: *targetURL, AllowContext: *allowContext, AllowClusterScoped: *allowClusterScoped, JournalDir: *journal, Params: params, Timeout: *runTimeout, Verbose: *verbose,
		Progress: progress, Logger: logger, Display: display, Command: append([]string{"chaosgate", "run"}, args...),
	}
	if *list {
		if err := suites.List(ctx, stdout, opts); err != nil {
			return badInput(stderr, err)
		}
		return exitOK
	}
	return runGate(ctx, "run", opts, stdout, stderr)
}

// runGate runs the gate (for command name) and returns the exit code: its
// verdict, or what stopped it before anything was touched.
func runGate(ctx context.Context, name string, opts suites.Options, stdout, stderr io.Writer) int {
	res, err := suites.Gate(ctx, opts)
	if err != nil {
		return gateError(ctx, name, err, stderr)
	}
	return verdict(res, opts.ReportDir, stdout)
}

// gateError reports an error that stopped the gate before anything was
// touched and returns its exit code.
func gateError(ctx context.Context, name string, err error, stderr io.Writer) int {
	var inErr *suites.InputError
	switch {
	case errors.As(err, &inErr):
		return badInput(stderr, err)
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "chaosgate %s: interrupted before anything was touched\n", name)
		return exitCanceled
	}
	fmt.Fprintf(stderr, "chaosgate %s: %v\n", name, err)
	return exitInfra
}

// badInput reports invalid input, found before anything was touched.
func badInput(w io.Writer, err error) int {
	fmt.Fprintf(w, "chaosgate: %v\nNothing was deployed or injected.\n", err)
	return exitUsage
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// verdict prints the outcome; the exit code is Ginkgo's verdict.
func verdict(res suites.Result, dir string, w io.Writer) int {
	rep, v := res.Report, res.Verdict
	fmt.Fprintf(w, "\nReport: %s (report.html, report.json, junit.xml, summary.md)\n", dir)
	for _, s := range rep.Scenarios {
		for _, c := range s.Checks {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, c.Message())
		}
	}
	switch v.Code {
	case suites.ExitPassed:
		fmt.Fprintf(w, "PASSED: every SLO held (%d checks)\n", v.Passed)
	case suites.ExitBreached:
		fmt.Fprintf(w, "FAILED: SLO breached: %s\n", strings.Join(rep.BreachedChecks(), "; "))
	case suites.ExitInterrupted:
		fmt.Fprintf(w, "INTERRUPTED: active faults were reverted; the report is partial\n")
	case suites.ExitInput:
		fmt.Fprintf(w, "ERROR: bad input: %s\nNothing was injected.\n", strings.Join(v.Errors, "; "))
	default:
		fmt.Fprintf(w, "ERROR: infrastructure failure: %s\n", strings.Join(v.Errors, "; "))
	}
	return v.Code
}

func recoverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	journal := fs.String("journal", faults.DefaultJournalDir(), "folder journaling active faults")
	name := fs.String("name", clusters.DefaultName, "kind cluster whose faults are reverted")
	kctx := fs.String("context", "", "revert the faults injected through this kubeconfig context (clusters that are not kind clusters)")
	all := fs.Bool("all", false, "revert the faults of every cluster in the journal")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig holding the clusters' contexts (default $KUBECONFIG or ~/.kube/config)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("recover: unexpected arguments %v", fs.Args())
	}
	_, err := suites.Recover(ctx, suites.RecoverOptions{Journal: faults.Journal{Dir: *journal}, Cluster: *name, Context: *kctx, All: *all, Kubeconfig: *kubeconfig, Out: stdout})
	return err
}

// liveOutput picks how a run shows its state while the load runs: a panel
// redrawn in place at the bottom of the terminal, with progress and log
// lines scrolling above it, when stderr is a terminal and plain is false;
// otherwise a plain line every few seconds (logs, CI). With the panel,
// every logger writes through it (ours, and client-go's klog, which warns
// when a watch breaks during a node fault): a line written around it would
// be overwritten by its next redraw.
func liveOutput(stderr io.Writer, plain bool) (io.Writer, *slog.Logger, live.Display) {
	f, ok := stderr.(*os.File)
	if plain || !ok {
		return stderr, slog.Default(), nil
	}
	p, ok := live.Terminal(f)
	if !ok {
		return stderr, slog.Default(), nil
	}
	logger := slog.New(slog.NewTextHandler(p, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(logger)
	klog.SetSlogLogger(logger)
	return p, logger, p
}
