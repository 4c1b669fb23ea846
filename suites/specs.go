package suites

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/reporters"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

// register declares the gate's specs with Ginkgo:
//
//   - BeforeSuite: the cluster, images, a clean namespace, the workload
//     validated by the API server, the exposed NodePort, the injector;
//   - per suite, an Ordered container labelled suite:NAME: BeforeAll
//     applies the workload, waits for it to serve and runs the scenario
//     once; then one It per check asserts the measured value against its
//     threshold;
//   - ReportAfterSuite: Ginkgo's JUnit report and the verdict.
func (g *gate) register() {
	BeforeSuite(func(ctx SpecContext) {
		ctx2, stop := g.link(ctx)
		defer stop()
		if err := g.setUp(ctx2); err != nil {
			var in *InputError
			if errors.As(err, &in) {
				g.inputErr = in
			}
			Fail("setup: " + err.Error())
		}
		// the safety net: whatever a suite could not revert is reverted
		// here, also on interrupt
		DeferCleanup(func(ctx SpecContext) {
			if err := g.injector.RevertAll(context.WithoutCancel(ctx)); err != nil {
				Fail("revert faults left active: " + err.Error())
			}
		}, NodeTimeout(5*time.Minute))
	}, NodeTimeout(g.o.Cluster.Timeout+90*time.Minute)) // a cold node image build takes long

	for _, s := range g.o.suites() {
		g.registerSuite(s)
	}

	ReportAfterSuite("chaosgate verdict", func(r Report) {
		if r.SuiteConfig.DryRun {
			return // a preview or --list: nothing ran, nothing to report
		}
		g.suiteReport = &r
		if g.o.ReportDir == "" {
			return
		}
		if err := reporters.GenerateJUnitReportWithConfig(junitView(r), filepath.Join(g.o.ReportDir, "junit.xml"),
			reporters.JunitReportConfig{OmitTimelinesForSpecState: types.SpecStatePassed | types.SpecStateSkipped}); err != nil {
			g.logger().Error("write junit.xml", "err", err)
		}
	})
}

// junitView leaves out setup nodes that passed, so the JUnit file holds one
// test case per check, plus a case for any setup that failed.
func junitView(r types.Report) types.Report {
	out := r
	out.SpecReports = nil
	for _, s := range r.SpecReports {
		if s.LeafNodeType != types.NodeTypeIt && s.State.Is(types.SpecStatePassed) {
			continue
		}
		out.SpecReports = append(out.SpecReports, s)
	}
	return out
}

func (g *gate) registerSuite(s Suite) {
	if g.isSkipped(s.Name) {
		return
	}
	for _, sc := range s.Scenarios(g.o.Params, g.w) {
		g.registerScenario(s, sc)
	}
}

// isSkipped reports whether the workload gave the suite nothing to test.
func (g *gate) isSkipped(suite string) bool {
	for _, sk := range g.notApplicable {
		if sk.Name == suite {
			return true
		}
	}
	return false
}

func (g *gate) registerScenario(s Suite, sc engine.Scenario) {
	labels := append([]string{SuiteLabel(s.Name), ScenarioLabel(sc.Name)}, s.Labels...)
	labels = append(labels, sc.Labels...)
	typical := ExpectedScenario(sc)
	// ContinueOnFailure: a breached check must not hide the verdict on
	// the others
	Describe(sc.Title, Label(labels...), Ordered, ContinueOnFailure, func() {
		var out *engine.Outcome
		BeforeAll(func(ctx SpecContext) {
			ctx2, stop := g.link(ctx)
			defer stop()
			fmt.Fprintf(g.o.Progress, "[%s] expected to take about %s (up to %s if the workload does not heal)\n", sc.Name, typical.Round(time.Second), WorstScenario(sc).Round(time.Second))
			// a fault an earlier suite could not revert (a node still down)
			// would distort every later verdict: stop the run instead
			if g.injector.Active() > 0 {
				if err := g.injector.RevertAll(ctx2); err != nil || g.injector.Active() > 0 {
					AbortSuite(fmt.Sprintf("a fault of an earlier suite is still active (%d left, %v); run `%s`", g.injector.Active(), err, g.recoverHint()))
				}
			}
			env, err := g.prepare(ctx2, sc.Name)
			if err != nil {
				Fail("setup: " + err.Error())
			}
			// registered before any fault is injected; Ginkgo runs it after
			// the checks and on interrupt
			DeferCleanup(func(ctx SpecContext) {
				if err := g.injector.RevertAll(context.WithoutCancel(ctx)); err != nil {
					Fail("revert: " + err.Error())
				}
			}, NodeTimeout(5*time.Minute))
			out, err = engine.Run(ctx2, env, sc)
			g.addScenario(*out.Report)
			if err != nil {
				Fail("scenario: " + err.Error())
			}
		}, NodeTimeout(setupBudget+sc.LongestPrepare()+sc.Load.Duration+sc.Settle+sc.EffectTimeout+maxStepEffect(sc)+5*time.Minute))

		for _, c := range sc.Checks {
			It(c.Spec, Label(CheckLabel(c.ID)), func() {
				rc, ok := out.Check(c.ID)
				Expect(ok).To(BeTrue(), "check %s was not evaluated", c.ID)
				if rc.Skipped {
					Skip(rc.Message())
				}
				AddReportEntry(rc.Name, rc.Message(), ReportEntryVisibilityFailureOrVerbose)
				Expect(rc.Measured).NotTo(BeNil(), "%s", rc.Message())
				Expect(*rc.Measured).To(BeNumerically(rc.Comparator, rc.Threshold), "%s", rc.Message())
			})
		}
	})
}

