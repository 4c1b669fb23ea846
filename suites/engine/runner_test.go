package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"
)

// fakeCluster is a fake clientset holding a 3-replica Deployment whose
// "ReplicaSet" replaces every deleted pod after replaceAfter, Ready when
// ready is true (false: the replacement crash-loops).
func fakeCluster(t *testing.T, replaceAfter time.Duration, ready bool) *fake.Clientset {
	t.Helper()
	three := int32(3)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Replicas: &three}}
	objs := []runtime.Object{dep}
	for i := 0; i < 3; i++ {
		objs = append(objs, fakePod(fmt.Sprintf("web-%d", i), true))
	}
	cs := fake.NewSimpleClientset(objs...)
	var n atomic.Int64
	cs.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		name := fmt.Sprintf("web-r%d", n.Add(1))
		go func() {
			p := fakePod(name, false)
			_, _ = cs.CoreV1().Pods("ns").Create(context.Background(), p, metav1.CreateOptions{})
			if !ready {
				return
			}
			time.Sleep(replaceAfter)
			p.Status.Conditions[0].Status = corev1.ConditionTrue
			_, _ = cs.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		}()
		return false, nil, nil
	})
	return cs
}

func fakePod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-rs", UID: "rs", Controller: ptr(true)}}},
		Spec:   corev1.PodSpec{NodeName: "w1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func ptr[T any](v T) *T { return &v }

func testEnv(t *testing.T, cs *fake.Clientset, url string) Env {
	return Env{
		Client: cs, ReportDir: t.TempDir(), Progress: io.Discard,
		Injector: &faults.Injector{Journal: faults.Journal{Dir: t.TempDir()}, RunID: "t"},
		Target:   Target{Namespace: "ns", Deployment: "web", Selector: "app=web", URL: url, Method: "GET"},
	}
}

func killScenario(times int) Scenario {
	return Scenario{
		Name: "kills", Load: Load{Rate: 100, Duration: 3 * time.Second, Timeout: time.Second},
		Steps: []Step{{Name: "kill", At: 500 * time.Millisecond, Every: 800 * time.Millisecond, Times: times,
			Fault: func(env Env) (faults.Fault, error) {
				return &faults.PodKill{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector, Count: 1}, nil
			}}},
		Settle: 2 * time.Second, EffectTimeout: time.Second,
		Checks: []Check{Availability(99), RecoveryWithin(time.Second, "kill"), FaultsTookEffect("kill"), LoadRate(.9), LatencyP99(time.Second)},
	}
}

func server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunJudgesAHealingWorkload(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 200*time.Millisecond, true)
	out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), killScenario(3))
	if err != nil {
		t.Fatal(err)
	}
	rep := out.Report
	for _, c := range rep.Checks {
		if !c.Passed {
			t.Errorf("%s", c.Message())
		}
	}
	if len(rep.Faults) != 3 || len(rep.Recoveries) != 3 || rep.Recoveries[0].Seconds == nil {
		t.Fatalf("faults %+v recoveries %+v", rep.Faults, rep.Recoveries)
	}
	if r := *rep.Recoveries[0].Seconds; r < .15 || r > .8 {
		t.Fatalf("recovery %.3fs, want about 0.2s", r)
	}
	if len(rep.Replicas) < 3 || rep.Timeline.Total < 250 || rep.Status != "passed" {
		t.Fatalf("replicas %v total %d status %s", rep.Replicas, rep.Timeline.Total, rep.Status)
	}
}

