package suites

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/plan"
)

// Every shipped example plan turns into a valid sequential scenario: its
// steps in order, each fault built by the fault it names, its checks and
// its abort rules.
func TestGameDayScenarioOfEveryExamplePlan(t *testing.T) {
	files, err := filepath.Glob("plan/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example plans: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			pl, err := plan.ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sc := gameDayScenario(pl, DefaultParams(), nil)
			if err := sc.Validate(); err != nil {
				t.Fatal(err)
			}
			if sc.Load.Agents != pl.Load.Agents || sc.Load.Rate != pl.Load.Rate {
				t.Fatalf("scenario %s: load %+v, the plan asks %+v", sc.Name, sc.Load, pl.Load)
			}
			if !sc.Sequential || len(sc.Steps) != len(pl.Steps) || sc.Name != pl.Name {
				t.Fatalf("scenario %s: sequential %v, %d steps for %d", sc.Name, sc.Sequential, len(sc.Steps), len(pl.Steps))
			}
			env := engine.Env{Target: engine.Target{Namespace: "shop", Deployment: "web", Selector: "app=web"}}
			for i, st := range sc.Steps {
				if st.Wait != "" {
					continue
				}
				fault, err := st.Fault(env)
				if st.NeedsDocker {
					// no Docker in env: refused with the reason
					if err == nil || !strings.Contains(err.Error(), "only kind clusters") {
						t.Fatalf("step %s: %v", st.Name, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %s: %v", st.Name, err)
				}
				if fault.Kind() != pl.Steps[i].Fault {
					t.Fatalf("step %s builds %s, the plan names %s", st.Name, fault.Kind(), pl.Steps[i].Fault)
				}
			}
			ids := map[string]bool{}
			for _, c := range sc.Checks {
				ids[c.ID] = true
			}
			if len(pl.Abort) > 0 != ids[engine.CheckAbortRules] || len(sc.Abort) != len(pl.Abort) {
				t.Fatalf("abort rules %v, checks %v", sc.Abort, ids)
			}
		})
	}
}

