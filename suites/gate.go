package suites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/clusters/nodeimage"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agents"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/reports/live"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// Options configure one gate run.
type Options struct {
	Cluster clusters.UpOptions
	// Workload is a folder of YAML, "sample" for the bundled app, or
	// "bundled:NAME" for a bundled variant.
	Workload string
	// Deployment, instead of Workload, names a Deployment already running
	// in Namespace (a game day on a team's service): it is read from the
	// cluster and judged as it is. Nothing of it is deployed, reset or
	// moved; the namespace is not recreated.
	Deployment    string
	TargetService string
	TargetPort    int
	// LoadImages are local Docker images copied into the kind nodes.
	LoadImages []string
	Namespace  string
	// Suites is a comma-separated list of suite names ("all" or empty for
	// every suite); LabelFilter is a Ginkgo label filter ANDed to it.
	Suites      string
	LabelFilter string
	ReportDir   string
	// Context targets an existing cluster through a kubeconfig context
	// instead of creating or reusing the kind cluster Cluster names.
	Context string
	// TargetURL is where load goes on a cluster that is not a kind cluster
	// (no NodePort is mapped to this machine there): a loopback URL the
	// user provides, such as a kubectl port-forward.
	TargetURL string
	// AllowContext names a non-kind kubeconfig context faults may hit.
	AllowContext string
	// AllowClusterScoped lets cluster-scoped objects of the workload be
	// applied (cluster-wide).
	AllowClusterScoped bool
	JournalDir         string
	// SourceDir is the chaosgate source, for building the sample and the
	// load agent images.
	SourceDir string
	// AgentImage is the load agent's image (cmd/loadagent) for scenarios
	// whose load comes from inside the cluster; default: built from source
	// and loaded into the kind nodes.
	AgentImage string
	// AgentCPULimit caps each load agent's CPU (empty: no cap).
	AgentCPULimit string
	// AppMetrics is where the target's pods serve Prometheus metrics and
	// which counter counts their requests; no path: not scraped (the
	// sample app's are known).
	AppMetrics engine.AppMetrics
	Params     Params
	// Only, when set, are the suites run instead of All (a game day's
	// plan, see GameDay); Suites must then be empty.
	Only []Suite
	// Timeout bounds the whole suite run; default 2h.
	Timeout  time.Duration
	Verbose  bool
	Progress io.Writer
	Logger   *slog.Logger
	// Display, when set, shows each scenario's state while its load runs
	// (a terminal's panel); without it a line every 5s goes to Progress.
	Display live.Display
	Command []string
}

// suites are the suites a run may select from.
func (o Options) suites() []Suite {
	if len(o.Only) > 0 {
		return o.Only
	}
	return All
}

// InputError is an invalid input, found before anything was injected
// (exit code 2).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Result is a finished gate run.
type Result struct {
	Report  reports.Report
	Verdict Verdict
}

// gate is the state the registered specs share.
type gate struct {
	ctx     context.Context
	o       Options
	w       *workload.Workload
	filter  string
	journal faults.Journal
	// selected are the scenarios the label filter selects
	selected []engine.Scenario
	// notApplicable are the suites the workload gives nothing to test;
	// skipped those of them the label filter selected
	notApplicable, skipped []reports.SkippedSuite

	// set up in BeforeSuite
	cluster  *clusters.Cluster
	injector *faults.Injector
	// docker reaches the nodes; nil when the cluster is not a kind cluster
	docker faults.Docker
	url    string
	// agentImage is the load agents' image, when a selected scenario
	// sends load from inside the cluster
	agentImage string
	inputErr   *InputError

	mu          sync.Mutex
	rep         reports.Report
	suiteReport *types.Report
	// revertErr is set when faults were still active after the last revert
	revertErr error
	// events streams every fault event to events.jsonl
	events *reports.JSONLines
	// digest identifies the deployed workload (manifests, images, version)
	digest string
}

func (g *gate) logger() *slog.Logger {
	if g.o.Logger == nil {
		return slog.Default()
	}
	return g.o.Logger
}