// Replacements that never become Ready are the workload's failure: the run
// completes, is judged, and the checks say so; it is not an error.
func TestRunJudgesAWorkloadThatDoesNotHeal(t *testing.T) {
	srv := server(t)
	cs := fakeCluster(t, 0, false)
	out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), killScenario(3))
	if err != nil {
		t.Fatalf("a workload that does not heal is a breach, not an error: %v", err)
	}
	got := map[string]string{}
	for _, c := range out.Report.Checks {
		got[c.ID] = c.Message()
	}
	if !strings.HasPrefix(got[CheckRecovery], "FAIL") || !strings.Contains(got[CheckRecovery], "measured never") {
		t.Fatalf("recovery: %s", got[CheckRecovery])
	}
	// 3 serving pods, 3 kills, no replacement ever Ready: the third kill
	// still finds one, so every kill took effect; the verdict is recovery
	if !strings.HasPrefix(got[CheckFaultsInEffect], "PASS") {
		t.Fatalf("faults: %s", got[CheckFaultsInEffect])
	}
	if out.Report.Status != "failed" {
		t.Fatalf("status %s", out.Report.Status)
	}
	// a fourth kill finds nothing that serves: a finding, reported
	out, err = Run(context.Background(), testEnv(t, fakeCluster(t, 0, false), srv.URL+"/"), killScenario(4))
	if err != nil {
		t.Fatal(err)
	}
	fe, _ := out.Check(CheckFaultsInEffect)
	if fe.Passed || !strings.Contains(fe.Detail, "no Ready pod") {
		t.Fatalf("faults: %s", fe.Message())
	}
}

// panicFault panics when planned.
type panicFault struct{}

func (panicFault) Kind() string                                   { return "panic" }
func (panicFault) Describe() string                               { return "panics" }
func (panicFault) Plan(context.Context) (faults.Injection, error) { panic("injected panic") }

func TestRunTurnsPanicsIntoErrorsAndInterruptsIntoPartialReports(t *testing.T) {
	srv := server(t)
	sc := killScenario(1)
	sc.Steps[0].Fault = func(Env) (faults.Fault, error) { return panicFault{}, nil }
	out, err := Run(context.Background(), testEnv(t, fakeCluster(t, 0, true), srv.URL+"/"), sc)
	if err == nil || !strings.Contains(err.Error(), "injected panic") || out.Report.Status != "error" {
		t.Fatalf("err %v status %s", err, out.Report.Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	out, err = Run(ctx, testEnv(t, fakeCluster(t, 100*time.Millisecond, true), srv.URL+"/"), killScenario(3))
	var ie *InterruptedError
	if !errors.As(err, &ie) {
		t.Fatalf("err %v", err)
	}
	// the report of an interrupted run still lists what happened
	if len(out.Report.Faults) == 0 || out.Report.Timeline.Total == 0 || len(out.Report.Checks) != 0 {
		t.Fatalf("partial report: %d faults, %d requests, %d checks", len(out.Report.Faults), out.Report.Timeline.Total, len(out.Report.Checks))
	}
}

// A replica unready for a moment before the load (a readiness probe missed
// on a busy machine) is waited for; one that stays unready is refused.
func TestRunWaitsForAWholeTargetAndRefusesOneThatStaysBroken(t *testing.T) {
	defer func(d time.Duration) { wholeTimeout = d }(wholeTimeout)
	wholeTimeout = 2 * time.Second
	for _, tc := range []struct {
		name    string
		readyIn time.Duration // 0: never
		wantErr string
	}{
		{name: "ready again in 500ms", readyIn: 500 * time.Millisecond},
		{name: "never ready", wantErr: "2 of 3 replicas serve after 2s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t)
			cs := fakeCluster(t, 0, true)
			p, _ := cs.CoreV1().Pods("ns").Get(context.Background(), "web-0", metav1.GetOptions{})
			p.Status.Conditions[0].Status = corev1.ConditionFalse
			_, _ = cs.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			if tc.readyIn > 0 {
				time.AfterFunc(tc.readyIn, func() {
					p.Status.Conditions[0].Status = corev1.ConditionTrue
					_, _ = cs.CoreV1().Pods("ns").UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
				})
			}
			out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), killScenario(1))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.Report.Timeline.Total == 0 {
				t.Fatal("no load was sent")
			}
		})
	}
}

