package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `apiVersion: chaosgate.dev/v1alpha1
kind: GameDay
name: checkout
target:
  namespace: shop
  deployment: web
  service: web
load:
  rate: 100
  duration: 2m
steps:
- name: kill
  at: 20s
  fault: pod-kill
  every: 15s
  times: 4
  params: {selector: app=web, count: 1}
- name: healed
  after: 5s
  wait: replicas-ready
checks:
  availability: 99.5%
  maxP99: 500ms
abort:
- availability: {below: 90, window: 30s}
- p99: {above: 2s, for: 20s}
`

func TestParseAGoodPlan(t *testing.T) {
	p, err := Parse("plan.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "checkout" || p.Load.Rate != 100 || p.Load.Duration != 2*time.Minute || p.Load.Path != "/" || p.Load.Method != "GET" {
		t.Fatalf("%+v", p)
	}
	if len(p.Steps) != 2 || p.Steps[0].Times != 4 || p.Steps[0].Params["selector"] != "app=web" || p.Steps[0].Params["count"] != 1 {
		t.Fatalf("steps %+v", p.Steps)
	}
	if s := p.Steps[1]; s.Wait != "replicas-ready" || s.After == nil || *s.After != 5*time.Second || s.Timeout != 5*time.Minute || s.Pos.Line != 18 {
		t.Fatalf("wait step %+v", s)
	}
	if p.Load.Agents != 0 {
		t.Fatalf("agents %d without asking", p.Load.Agents)
	}
	if a, err := Parse("plan.yaml", []byte(strings.Replace(good, "  rate: 100\n", "  rate: 100\n  agents: 2\n", 1))); err != nil || a.Load.Agents != 2 {
		t.Fatalf("agents: 2: %+v %v", a, err)
	}
	if p.Checks.Availability != 99.5 || p.Checks.MaxP99 != 500*time.Millisecond {
		t.Fatalf("checks %+v", p.Checks)
	}
	if len(p.Abort) != 2 || p.Abort[0].Metric != "availability" || p.Abort[0].Below != 90 || p.Abort[1].Above != 2*time.Second {
		t.Fatalf("abort %+v", p.Abort)
	}
}