func TestGameDayScenarioTakesThePlansThresholdsAndRules(t *testing.T) {
	pl, err := plan.Parse("gd.yaml", []byte(`apiVersion: chaosgate.dev/v1alpha1
kind: GameDay
name: gd
target: {namespace: shop, deployment: sampleapp, service: sampleapp, workload: sample}
load: {rate: 40, duration: 2m, timeout: 3s, path: /work}
steps:
- {name: kill, at: 10s, fault: pod-kill, params: {percent: 50, force: true}}
- {name: healed, after: 2s, wait: replicas-ready, timeout: 30s}
- {name: drain, after: 5s, fault: drain, hold: 10s, params: {evictionDeadline: 40s}}
checks: {availability: 98, maxP99: 800ms}
abort:
- availability: {below: 90, window: 30s}
- p99: {above: 2s, for: 20s}
`))
	if err != nil {
		t.Fatal(err)
	}
	sc := gameDayScenario(pl, DefaultParams(), nil)
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if sc.Load.Rate != 40 || sc.Load.Duration != 2*time.Minute || sc.Load.Timeout != 3*time.Second || sc.Path != "/work" {
		t.Fatalf("load %+v path %s", sc.Load, sc.Path)
	}
	specs := map[string]string{}
	for _, c := range sc.Checks {
		specs[c.ID] = c.Spec
	}
	for id, want := range map[string]string{
		engine.CheckAvailability: "98%", engine.CheckP99: "800ms", engine.CheckWaitsMet: "wait step",
		engine.CheckAbortRules: "availability over the last 30s below 90%; p99 over the last 20s above 2s",
	} {
		if !strings.Contains(specs[id], want) {
			t.Errorf("check %s: %q, want it to say %q", id, specs[id], want)
		}
	}
	f, err := sc.Steps[0].Fault(engine.Env{Target: engine.Target{Namespace: "shop", Selector: "app=sampleapp"}})
	if pk, ok := f.(*faults.PodKill); err != nil || !ok || pk.Percent != 50 || pk.Count != 0 || !pk.Force || pk.Selector != "app=sampleapp" {
		t.Fatalf("pod kill %+v, %v: want 50%% of the target's pods, forced", f, err)
	}
	if st := sc.Steps[1]; st.Wait != engine.ReplicasReady || st.WaitTimeout != 30*time.Second || st.After == nil || *st.After != 2*time.Second {
		t.Fatalf("wait step %+v", st)
	}
	if st := sc.Steps[2]; st.Hold != 10*time.Second || st.EffectTimeout != 70*time.Second {
		t.Fatalf("drain step: hold %s, effect timeout %s (the eviction deadline and 30s)", st.Hold, st.EffectTimeout)
	}
	o, err := GameDayOptions(pl, "gd.yaml", Options{Params: DefaultParams(), Suites: "all"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Namespace != "shop" || o.Workload != "sample" || o.TargetService != "sampleapp" || o.Suites != "" || len(o.Only) != 1 {
		t.Fatalf("options %+v", o)
	}
	// a gate run of the plan validates it before touching anything
	if _, err := newGate(context.Background(), o); err != nil {
		t.Fatal(err)
	}
}

// Without a workload folder the plan's Deployment is the target, read
// from the cluster when the run starts and never deployed.
func TestGameDayOptionsTargetALiveDeployment(t *testing.T) {
	pl := testPlan(t, "p.yaml", `target:
  namespace: shop
  deployment: web
  service: front
load: {rate: 10, duration: 1m}
steps: [{name: kill, at: 5s, fault: pod-kill}]
`)
	o, err := GameDayOptions(pl, "p.yaml", Options{Params: DefaultParams(), Workload: "sample"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Deployment != "web" || o.Workload != "" || o.TargetService != "front" || o.Namespace != "shop" {
		t.Fatalf("options: deployment %q, workload %q, service %q, namespace %q", o.Deployment, o.Workload, o.TargetService, o.Namespace)
	}
	o.Workload = "sample"
	if _, err := newGate(context.Background(), o); err == nil || !strings.Contains(err.Error(), "a workload folder (sample) and a live Deployment (web): give one") {
		t.Fatalf("both a folder and a live Deployment: %v", err)
	}
	// a release would change the team's Deployment for good
	rolled := testPlan(t, "r.yaml", `target: {namespace: shop, deployment: web, service: front}
load: {rate: 10, duration: 1m}
steps:
- name: release
  at: 5s
  fault: rollout
`)
	_, err = GameDayOptions(rolled, "r.yaml", Options{Params: DefaultParams()})
	expectErr(t, []string{"rollout on a live Deployment"}, err, "r.yaml:7: steps[0].fault: rollout changes the Deployment for good")
}

func TestGameDayOptionsRefusesWhatTheGateCannotRunYet(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"  service: web\nload: {none: true, duration: 1m}", "load.none: without generated load the pods' own request counters are the signal: give target.metrics"},
		{"  service: sampleapp\n  workload: sample\nload: {rate: 10, duration: 1m}", `target.deployment: "web" is not the workload's Deployment (sample has sampleapp)`},
	} {
		pl := testPlan(t, "p.yaml", `target:
  namespace: shop
  deployment: web
`+tc.yaml+`
steps: [{name: kill, at: 5s, fault: pod-kill}]
`)
		_, err := GameDayOptions(pl, "p.yaml", Options{Params: DefaultParams()})
		expectErr(t, []string{tc.yaml}, err, "p.yaml: "+tc.want)
	}
}

// Without generated load the plan is judged by what the pods count
// themselves: nothing is exposed or sent, the checks are those counters
// can answer, and the metrics come from the plan (the sample's are known).
func TestGameDayWithoutLoadJudgesThePodsCounters(t *testing.T) {
	pl := testPlan(t, "p.yaml", `target:
  namespace: shop
  deployment: web
  service: front
  metrics: {path: /metrics, port: "9090", requestsMetric: shop_requests_total}
load: {none: true, duration: 2m}
steps: [{name: kill, at: 5s, fault: pod-kill}]
abort: [{availability: {below: 90, window: 30s}}]
`)
	o, err := GameDayOptions(pl, "p.yaml", Options{Params: DefaultParams()})
	if err != nil {
		t.Fatal(err)
	}
	if o.AppMetrics.Path != "/metrics" || o.AppMetrics.Port != "9090" || o.AppMetrics.RequestsMetric != "shop_requests_total" {
		t.Fatalf("options: app metrics %+v", o.AppMetrics)
	}
	sc := gameDayScenario(pl, o.Params, nil)
	if !sc.Load.None || sc.Load.Duration != 2*time.Minute || sc.Load.Rate != 0 {
		t.Fatalf("load %+v", sc.Load)
	}
	var ids []string
	for _, c := range sc.Checks {
		ids = append(ids, c.ID)
	}
	if got := strings.Join(ids, ","); got != "served-availability,recovery-time,faults-took-effect,abort-rules" {
		t.Fatalf("checks %s", got)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	// the sample's metrics are known: a plan deploying it needs none
	sample := testPlan(t, "s.yaml", `target: {namespace: shop, deployment: sampleapp, service: sampleapp, workload: sample}
load: {none: true, duration: 1m}
steps: [{name: kill, at: 5s, fault: pod-kill}]
`)
	if _, err := GameDayOptions(sample, "s.yaml", Options{Params: DefaultParams()}); err != nil {
		t.Fatalf("the sample without load: %v", err)
	}
}

// testPlan parses a plan named p from body, which follows its header.
func testPlan(t *testing.T, file, body string) *plan.Plan {
	t.Helper()
	pl, err := plan.Parse(file, []byte("apiVersion: chaosgate.dev/v1alpha1\nkind: GameDay\nname: p\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	return pl
}