// Prepare runs before the load, may change it (a profile's step), and its
// notes reach the report; the scenario's path replaces the target's.
func TestRunPreparesTheLoadAndRequestsTheScenariosPath(t *testing.T) {
	var paths atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.RequestURI())
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	cs := fakeCluster(t, 0, true)
	sc := Scenario{
		Name: "steps", Path: "/work?ms=2",
		Load:   Load{Rate: 50, Duration: 2 * time.Second, Timeout: time.Second, Phases: []load.Phase{{Rate: 20, Duration: time.Second}, {Rate: 50, Duration: time.Second}}},
		Checks: []Check{LoadRate(.9)},
		Prepare: func(_ context.Context, env Env, sc *Scenario) ([]string, error) {
			if env.Target.URL != srv.URL+"/work?ms=2" {
				return nil, fmt.Errorf("prepare sees %s", env.Target.URL)
			}
			sc.Load.Phases[1].Rate = 80
			return []string{"step: 80 req/s"}, nil
		},
	}
	out, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), sc)
	if err != nil {
		t.Fatal(err)
	}
	rep := out.Report
	if got := rep.Timeline.Total; got < 90 || got > 110 {
		t.Fatalf("%d requests, want about 20 + 80", got)
	}
	if len(rep.Notes) != 1 || rep.Notes[0] != "step: 80 req/s" || len(rep.Load.Phases) != 2 || rep.Load.Phases[1].Rate != 80 || rep.Load.Phases[1].StartSeconds != 1 {
		t.Fatalf("notes %v, phases %+v", rep.Notes, rep.Load.Phases)
	}
	if p, _ := paths.Load().(string); p != "/work?ms=2" || !rep.Checks[0].Passed {
		t.Fatalf("path %q, %s", p, rep.Checks[0].Message())
	}
	// an error preparing is the run's error, before any load
	sc.Prepare = func(context.Context, Env, *Scenario) ([]string, error) { return nil, errors.New("no metrics") }
	if _, err := Run(context.Background(), testEnv(t, cs, srv.URL+"/"), sc); err == nil || !strings.Contains(err.Error(), "prepare: no metrics") {
		t.Fatalf("err = %v", err)
	}
}

// Without generated load a run lasts its duration and sends nothing; it
// needs the pods' own metrics, and judges what they counted: here none
// (a fake cluster has no pods to scrape), which must not pass.
func TestRunWithoutLoadSendsNothingAndJudgesThePodsCounters(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	cs := fakeCluster(t, 200*time.Millisecond, true)
	sc := killScenario(1)
	sc.Load = Load{None: true, Duration: 1500 * time.Millisecond}
	sc.Checks = []Check{ServedAvailability(99), FaultsTookEffect("kill")}
	env := testEnv(t, cs, srv.URL+"/")
	if _, err := Run(context.Background(), env, sc); err == nil || !strings.Contains(err.Error(), "--app-metrics-path") {
		t.Fatalf("a run without load and without the pods' metrics: err %v", err)
	}
	env.Target.App = AppMetrics{Port: "8080", Path: "/metrics", RequestsMetric: "http_requests_total", CodeLabel: "code"}
	start := time.Now()
	out, err := Run(context.Background(), env, sc)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < sc.Load.Duration {
		t.Errorf("the run took %s, less than its %s", took, sc.Load.Duration)
	}
	if !out.Report.Load.None || !strings.Contains(reports.LoadProfile(out.Report.Load), "real traffic") {
		t.Errorf("the report must say no load was generated: %+v", out.Report.Load)
	}
	if n := hits.Load(); n != 0 || out.Report.Timeline.Total != 0 {
		t.Errorf("%d requests sent, %d in the timeline: want none", n, out.Report.Timeline.Total)
	}
	checks := map[string]bool{}
	for _, c := range out.Report.Checks {
		checks[c.ID] = c.Passed
	}
	if checks[CheckServed] || !checks[CheckFaultsInEffect] {
		t.Errorf("checks %+v: the kill took effect, and no counted request must not pass", out.Report.Checks)
	}
}