// newGate validates every input of a gate run and loads the workload,
// touching nothing.
func newGate(ctx context.Context, o Options) (*gate, error) {
	if o.Namespace == "" || o.Namespace == "kube-system" || !dnsLabel(o.Namespace) {
		return nil, &InputError{fmt.Errorf("--namespace %q: must be a DNS label other than kube-system", o.Namespace)}
	}
	filter, err := LabelFilter(o.Suites, o.LabelFilter)
	if err != nil {
		return nil, &InputError{err}
	}
	if _, err := types.ParseLabelFilter(filter); err != nil {
		return nil, &InputError{fmt.Errorf("--label-filter %q: %w", o.LabelFilter, err)}
	}
	if err := o.Params.Validate(); err != nil {
		return nil, &InputError{err}
	}
	if err := o.Cluster.Config.WithDefaults().Validate(); err != nil {
		return nil, &InputError{err}
	}
	if o.AgentCPULimit != "" {
		if q, err := resource.ParseQuantity(o.AgentCPULimit); err != nil || q.Sign() <= 0 {
			return nil, &InputError{fmt.Errorf("--agent-cpu-limit %q: want a positive CPU quantity such as 500m or 1", o.AgentCPULimit)}
		}
	}
	if a := o.AppMetrics; a.Path != "" && !strings.HasPrefix(a.Path, "/") {
		return nil, &InputError{fmt.Errorf("--app-metrics-path %q: must be an absolute path such as /metrics", a.Path)}
	}
	if a := o.AppMetrics; a.Port != "" {
		if n, err := strconv.Atoi(a.Port); err != nil || n < 1 || n > 65535 {
			return nil, &InputError{fmt.Errorf("--app-metrics-port %q: want a port number", a.Port)}
		}
	}
	for _, img := range o.LoadImages {
		if strings.TrimSpace(img) == "" || strings.ContainsAny(img, " \t") {
			return nil, &InputError{fmt.Errorf("--load-image %q: not an image reference", img)}
		}
		// found now rather than after the cluster is up; a Docker that
		// cannot be reached is setup's business, not the input's
		if _, err := nodeimage.ImageID(ctx, img); err != nil && strings.Contains(err.Error(), "No such image") {
			return nil, &InputError{fmt.Errorf("--load-image %s: no such image in the local Docker (build or pull it first)", img)}
		}
	}
	if o.TargetURL != "" {
		u, err := url.Parse(o.TargetURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !load.IsLoopback(u.Hostname()) {
			return nil, &InputError{fmt.Errorf("--target-url %q: must be an http(s) URL on this machine (127.0.0.1, ::1 or localhost)", o.TargetURL)}
		}
	}
	if o.Timeout < 0 {
		return nil, &InputError{fmt.Errorf("--timeout %s: must be positive", o.Timeout)}
	}
	w, err := loadTarget(ctx, o)
	if err != nil {
		return nil, err
	}
	o.Params.Config.release = newRelease()
	// only what the filter selects must be valid: a short --duration for
	// the pod-kill scenario need not fit the container kills
	match, _ := types.ParseLabelFilter(filter)
	var selectedScenarios []engine.Scenario
	var skipped, notApplicable []reports.SkippedSuite
	if len(o.Only) > 0 && o.Suites != "" && o.Suites != "all" {
		return nil, &InputError{fmt.Errorf("--suites %s: a plan's run takes no suite", o.Suites)}
	}
	for _, s := range o.suites() {
		selected, any := map[string]bool{}, false
		scs := s.Scenarios(o.Params, w)
		for _, sc := range scs {
			selected[sc.Name] = scenarioSelected(match, s, sc)
			any = any || selected[sc.Name]
		}
		if s.Skip != nil {
			if reason := s.Skip(o.Params, w); reason != "" {
				if named(o.Suites, s.Name) {
					return nil, &InputError{fmt.Errorf("--suites %s: %s", s.Name, reason)}
				}
				notApplicable = append(notApplicable, reports.SkippedSuite{Name: s.Name, Reason: reason})
				if any {
					skipped = append(skipped, reports.SkippedSuite{Name: s.Name, Reason: reason})
				}
				continue
			}
		}
		if !any {
			continue
		}
		// the suite's own checks name the flags; the scenario's catch the rest
		if err := s.Validate(o.Params, w, func(name string) bool { return selected[name] }); err != nil {
			return nil, &InputError{err}
		}
		for _, sc := range scs {
			if !selected[sc.Name] {
				continue
			}
			if err := sc.Validate(); err != nil {
				return nil, &InputError{err}
			}
			selectedScenarios = append(selectedScenarios, sc)
		}
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Hour
	}
	if o.JournalDir == "" {
		o.JournalDir = faults.DefaultJournalDir()
	}
	g := &gate{ctx: ctx, o: o, w: w, filter: filter, journal: faults.Journal{Dir: o.JournalDir}, selected: selectedScenarios, skipped: skipped, notApplicable: notApplicable}
	g.injector = &faults.Injector{Journal: g.journal, Cluster: o.Cluster.Name, Logger: g.logger()}
	return g, nil
}

// loadTarget reads the workload's manifests, or the live Deployment
// Options.Deployment names from the cluster (read only: the kind cluster
// must exist already).
func loadTarget(ctx context.Context, o Options) (*workload.Workload, error) {
	if o.Deployment == "" {
		w, err := workload.LoadWorkload(o.Workload, o.TargetService, o.TargetPort)
		if err != nil {
			return nil, &InputError{fmt.Errorf("--workload: %w", err)}
		}
		return w, nil
	}
	if o.Workload != "" {
		return nil, &InputError{fmt.Errorf("a workload folder (%s) and a live Deployment (%s): give one", o.Workload, o.Deployment)}
	}
	var c *clusters.Cluster
	var err error
	if o.Context != "" {
		c, err = clusters.ConnectContext(o.Cluster.KubeconfigPath, o.Context)
	} else {
		var ok bool
		if ok, err = clusters.Exists(o.Cluster.Name); err == nil && !ok {
			return nil, &InputError{fmt.Errorf("Deployment %s: no kind cluster %q to read it from (a live target runs in a cluster that exists)", o.Deployment, o.Cluster.Name)}
		}
		if err == nil {
			c, err = clusters.Connect(o.Cluster.Name, o.Cluster.KubeconfigPath)
		}
	}
	var ce *clusters.ContextError
	if errors.As(err, &ce) {
		return nil, &InputError{err}
	}
	if err != nil {
		return nil, fmt.Errorf("read the live target: %w", err)
	}
	w, err := workload.FromCluster(ctx, c.Client, o.Namespace, o.Deployment, o.TargetService, o.TargetPort)
	var nf *workload.NotFoundError
	var ve *workload.ValidationError
	if errors.As(err, &nf) || errors.As(err, &ve) {
		return nil, &InputError{err}
	}
	return w, err
}

// scenarioSelected reports whether the label filter selects any check of
// the scenario.
func scenarioSelected(match types.LabelFilter, s Suite, sc engine.Scenario) bool {
	labels := append([]string{SuiteLabel(s.Name), ScenarioLabel(sc.Name)}, s.Labels...)
	labels = append(labels, sc.Labels...)
	for _, c := range sc.Checks {
		if match(append(labels, CheckLabel(c.ID))) {
			return true
		}
	}
	return false
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

// configs returns Ginkgo's configuration for the gate: the label filter,
// the timeout, and a grace period long enough for reverts (a stopped node
// takes a while to come back) after an interrupt.
func (g *gate) configs(dryRun bool) (types.SuiteConfig, types.ReporterConfig) {
	sc, rc := GinkgoConfiguration()
	sc.LabelFilter = g.filter
	sc.Timeout = g.o.Timeout
	sc.GracePeriod = 5 * time.Minute
	sc.DryRun = dryRun
	rc.NoColor = true
	rc.Verbose = g.o.Verbose
	rc.Succinct = !g.o.Verbose
	return sc, rc
}

// Register validates o and declares the gate's specs with Ginkgo, for a
// `go test` that calls RunSpecs itself (with Ginkgo's own flags). Its
// Result is complete once RunSpecs has returned.
func Register(ctx context.Context, o Options) (*Registered, error) {
	g, err := newGate(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := g.start(); err != nil {
		return nil, err
	}
	RegisterFailHandler(Fail)
	g.register()
	return &Registered{g: g}, nil
}

// Registered is a gate whose specs are declared.
type Registered struct{ g *gate }

// Result reads the verdict and finishes the report on disk.
func (r *Registered) Result() Result { return r.g.finish() }

// start prepares the report folder and writes the report marked running,
// so a crash from here on still leaves one.
func (g *gate) start() error {
	if g.o.ReportDir == "" {
		return &InputError{errors.New("--report-dir: required")}
	}
	if err := os.MkdirAll(g.o.ReportDir, 0o755); err != nil {
		return err
	}
	runID := time.Now().UTC().Format("20060102-150405")
	g.injector.RunID = runID
	g.rep = reports.Report{SchemaVersion: reports.SchemaVersion, Run: reports.Run{
		ID: runID, Started: time.Now(), Status: reports.StatusRunning, Cluster: g.o.Cluster.Name,
		Context: "kind-" + g.o.Cluster.Name, Workload: g.w.Source, Target: fmt.Sprintf("%s:%d", g.w.Service.Name, g.w.Port.Port),
		Command: g.o.Command, Version: Version(), WorkloadDigest: g.w.Digest(), Skipped: g.skipped,
	}}
	g.save()
	return nil
}

func (g *gate) save() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := reports.WriteFolder(g.o.ReportDir, g.rep); err != nil {
		g.logger().Error("write report", "err", err)
	}
}

func (g *gate) setCluster(context, kubernetesVersion string) {
	g.mu.Lock()
	g.rep.Run.Context, g.rep.Run.KubernetesVersion = context, kubernetesVersion
	g.mu.Unlock()
}

// Version is chaosgate's version: the module version it was built as, or
// the source revision (with "+dirty" for uncommitted changes).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

// addScenario adds a finished scenario, so the report on disk grows while
// later suites run.
func (g *gate) addScenario(sc reports.Scenario) {
	g.mu.Lock()
	g.rep.Scenarios = append(g.rep.Scenarios, sc)
	g.mu.Unlock()
	g.save()
}

// finish reads the verdict from Ginkgo's report, marks each check with
// Ginkgo's outcome of its spec, and writes the final report.
func (g *gate) finish() Result {
	var v Verdict
	g.mu.Lock()
	switch {
	case g.inputErr != nil:
		v = Verdict{Code: ExitInput, Status: reports.StatusError, Errors: []string{g.inputErr.Error()}}
	case g.suiteReport == nil:
		v = Verdict{Code: ExitInfra, Status: reports.StatusError, Errors: []string{"the suite did not report"}}
	default:
		v = Judge(*g.suiteReport)
		markChecks(g.rep.Scenarios, *g.suiteReport)
	}
	if g.ctx.Err() != nil && v.Code != ExitInput {
		v.Code, v.Status = ExitInterrupted, reports.StatusInterrupted
	}
	if g.revertErr != nil && v.Code != ExitInput {
		// nothing may be left broken: that outranks any verdict, an
		// interruption too (130 promises every fault was reverted)
		v.Errors = append(v.Errors, g.revertErr.Error())
		v.Code, v.Status = ExitInfra, reports.StatusError
	}
	if len(v.Errors) > 0 {
		g.rep.Run.Error = strings.Join(v.Errors, "; ")
	}
	g.rep.Finish(time.Now(), v.Status)
	rep := g.rep
	if g.events != nil {
		// every revert has run: no event comes after this
		_ = g.events.Close()
	}
	g.mu.Unlock()
	g.save()
	return Result{Report: rep, Verdict: v}
}

// markChecks sets each check's outcome to its spec's: Ginkgo decides. A
// check whose spec did not run (left out by a label filter) is marked not
// judged; one whose own assertion passed keeps passing when a failure came
// after it (an AfterAll or a revert in cleanup), which the verdict counts
// as an infrastructure error instead.
func markChecks(scs []reports.Scenario, r types.Report) {
	specs := map[string]types.SpecReport{}
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt {
			continue
		}
		var scenario, check string
		for _, l := range s.Labels() {
			if v, ok := strings.CutPrefix(l, "scenario:"); ok {
				scenario = v
			}
			if v, ok := strings.CutPrefix(l, "check:"); ok {
				check = v
			}
		}
		specs[scenario+"/"+check] = s
	}
	for i := range scs {
		sc := &scs[i]
		for j := range sc.Checks {
			c := &sc.Checks[j]
			s, ok := specs[sc.Name+"/"+c.ID]
			switch {
			case c.Skipped:
				// the engine could not judge it; its It skipped itself
			case !ok || s.State.Is(types.SpecStateSkipped|types.SpecStatePending):
				*c = notSelected(*c)
			case s.State == types.SpecStatePassed:
				c.Passed = true
			case s.State.Is(types.SpecStateFailureStates) && s.Failure.FailureNodeContext == types.FailureNodeIsLeafNode:
				c.Passed = false
			case s.State.Is(types.SpecStateFailureStates) && s.Failure.FailureNodeType.Is(types.NodeTypeBeforeAll|types.NodeTypeBeforeEach|types.NodeTypeJustBeforeEach|types.NodeTypeBeforeSuite|types.NodeTypeSynchronizedBeforeSuite):
				// Ginkgo pins a failed setup on the first spec, whose own
				// assertion never ran
				*c = notSelected(*c)
			}
		}
		sc.Finish(sc.Finished)
	}
}

// notSelected marks a check that was measured but whose spec did not run.
func notSelected(c reports.Check) reports.Check {
	c.Skipped, c.Passed = true, true
	c.Detail = strings.TrimSpace("not judged: its spec did not run (left out by the label filter, or the scenario failed before it) " + c.Detail)
	return c
}

// ginkgoT is the GinkgoTestingT of an in-process run (no `go test`): the
// verdict is read from the suite report, not from this.
type ginkgoT struct{}

func (ginkgoT) Fail() {}

// Gate runs the whole gate as one Ginkgo suite: cluster, images, workload,
// the selected suites, the report. The error is for invalid input
// (*InputError), found before anything was touched; everything after that
// is in the Result (its Verdict gives the exit code).
func Gate(ctx context.Context, o Options) (Result, error) {
	g, err := newGate(ctx, o)
	if err != nil {
		return Result{}, err
	}
	RegisterFailHandler(Fail)
	g.register()
	// a label filter that selects no check is an input error
	specs, err := g.preview()
	if err != nil {
		return Result{}, err
	}
	if len(specs) == 0 {
		why := ""
		for _, sk := range g.skipped {
			why += fmt.Sprintf("; suite %s is skipped: %s", sk.Name, sk.Reason)
		}
		return Result{}, &InputError{fmt.Errorf("--suites %q / --label-filter %q select no check%s", o.Suites, o.LabelFilter, why)}
	}
	typical, worst := g.budget()
	if worst > g.o.Timeout {
		return Result{}, &InputError{fmt.Errorf("--run-timeout %s cannot fit the selected scenarios: about %s, up to %s when the workload does not heal (select fewer with --suites/--label-filter, or raise it)",
			g.o.Timeout, typical.Round(time.Second), worst.Round(time.Second))}
	}
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if err := g.start(); err != nil {
		return Result{}, err
	}
	fmt.Fprintf(g.o.Progress, "Time budget: about %s on a warm cluster, up to %s when the workload does not heal (bound: --run-timeout %s)\n",
		typical.Round(time.Second), worst.Round(time.Second), g.o.Timeout)
	fmt.Fprintf(g.o.Progress, "Running %d check(s) of %s against %s (labels: %s)\n", len(specs), strings.Join(suitesOf(specs), ", "), g.rep.Run.Target, orAll(g.filter))
	for _, sk := range g.skipped {
		fmt.Fprintf(g.o.Progress, "Skipping suite %s: %s\n", sk.Name, sk.Reason)
	}
	sc, rc := g.configs(false)
	RunSpecs(ginkgoT{}, "chaosgate resilience gate", sc, rc)
	// the safety net behind the specs' own cleanup
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	revertErr := g.injector.RevertAll(rctx)
	if revertErr == nil && g.injector.Active() > 0 {
		revertErr = fmt.Errorf("%d fault(s) still active", g.injector.Active())
	}
	if revertErr != nil {
		g.logger().Error("revert failed; run chaosgate recover", "err", revertErr)
		g.mu.Lock()
		g.revertErr = fmt.Errorf("faults left active: %w; run `%s`", revertErr, g.recoverHint())
		g.mu.Unlock()
	}
	res := g.finish()
	if g.w.Live && g.cluster != nil {
		g.leaveNamespace(ctx)
	}
	if c := res.Verdict.Code; (c == ExitPassed || c == ExitBreached) && g.cluster != nil && g.digest != "" {
		// a run that ended cleanly leaves a namespace the next run with the
		// same workload may keep
		if err := workload.MarkNamespace(rctx, g.cluster.Client, g.o.Namespace, g.digest); err != nil {
			g.logger().Warn("the next run will recreate the namespace", "err", err)
		}
	}
	return res, nil
}

// leaveNamespace removes what the run added to a live target's namespace
// (its NodePort Service; load agent Jobs a crashed scenario left), which
// is the team's: only objects carrying chaosgate's labels go.
func (g *gate) leaveNamespace(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	cs, ns := g.cluster.Client, g.o.Namespace
	if err := workload.Unexpose(cctx, cs, ns); err != nil {
		g.logger().Warn("the run's NodePort Service is left in the namespace", "namespace", ns, "service", workload.ExposedServiceName, "err", err)
	}
	if err := agents.DeleteLeftovers(cctx, cs, ns); err != nil {
		g.logger().Warn("load agent Jobs are left in the namespace", "namespace", ns, "err", err)
	}
}

// budget estimates the selected scenarios' run time (warm cluster), and
// its bound when every workload needs its whole settle budget.
func (g *gate) budget() (typical, worst time.Duration) {
	// the run's own setup: cluster checks, images, the namespace (a
	// recreated one takes the namespace controller about 10s more)
	typical, worst = runSetup, runSetup+15*time.Second
	for _, sc := range g.selected {
		typical += ExpectedScenario(sc)
		worst += WorstScenario(sc) + maxStepEffect(sc)
	}
	return typical, worst
}

// named reports whether --suites names the suite.
func named(suiteList, name string) bool {
	for _, n := range strings.Split(suiteList, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// runSetup is a run's setup on a warm cluster that holds the workload.
const runSetup = 10 * time.Second

func orAll(f string) string {
	if f == "" {
		return "all"
	}
	return f
}

// preview walks the spec tree without running anything (a Ginkgo dry run)
// and returns the checks the label filter selects.
func (g *gate) preview() ([]types.SpecReport, error) {
	sc, rc := g.configs(true)
	r := PreviewSpecs("chaosgate resilience gate", sc, rc)
	var out []types.SpecReport
	for _, s := range r.SpecReports {
		if s.LeafNodeType == types.NodeTypeIt && s.State != types.SpecStateSkipped && s.State != types.SpecStatePending {
			out = append(out, s)
		}
	}
	return out, nil
}

func suitesOf(specs []types.SpecReport) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range specs {
		for _, l := range s.Labels() {
			if n, ok := strings.CutPrefix(l, "suite:"); ok && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}