// Every bad plan is refused with file:line:column and the field.
func TestBadPlansNameTheirPosition(t *testing.T) {
	for _, c := range []struct {
		name, from, to string
		want           string
	}{
		{"unknown field", "  rate: 100\n", "  rate: 100\n  rpm: 5\n", "plan.yaml:10:3: load.rpm: unknown field"},
		{"wrong type", "  rate: 100\n", "  rate: fast\n", `plan.yaml:9:9: load.rate: want a whole number, got "fast"`},
		{"a float rate", "  rate: 100\n", "  rate: 1.5\n", `load.rate: want a whole number, got "1.5"`},
		{"bad duration", "duration: 2m", "duration: 2 minutes", `plan.yaml:10:13: load.duration: want a duration such as 30s or 2m, got "2 minutes"`},
		{"duration out of range", "duration: 2m", "duration: 9h", "load.duration: 9h0m0s is out of range"},
		{"unknown fault", "fault: pod-kill", "fault: pod-kil", `plan.yaml:14:10: steps[0].fault: unknown fault "pod-kil"`},
		{"a param of another fault", "count: 1}", "node: w1}", "plan.yaml:17:31: steps[0].params.node: unknown field"},
		{"bad selector", "selector: app=web", "selector: app==web=x", "steps[0].params.selector: not a label selector"},
		{"count and percent", "count: 1}", "count: 1, percent: 50}", "steps[0].params: give count or percent, not both"},
		{"at past the run", "at: 20s", "at: 3m", "plan.yaml:12:3: steps[0].at: 3m0s is not within the run's 2m0s"},
		{"repeats past the run", "times: 4", "times: 9", "steps[0]: its last repeat at 2m20s is not within the run's 2m0s"},
		{"times without every", "  every: 15s\n", "", "steps[0].every: required when times > 1"},
		{"fault and wait", "  fault: pod-kill\n", "  fault: pod-kill\n  wait: nodes-ready\n", "steps[0]: a step is a fault or a wait, not both"},
		{"unknown condition", "wait: replicas-ready", "wait: coffee", `steps[1].wait: unknown condition "coffee"`},
		{"two steps, one name", "- name: healed", "- name: kill", `steps[1].name: "kill" names another step too`},
		{"a missing field", "  deployment: web\n", "", "plan.yaml:5:3: target.deployment: required"},
		{"kube-system", "namespace: shop", "namespace: kube-system", "target.namespace: kube-system is refused unless allowKubeSystem: true"},
		{"wrong apiVersion", "chaosgate.dev/v1alpha1", "v1", `apiVersion: want chaosgate.dev/v1alpha1, got "v1"`},
		{"abort of two metrics", "- p99: {above: 2s, for: 20s}", "- p99: {above: 2s, for: 20s}\n  availability: {below: 1, window: 1s}", "abort[1]: an abort rule names one metric"},
		{"abort without window", "{below: 90, window: 30s}", "{below: 90}", "abort[0].availability.window: required"},
		{"availability over 100", "availability: 99.5%", "availability: 101", "checks.availability: 101 is out of range 0-100"},
		{"a field twice", "  rate: 100\n", "  rate: 100\n  rate: 200\n", "plan.yaml:10:3: load.rate: given twice"},
		{"not YAML", "  rate: 100\n", "  rate: [100\n", "plan.yaml:"},
		{"steps not a list", "steps:\n- name: kill", "steps: kill\nx:\n- name: kill", "steps: want a list of steps"},
		{"more agents than requests", "  rate: 100\n", "  rate: 100\n  agents: 101\n", "plan.yaml:10:11: load.agents: 101 is out of range 1-50"},
		{"metrics path not a path", "  deployment: web\n", "  deployment: web\n  metrics: {path: metrics}\n", "plan.yaml:7:19: target.metrics.path: want a path starting with /"},
		{"metrics without a path", "  deployment: web\n", "  deployment: web\n  metrics: {port: 9090}\n", "target.metrics.path: required"},
		{"a p99 check without load", "  rate: 100\n", "  none: true\n", "plan.yaml:23:3: checks.maxP99: load.none judges the pods' own request counters, which hold no latency as clients see it"},
		{"a p99 abort without load", "  rate: 100\n", "  none: true\n", "plan.yaml:26:3: abort[1].p99: load.none judges the pods' own request counters"},
		{"agents below a request each", "  rate: 100\n", "  rate: 3\n  agents: 4\n", "load.agents: 4 agents for 3 req/s: each agent sends at least one request per second"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := good
			if !strings.Contains(src, c.from) {
				t.Fatalf("test bug: %q not in the plan", c.from)
			}
			src = strings.Replace(src, c.from, c.to, 1)
			_, err := Parse("plan.yaml", []byte(src))
			if err == nil {
				t.Fatalf("accepted:\n%s", src)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q lacks %q", err, c.want)
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || es[0].Pos.File != "plan.yaml" {
				t.Fatalf("not a positioned error: %#v", err)
			}
		})
	}
}

func TestEveryProblemIsReported(t *testing.T) {
	src := strings.Replace(strings.Replace(good, "rate: 100", "rate: 0", 1), "fault: pod-kill", "fault: nope", 1)
	_, err := Parse("p.yaml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) < 2 {
		t.Fatalf("want both problems, got %v", err)
	}
	if es[0].Pos.Line > es[1].Pos.Line {
		t.Fatalf("not in file order: %v", err)
	}
}

func TestEmptyAndMultiDocumentPlans(t *testing.T) {
	if _, err := Parse("e.yaml", nil); err == nil || !strings.Contains(err.Error(), "empty plan") {
		t.Fatalf("empty: %v", err)
	}
	if _, err := Parse("m.yaml", []byte(good+"---\nname: x\n")); err == nil || !strings.Contains(err.Error(), "one plan per file") {
		t.Fatalf("two documents: %v", err)
	}
}

// The shipped examples, one per fault type, are valid plans.
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	faults := map[string]bool{}
	for _, f := range files {
		p, err := ParseFile(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, s := range p.Steps {
			faults[s.Fault] = true
		}
	}
	for kind := range Faults {
		if !faults[kind] {
			t.Errorf("no example plan uses %s", kind)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	files, _ := filepath.Glob("examples/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("steps: [{name: a, at: -1s}]"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err == nil {
			if p == nil || len(p.Steps) == 0 || p.Load.Duration <= 0 {
				t.Fatalf("accepted an incomplete plan: %+v", p)
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error without a position: %v", err)
		}
		for _, e := range es {
			if e.Pos.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("error without a place or a message: %#v", e)
			}
		}
	})
}