// A target back from its faults ends the load early: the run is judged on
// what it sent, against what was scheduled until then. One that does not
// come back runs the whole duration.
func TestRunEndsTheLoadEarlyOnceTheTargetIsBack(t *testing.T) {
	srv := server(t)
	sc := killScenario(1)
	sc.Load.Duration = 8 * time.Second
	sc.EndEarly = &EarlyEnd{When: []Condition{FaultsRecovered, ReplicasReady}, Margin: 500 * time.Millisecond}
	out, err := Run(context.Background(), testEnv(t, fakeCluster(t, 200*time.Millisecond, true), srv.URL+"/"), sc)
	if err != nil {
		t.Fatal(err)
	}
	obs := out.Observation
	// the kill at 0.5s, its replacement Ready 0.2s later, 0.5s of margin:
	// about 1.5s (a loaded machine may take longer, never the whole 8s)
	if ran := obs.LoadEnd.Sub(obs.Origin); ran > 6*time.Second || out.Report.Load.EndedSeconds <= 0 || out.Report.Load.EndedSeconds > ran.Seconds() {
		t.Fatalf("the load ran %s of 8s, ended at %gs", ran, out.Report.Load.EndedSeconds)
	}
	if len(out.Report.Notes) != 1 || !strings.Contains(out.Report.Notes[0], "The load ended at") || !strings.Contains(out.Report.Notes[0], "faults-recovered") {
		t.Fatalf("notes %q", out.Report.Notes)
	}
	if obs.TargetRate != 100 {
		t.Fatalf("target rate %g", obs.TargetRate)
	}
	for _, c := range out.Report.Checks {
		if !c.Passed {
			t.Errorf("%s", c.Message())
		}
	}

	sc.Load.Duration = 3 * time.Second
	out, err = Run(context.Background(), testEnv(t, fakeCluster(t, 0, false), srv.URL+"/"), sc)
	if err != nil {
		t.Fatalf("a workload that does not heal is a breach, not an error: %v", err)
	}
	if ran := out.Observation.LoadEnd.Sub(out.Observation.Origin); ran < 3*time.Second || len(out.Report.Notes) != 0 {
		t.Fatalf("the load of a target that never came back ran %s (notes %q)", ran, out.Report.Notes)
	}
	if c, _ := out.Check(CheckRecovery); c.Passed {
		t.Fatalf("recovery: %s", c.Message())
	}
}