// maxStepEffect is the longest effect timeout of the scenario's steps.
func maxStepEffect(sc engine.Scenario) time.Duration {
	var d time.Duration
	for _, st := range sc.Steps {
		// a held fault due just before the load ends runs its hold after it
		d = max(d, st.EffectTimeout+st.Hold)
	}
	return d
}

// setupBudget bounds a suite's setup: the rollout and the wait for stable
// answers.
const setupBudget = 5 * time.Minute

// link returns a context that ends when either the node's context (Ginkgo:
// interrupt, timeout) or the gate's own (the caller's) ends.
func (g *gate) link(spec context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(spec)
	stop := context.AfterFunc(g.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// setUp brings up the cluster, loads images, prepares the namespace,
// validates the workload with the API server and exposes it.
func (g *gate) setUp(ctx context.Context) error {
	o := g.o
	// faults a crashed run left active would distort this run's verdict; a
	// kind cluster is checked before it is created or touched (recover must
	// still find it gone, or as the crashed run left it)
	if o.Context == "" {
		if err := g.refuseLeftovers(o.Cluster.Name, ""); err != nil {
			return err
		}
	}
	c, err := g.connect(ctx)
	if err != nil {
		return err
	}
	g.cluster = c
	if o.Context != "" {
		if err := g.refuseLeftovers(c.Name, c.Context); err != nil {
			return err
		}
	}
	kv := ""
	if v, err := c.Client.Discovery().ServerVersion(); err == nil {
		kv = v.GitVersion
	}
	g.setCluster(c.Context, kv)
	if err := faults.CheckTarget(ctx, c.Client, c.Context, o.AllowContext); err != nil {
		var nk *faults.NotKindError
		if errors.As(err, &nk) {
			return &InputError{err}
		}
		return err
	}
	if n := o.Params.Nodes.Node; n != "" {
		// --node is checked before anything is deployed or injected
		_, err := faults.PickWorker(ctx, c.Client, "", "", n)
		var nw *faults.NotWorkerError
		if errors.As(err, &nw) {
			return &InputError{fmt.Errorf("--node: %w", err)}
		}
		if err != nil {
			return err
		}
	}
	if c.Name != "" {
		// a kind cluster: its nodes are Docker containers here
		g.docker = faults.DockerCLI{}
	} else if err := g.refuseNodeFaults(); err != nil {
		return err
	}
	images := append([]string(nil), o.LoadImages...)
	if g.w.UsesImage(workload.SampleImage) && !g.w.Live { // a live target runs its images already
		if err := workload.BuildSampleImage(ctx, o.SourceDir, workload.SampleImage, "v1", o.Progress); err != nil {
			return fmt.Errorf("sample image: %w", err)
		}
		images = append(images, workload.SampleImage)
	}
	if g.needsAgents() {
		switch {
		case o.AgentImage != "":
			g.agentImage = o.AgentImage
		case c.Name == "":
			return &InputError{fmt.Errorf("--context %s is not a kind cluster: the load agent's image cannot be loaded into its nodes; give --agent-image, an image of cmd/loadagent its nodes can pull", c.Context)}
		default:
			if err := workload.BuildCommandImage(ctx, o.SourceDir, "loadagent", AgentImage, "v1", o.Progress); err != nil {
				return fmt.Errorf("load agent image: %w", err)
			}
			images = append(images, AgentImage)
			g.agentImage = AgentImage
		}
	}
	if len(images) > 0 && c.Name == "" {
		return &InputError{fmt.Errorf("--context %s is not a kind cluster: images cannot be loaded into its nodes (%s); push them to a registry it pulls from", c.Context, strings.Join(images, ", "))}
	}
	var imageIDs map[string]string
	if len(images) > 0 {
		fmt.Fprintf(o.Progress, " • loading images into the nodes: %s\n", strings.Join(images, ", "))
		if imageIDs, err = clusters.LoadImages(ctx, c.Name, images...); err != nil {
			return err
		}
	}
	if g.w.Live {
		fmt.Fprintf(o.Progress, " • target %s: judged as it runs, nothing deployed\n", g.w.Source)
	} else if err := g.prepareNamespace(ctx, imageIDs); err != nil {
		return err
	}
	switch {
	case g.sendsNoLoad():
		// nothing is sent from here: nothing to expose
	case o.TargetURL != "":
		g.url = strings.TrimSuffix(o.TargetURL, "/") + o.Params.Path
	case c.Name == "":
		return &InputError{fmt.Errorf("--context %s is not a kind cluster: no NodePort of it is mapped to this machine; give --target-url (a loopback URL that reaches the target, e.g. a kubectl port-forward)", c.Context)}
	default:
		port, err := g.expose(ctx)
		if err != nil {
			return err
		}
		g.url = fmt.Sprintf("http://127.0.0.1:%d%s", port, o.Params.Path)
	}
	events, err := reports.CreateJSONLines(filepath.Join(o.ReportDir, "events.jsonl"))
	if err != nil {
		return err
	}
	g.injector.Cluster, g.injector.Context, g.injector.Server = c.Name, c.Context, c.REST.Host
	g.events = events
	g.injector.Observe = func(e faults.Event) { _ = events.Write(e) }
	return nil
}

// prepareNamespace gives the workload a clean namespace (or keeps the one
// the last clean run of the same workload left) and has the API server
// validate every object before anything is applied.
func (g *gate) prepareNamespace(ctx context.Context, imageIDs map[string]string) error {
	o, c := g.o, g.cluster
	// the agents are not part of the workload: a run with them keeps the
	// namespace of a run without
	workloadIDs := maps.Clone(imageIDs)
	delete(workloadIDs, AgentImage)
	g.digest = g.w.DeployDigest(Version(), workloadIDs)
	kept, err := workload.ResetNamespace(ctx, c.Client, o.Namespace, g.digest, 2*time.Minute)
	if err != nil {
		var un *workload.UnmanagedNamespaceError
		if errors.As(err, &un) {
			return &InputError{err}
		}
		return err
	}
	if kept {
		fmt.Fprintf(o.Progress, " • namespace %s kept: the last run, which ended cleanly, deployed the same workload; its pods start afresh\n", o.Namespace)
	} else {
		fmt.Fprintf(o.Progress, " • namespace %s prepared clean\n", o.Namespace)
	}
	if err := workload.Apply(ctx, c.REST, g.w, o.Namespace, workload.ApplyOptions{DryRun: true, AllowClusterScoped: o.AllowClusterScoped}); err != nil {
		var ae *workload.ApplyError
		if errors.As(err, &ae) {
			return &InputError{fmt.Errorf("--workload: %w", err)}
		}
		return fmt.Errorf("validate workload: %w", err)
	}
	return nil
}

// expose puts the target behind a free NodePort of the mapped range; a port
// another gate took in the meantime (runs in other namespaces share the
// range) makes it try the next one.
func (g *gate) expose(ctx context.Context) (int, error) {
	c, o := g.cluster, g.o
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := workload.FreeNodePort(ctx, c.Client, o.Namespace, c.Ports.First, c.Ports.Last)
		if err != nil {
			return 0, err
		}
		if last = workload.Expose(ctx, c.Client, g.w, o.Namespace, port); last == nil {
			return port, nil
		}
		var fe *workload.ForeignServiceError
		if errors.As(last, &fe) {
			return 0, &InputError{last}
		}
		if !strings.Contains(last.Error(), "already allocated") {
			return 0, last
		}
		time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
	}
	return 0, last
}

// connect reaches the cluster: the kind cluster of Options.Cluster, created
// or reused, or an existing cluster through --context. For a kind cluster
// the result has its name and mapped ports; otherwise both are empty.
func (g *gate) connect(ctx context.Context) (*clusters.Cluster, error) {
	o := g.o
	if o.Context == "" {
		c, err := clusters.Up(ctx, o.Cluster)
		var mismatch *clusters.ReuseMismatchError
		if errors.As(err, &mismatch) {
			return nil, &InputError{err}
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		return c, nil
	}
	c, err := clusters.ConnectContext(o.Cluster.KubeconfigPath, o.Context)
	var ce *clusters.ContextError
	if errors.As(err, &ce) {
		return nil, &InputError{err}
	}
	if err != nil {
		return nil, err
	}
	name, kind, err := clusters.KindName(ctx, c.Client)
	if err != nil {
		return nil, fmt.Errorf("context %s: %w", o.Context, err)
	}
	if kind {
		if exists, _ := clusters.Exists(name); exists {
			c.Name = name
			if c.Ports, err = clusters.MappedPorts(ctx, name); err != nil {
				return nil, fmt.Errorf("kind cluster %s: %w", name, err)
			}
		}
	}
	fmt.Fprintf(o.Progress, " • using context %s (kind cluster: %v)\n", o.Context, c.Name != "")
	return c, nil
}

// appMetrics is where the target's pods serve their metrics: as given,
// the sample app's by default, and the target's container port when no
// port is given.
func (g *gate) appMetrics() engine.AppMetrics {
	a := g.o.AppMetrics
	if a.Path == "" && g.w.UsesImage(workload.SampleImage) {
		a = engine.AppMetrics{Path: "/metrics", RequestsMetric: "sampleapp_http_requests_total", CodeLabel: "code",
			LatencyMetric: "sampleapp_http_request_duration_seconds"}
	}
	if a.Path == "" {
		return a
	}
	if a.Port == "" {
		a.Port = strconv.Itoa(g.w.TargetContainerPort())
	}
	if a.RequestsMetric == "" {
		a.RequestsMetric = "http_requests_total"
	}
	if a.CodeLabel == "" {
		a.CodeLabel = "code"
	}
	if a.LatencyMetric == "" {
		a.LatencyMetric = "http_request_duration_seconds"
	}
	return a
}

// AgentImage is the load agent's image the gate builds for a kind cluster.
const AgentImage = "chaosgate.local/loadagent:v1"

// needsAgents reports whether a selected scenario sends load from inside
// the cluster.
func (g *gate) needsAgents() bool {
	return slices.ContainsFunc(g.selected, func(sc engine.Scenario) bool { return sc.Load.Agents > 0 })
}

// sendsNoLoad reports whether no selected scenario sends load (a game
// day on real traffic): nothing needs exposing to this machine.
func (g *gate) sendsNoLoad() bool {
	return len(g.selected) > 0 && !slices.ContainsFunc(g.selected, func(sc engine.Scenario) bool { return !sc.Load.None })
}

// refuseNodeFaults refuses, on a cluster whose nodes Docker cannot reach,
// every selected scenario that needs it.
func (g *gate) refuseNodeFaults() error {
	for _, sc := range g.selected {
		for _, st := range sc.Steps {
			if st.NeedsDocker {
				return &InputError{fmt.Errorf("scenario %s (%s) needs Docker access to the cluster's nodes, which only kind clusters give; context %s is not one: leave it out (e.g. --suites self-healing --label-filter '!fault:container-kill')",
					sc.Name, st.Name, g.cluster.Context)}
			}
		}
	}
	return nil
}

// prepare deploys the workload for one suite (a live target is left as it
// runs), waits until it has rolled out and answers the load's request
// steadily, and returns the scenario's environment.
func (g *gate) prepare(ctx context.Context, scenario string) (engine.Env, error) {
	o, c := g.o, g.cluster
	if c == nil {
		return engine.Env{}, errors.New("the cluster was not set up")
	}
	if g.w.Live {
		fmt.Fprintf(o.Progress, "[%s] waiting for %s to serve (not deployed: it runs already)\n", scenario, g.w.Source)
	} else if err := g.redeploy(ctx, scenario); err != nil {
		return engine.Env{}, err
	}
	if err := workload.WaitDeploymentComplete(ctx, c.Client, o.Namespace, g.w.Deployment.Name, 3*time.Minute); err != nil {
		return engine.Env{}, err
	}
	if !g.w.Live {
		// every suite starts from the target spread as the scheduler would
		// spread it, whatever an earlier suite did to its placement; a live
		// target's pods are the team's, where they are
		moved, err := workload.Respread(ctx, c.Client, o.Namespace, g.w.Selector(), 2*time.Minute)
		if err != nil {
			return engine.Env{}, err
		}
		if moved > 0 {
			fmt.Fprintf(o.Progress, "[%s] moved %d pod(s) that crowded a node after the earlier suites\n", scenario, moved)
		}
	}
	if g.url != "" {
		if err := workload.WaitServing(ctx, workload.ServingProbe{Method: o.Params.Method, URL: g.url, RequestTimeout: o.Params.Load.Timeout}, 30, 2*time.Minute); err != nil {
			return engine.Env{}, err
		}
	}
	return engine.Env{
		REST: c.REST, Client: c.Client, Docker: g.docker, Injector: g.injector, ReportDir: o.ReportDir, Progress: o.Progress, Logger: g.logger(),
		Target: engine.Target{Namespace: o.Namespace, Deployment: g.w.Deployment.Name, Selector: g.w.Selector(),
			Service: workload.ExposedServiceName, URL: g.url, Method: o.Params.Method,
			ServiceURL: fmt.Sprintf("http://%s.%s.svc:%d%s", g.w.Service.Name, o.Namespace, g.w.Port.Port, o.Params.Path),
			App:        g.appMetrics()},
		AgentImage: g.agentImage, AgentCPULimit: o.AgentCPULimit,
		Live: AttachProgressReporter, Display: o.Display,
	}, nil
}

// redeploy applies the workload again (restoring whatever an earlier suite
// changed) and releases what an earlier suite's rollout or config change
// set, so every suite starts from the workload as declared.
func (g *gate) redeploy(ctx context.Context, scenario string) error {
	o, c := g.o, g.cluster
	fmt.Fprintf(o.Progress, "[%s] deploying %s into namespace %s\n", scenario, g.w.Source, o.Namespace)
	if err := workload.Apply(ctx, c.REST, g.w, o.Namespace, workload.ApplyOptions{AllowClusterScoped: o.AllowClusterScoped}); err != nil {
		return fmt.Errorf("deploy: %w", err)
	}
	// an earlier config change's ConfigMaps go first, so that releasing
	// its rollout starts pods that read them as declared
	_, declared := g.w.ConfigMaps()
	for name := range declared {
		if err := faults.ReleaseConfig(ctx, c.Client, o.Namespace, name); err != nil {
			return err
		}
	}
	if err := faults.ReleaseRollout(ctx, c.Client, o.Namespace, g.w.Deployment.Name); err != nil {
		return err
	}
	return nil
}

// refuseLeftovers fails when the journal holds faults of the kind cluster
// named cluster or, for another cluster, of its context.
func (g *gate) refuseLeftovers(cluster, context string) error {
	left, err := g.journal.Entries()
	if err != nil {
		return fmt.Errorf("read fault journal %s: %w", g.journal.Dir, err)
	}
	for _, e := range left {
		if (cluster != "" && e.Cluster == cluster) || (cluster == "" && e.Cluster == "" && e.Context == context) {
			return fmt.Errorf("fault %s (%s) from an earlier run is still active on %s; run `%s` first", e.ID, e.Description, orContext(cluster, context), recoverCommand(e, g.journal.Dir))
		}
	}
	return nil
}

func orContext(cluster, context string) string {
	if cluster != "" {
		return "cluster " + cluster
	}
	return "context " + context
}

// recoverCommand is the command that reverts the journal entry e.
func recoverCommand(e faults.Entry, journal string) string {
	if e.Cluster == "" {
		return fmt.Sprintf("chaosgate recover --context %s --journal %s", e.Context, journal)
	}
	return fmt.Sprintf("chaosgate recover --name %s --journal %s", e.Cluster, journal)
}

// recoverHint is the command that reverts what this run left journaled.
func (g *gate) recoverHint() string {
	e := faults.Entry{Cluster: g.injector.Cluster, Context: g.injector.Context}
	if e.Cluster == "" && e.Context == "" {
		e.Cluster = g.o.Cluster.Name
	}
	return recoverCommand(e, g.journal.Dir)
}