func TestScenarioValidateRefusesAnEarlyEndItCannotKeep(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Scenario)
		want string
	}{
		"no condition": {func(s *Scenario) { s.EndEarly = &EarlyEnd{Margin: time.Second} }, "no condition"},
		"unknown":      {func(s *Scenario) { s.EndEarly = &EarlyEnd{When: []Condition{"soon"}, Margin: time.Second} }, `unknown condition "soon"`},
		"no margin":    {func(s *Scenario) { s.EndEarly = &EarlyEnd{When: []Condition{ReplicasReady}} }, "margin 0s must be positive"},
		"after the load": {func(s *Scenario) {
			s.EndEarly = &EarlyEnd{When: []Condition{ReplicasReady}, Margin: time.Second, NotBefore: time.Hour}
		}, "not-before 1h0m0s within"},
		"agents": {func(s *Scenario) {
			s.Load.Agents = 1
			s.EndEarly = &EarlyEnd{When: []Condition{ReplicasReady}, Margin: time.Second}
		}, "only load from this machine"},
		"hold-until only": {func(s *Scenario) { s.Steps[0].HoldUntil = FaultsRecovered }, "needs a known condition and a hold"},
		"nothing to wait for": {func(s *Scenario) {
			s.Steps = nil
			s.EndEarly = &EarlyEnd{When: []Condition{ReplicasReady}, Margin: time.Second}
		}, "no step and no not-before"},
		"replicas read after not-before": {func(s *Scenario) {
			s.EndEarly = &EarlyEnd{When: []Condition{ReplicasBack}, Margin: time.Second, NotBefore: time.Second, ReplicasAt: 2 * time.Second}
		}, "replicas-at 2s not after it"},
	} {
		t.Run(name, func(t *testing.T) {
			sc := killScenario(1)
			tc.edit(&sc)
			if err := sc.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	sc := killScenario(1)
	sc.EndEarly = &EarlyEnd{When: []Condition{FaultsRecovered, NodesReady, ReplicasBack, FaultsInEffect}, Margin: time.Second}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
}

// FaultsInEffect: no fault yet, or one whose effect was not seen, keeps
// the load going.
func TestAllInEffect(t *testing.T) {
	done := faults.Event{ID: "a", InEffect: at(12)}
	going := faults.Event{ID: "b"}
	for _, tc := range []struct {
		evs   []faults.Event
		want  bool
		state string
	}{
		{nil, false, "0 of 0 faults in effect"},
		{[]faults.Event{going}, false, "0 of 1 faults in effect"},
		{[]faults.Event{done, going}, false, "1 of 2 faults in effect"},
		{[]faults.Event{done}, true, "1 of 1 faults in effect"},
	} {
		if ok, state := allInEffect(tc.evs); ok != tc.want || state != tc.state {
			t.Errorf("%+v: %v %q, want %v %q", tc.evs, ok, state, tc.want, tc.state)
		}
	}
}

// ReplicasBack: the replicas read at a moment, all serving again, none of
// the extra ones still on its way out.
func TestReplicasBack(t *testing.T) {
	base := []change{serving(0, "a", "w1"), serving(0, "b", "w2"), serving(0, "c", "w3"), serving(20, "d", "w1"), serving(20, "e", "w2")}
	h := history(append(base, change{s: 60, pod: "d", node: "w1", term: true}, change{s: 60, pod: "e", node: "w2", term: true},
		change{s: 66, pod: "d", node: "w1", gone: true}, change{s: 67, pod: "e", node: "w2", gone: true})...)
	h.Desired = append(h.Desired, DesiredChange{At: at(15), Desired: 5}, DesiredChange{At: at(60), Desired: 3})
	for _, tc := range []struct {
		from, now float64
		want      bool
		state     string
	}{
		{10, 30, false, "5 of 5 replicas serve, 0 terminating, 3 before"},
		{10, 62, false, "3 of 3 replicas serve, 2 terminating, 3 before"},
		{10, 66.5, false, "1 terminating"},
		{10, 68, true, "3 of 3 replicas serve, 0 terminating, 3 before"},
		// read during the step, the replicas to come back to are 5
		{30, 68, false, "5 before"},
	} {
		ok, state := replicasBack(h, at(tc.from), at(tc.now))
		if ok != tc.want || !strings.Contains(state, tc.state) {
			t.Errorf("from %gs, at %gs: %v %q, want %v %q", tc.from, tc.now, ok, state, tc.want, tc.state)
		}
	}
	if n := h.TerminatingAt(at(66.5)); n != 1 {
		t.Fatalf("terminating at 66.5s: %d", n)
	}
}

// A hold ends once its condition held for waitStable; the next injection's
// hold waits that long again.
func TestReleaseWhenWaitsForAStableConditionEachTime(t *testing.T) {
	r := &run{env: Env{Progress: io.Discard}, sc: Scenario{Name: "x"}, origin: time.Now(),
		pods: &PodObserver{hist: *history(serving(-1, "a", "w1"), serving(-1, "b", "w2"), serving(-1, "c", "w3"))}}
	r.pods.hist.Desired[0].At = at(-1)
	release := r.releaseWhen(Step{Name: "s", HoldUntil: ReplicasReady})
	for round := range 2 {
		if release() {
			t.Fatalf("round %d: released before the condition held for %s", round, waitStable)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !release() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: never released", round)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
