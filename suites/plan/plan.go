// Package plan reads game-day plans: a target, a load, a sequence of fault
// and wait steps, the checks that judge the run and the rules that abort
// it. Parsing is strict: an unknown field, a wrong type, a bad duration or
// an impossible schedule is an error naming file:line:column and the field,
// found before anything is touched.
package plan

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosgate/chaosgate/load/agents"
)

// APIVersion and Kind a plan must declare.
const (
	APIVersion = "chaosgate.dev/v1alpha1"
	Kind       = "GameDay"
)

// Bounds of a plan.
const (
	MaxDuration = 4 * time.Hour
	MaxRate     = 20_000
	MaxSteps    = 200
)

// Plan is a parsed and validated game day.
type Plan struct {
	Name   string
	Target Target
	Load   Load
	Steps  []Step
	Checks Checks
	Abort  []AbortRule
}

// Target is where the game day runs.
type Target struct {
	// Context is a kubeconfig context; empty: the current one.
	Context string
	// AllowContext must be set to inject into a cluster that is not a kind
	// cluster.
	AllowContext bool
	// AllowKubeSystem lets steps select pods in kube-system.
	AllowKubeSystem bool
	Namespace       string
	// Workload is a folder of manifests deployed first; otherwise the
	// Deployment and Service must exist.
	Workload   string
	Deployment string
	Service    string
	Port       int
	// Metrics says where the target's pods count their own requests: the
	// signal of a game day without generated load (load.none). The sample
	// app's are known.
	Metrics Metrics
}

// Metrics is a Prometheus endpoint of the target's pods and the metrics
// in it that count requests (by status code) and time them.
type Metrics struct {
	Path, Port                               string
	RequestsMetric, CodeLabel, LatencyMetric string
}

// Load is the generated traffic; None when real traffic is the signal.
type Load struct {
	None   bool
	Rate   int
	RampTo int
	// Agents, when positive, sends the load from that many pods of a Job
	// inside the cluster, to the Service's DNS name.
	Agents   int
	Duration time.Duration
	Path     string
	Method   string
	Timeout  time.Duration
}

// Step is a fault, or a wait on a condition.
type Step struct {
	Name string
	// At is the offset from the start of the run; After, when set, starts
	// the step that long after the previous step ended instead.
	At    time.Duration
	After *time.Duration
	Fault string
	// Every and Times repeat the fault; Hold keeps it before the revert.
	Every  time.Duration
	Times  int
	Hold   time.Duration
	Params map[string]any
	// Wait is a condition the run waits for (no fault), bounded by Timeout.
	Wait    string
	Timeout time.Duration
	Pos     Position
}

// Checks judge the run; zero values take the gate's defaults.
type Checks struct {
	Availability      float64
	MaxFailedInterval time.Duration
	MaxRecovery       time.Duration
	MaxP99            time.Duration
	MinRateRatio      float64
}

// AbortRule stops the run and reverts every fault at once when the
// service burns its budget: availability over the last Window below Below,
// or the p99 of the OK requests of the last For above Above.
type AbortRule struct {
	Metric string // "availability" or "p99"
	Below  float64
	Window time.Duration
	Above  time.Duration
	For    time.Duration
	Pos    Position
}

// Faults a step may name, and the parameters each takes.
var Faults = map[string]map[string]paramKind{
	"pod-kill":          {"selector": kindSelector, "count": kindInt, "percent": kindInt, "force": kindBool, "notReady": kindBool},
	"container-kill":    {"selector": kindSelector, "count": kindInt, "container": kindString},
	"node-shutdown":     {"node": kindString, "powerOff": kindBool},
	"kubelet-stop":      {"node": kindString},
	"network-partition": {"node": kindString, "fromWorkers": kindBool},
	"drain":             {"node": kindString, "evictionDeadline": kindDuration, "includeKubeSystem": kindBool},
	"rollout":           {"image": kindString, "env": kindStringMap},
	"bad-release":       {"image": kindString, "detectAfter": kindDuration},
}

// Conditions a wait step may wait for.
var Conditions = []string{"replicas-ready", "nodes-ready"}

type paramKind int

const (
	kindString paramKind = iota
	kindInt
	kindBool
	kindDuration
	kindSelector
	kindStringMap
)

// Position is a place in a plan file.
type Position struct {
	File         string
	Line, Column int
}

func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is a problem with a plan: where, which field, what.
type Error struct {
	Pos   Position
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Field, e.Msg)
}

// Errors are every problem found in a plan, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ParseFile reads and validates the plan in path.
func ParseFile(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads and validates a plan; name is how errors refer to it. Every
// problem is reported (as Errors), not only the first.
func Parse(name string, data []byte) (*Plan, error) {
	p := &parser{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{Pos: Position{File: name}, Msg: "empty plan"}}
		}
		return nil, Errors{{Pos: yamlErrorPos(name, err), Msg: "not valid YAML: " + err.Error()}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{Pos: p.pos(&extra), Msg: "one plan per file: a second YAML document follows"}}
	}
	plan := p.plan(&doc)
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return plan, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func yamlErrorPos(file string, err error) Position {
	pos := Position{File: file}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		fmt.Sscan(m[1], &pos.Line)
		pos.Column = 1
	}
	return pos
}

type parser struct {
	file string
	errs Errors
}

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.file, Line: n.Line, Column: n.Column}
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// mapping calls each field's handler with its value; unknown or repeated
// fields, and missing required ones, are errors.
func (p *parser) mapping(n *yaml.Node, path string, fields map[string]func(*yaml.Node, string), required ...string) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := join(path, k.Value)
		h, ok := fields[k.Value]
		switch {
		case !ok:
			p.fail(k, field, "unknown field (known: %s)", strings.Join(sortedKeys(fields), ", "))
		case seen[k.Value]:
			p.fail(k, field, "given twice")
		default:
			seen[k.Value] = true
			h(v, field)
		}
	}
	for _, r := range required {
		if !seen[r] {
			p.fail(n, join(path, r), "required")
		}
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (p *parser) scalar(n *yaml.Node, field, want string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, field, "want %s, got %s", want, kindName(n))
		return false
	}
	return true
}

func (p *parser) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, field string) {
		if p.scalar(n, field, "a string") {
			*dst = n.Value
		}
	}
}

func (p *parser) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, field string) {
		if !p.scalar(n, field, "true or false") {
			return
		}
		if err := n.Decode(dst); err != nil || n.Tag != "!!bool" {
			p.fail(n, field, "want true or false, got %q", n.Value)
		}
	}
}

func (p *parser) integer(dst *int, min, max int) func(*yaml.Node, string) {
	return func(n *yaml.Node, field string) {
		if !p.scalar(n, field, "a whole number") {
			return
		}
		if err := n.Decode(dst); err != nil || n.Tag != "!!int" {
			p.fail(n, field, "want a whole number, got %q", n.Value)
			return
		}
		if *dst < min || *dst > max {
			p.fail(n, field, "%d is out of range %d-%d", *dst, min, max)
		}
	}
}

func (p *parser) number(dst *float64, min, max float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, field string) {
		if !p.scalar(n, field, "a number") {
			return
		}
		v := strings.TrimSuffix(n.Value, "%")
		if _, err := fmt.Sscanf(v, "%g", dst); err != nil || strings.TrimSpace(v) != v {
			p.fail(n, field, "want a number, got %q", n.Value)
			return
		}
		if *dst < min || *dst > max {
			p.fail(n, field, "%g is out of range %g-%g", *dst, min, max)
		}
	}
}

func (p *parser) duration(dst *time.Duration, min, max time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, field string) {
		if !p.scalar(n, field, "a duration such as 30s or 2m") {
			return
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			p.fail(n, field, "want a duration such as 30s or 2m, got %q", n.Value)
			return
		}
		if d < min || d > max {
			p.fail(n, field, "%s is out of range %s-%s", d, min, max)
			return
		}
		*dst = d
	}
}

func (p *parser) plan(doc *yaml.Node) *Plan {
	root := doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	pl := &Plan{}
	var apiVersion, kind string
	var targetNode, loadNode, checksNode, abortNode *yaml.Node
	p.mapping(root, "", map[string]func(*yaml.Node, string){
		"apiVersion": func(n *yaml.Node, f string) {
			if p.str(&apiVersion)(n, f); apiVersion != "" && apiVersion != APIVersion {
				p.fail(n, f, "want %s, got %q", APIVersion, apiVersion)
			}
		},
		"kind": func(n *yaml.Node, f string) {
			if p.str(&kind)(n, f); kind != "" && kind != Kind {
				p.fail(n, f, "want %s, got %q", Kind, kind)
			}
		},
		"name": func(n *yaml.Node, f string) {
			if p.str(&pl.Name)(n, f); pl.Name != "" && !dnsLabel.MatchString(pl.Name) {
				p.fail(n, f, "%q is not a DNS label (lower case letters, digits, '-', at most 63)", pl.Name)
			}
		},
		"target": func(n *yaml.Node, f string) { targetNode = n; p.target(n, f, &pl.Target) },
		"load":   func(n *yaml.Node, f string) { loadNode = n; p.load(n, f, &pl.Load) },
		"steps":  func(n *yaml.Node, f string) { pl.Steps = p.steps(n, f) },
		"checks": func(n *yaml.Node, f string) { checksNode = n; p.checks(n, f, &pl.Checks) },
		"abort":  func(n *yaml.Node, f string) { abortNode = n; pl.Abort = p.abort(n, f) },
	}, "apiVersion", "kind", "name", "target", "load", "steps")
	if targetNode != nil && loadNode != nil && !pl.Load.None && pl.Target.Service == "" {
		p.fail(targetNode, "target.service", "required when the plan generates load")
	}
	if pl.Load.None {
		p.withoutLoad(checksNode, abortNode)
	}
	if loadNode != nil {
		p.schedule(pl)
	}
	return pl
}

// withoutLoad refuses what a plan without generated load cannot judge:
// the pods' own counters hold no runs of failed requests, no latency as
// clients see it, and no rate of ours.
func (p *parser) withoutLoad(checks, abort *yaml.Node) {
	const why = "load.none judges the pods' own request counters, which hold no %s"
	if checks != nil && checks.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(checks.Content); i += 2 {
			switch k := checks.Content[i].Value; k {
			case "maxFailedInterval":
				p.fail(checks.Content[i], "checks."+k, why, "runs of failed requests")
			case "maxP99":
				p.fail(checks.Content[i], "checks."+k, why, "latency as clients see it")
			case "minRateRatio":
				p.fail(checks.Content[i], "checks."+k, why, "rate of ours")
			}
		}
	}
	if abort != nil && abort.Kind == yaml.SequenceNode {
		for i, rn := range abort.Content {
			if rn.Kind == yaml.MappingNode && len(rn.Content) > 0 && rn.Content[0].Value == "p99" {
				p.fail(rn.Content[0], fmt.Sprintf("abort[%d].p99", i), why, "latency as clients see it (their histograms, where they have one, show only the server's side): judge availability")
			}
		}
	}
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

func (p *parser) target(n *yaml.Node, path string, t *Target) {
	name := func(dst *string) func(*yaml.Node, string) {
		return func(n *yaml.Node, f string) {
			if p.str(dst)(n, f); *dst != "" && !dnsName.MatchString(*dst) {
				p.fail(n, f, "%q is not a valid Kubernetes name", *dst)
			}
		}
	}
	p.mapping(n, path, map[string]func(*yaml.Node, string){
		"context":         p.str(&t.Context),
		"allowContext":    p.boolean(&t.AllowContext),
		"allowKubeSystem": p.boolean(&t.AllowKubeSystem),
		"namespace":       name(&t.Namespace),
		"workload":        p.str(&t.Workload),
		"deployment":      name(&t.Deployment),
		"service":         name(&t.Service),
		"port":            p.integer(&t.Port, 1, 65535),
		"metrics": func(n *yaml.Node, f string) {
			m := &t.Metrics
			p.mapping(n, f, map[string]func(*yaml.Node, string){
				"path": func(n *yaml.Node, f string) {
					if p.str(&m.Path)(n, f); !strings.HasPrefix(m.Path, "/") {
						p.fail(n, f, "want a path starting with /, got %q", m.Path)
					}
				},
				"port":           p.str(&m.Port),
				"requestsMetric": p.str(&m.RequestsMetric),
				"codeLabel":      p.str(&m.CodeLabel),
				"latencyMetric":  p.str(&m.LatencyMetric),
			}, "path")
		},
	}, "namespace", "deployment")
	if t.Namespace == "kube-system" && !t.AllowKubeSystem {
		p.fail(n, join(path, "namespace"), "kube-system is refused unless allowKubeSystem: true")
	}
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

func (p *parser) load(n *yaml.Node, path string, l *Load) {
	p.mapping(n, path, map[string]func(*yaml.Node, string){
		"none":     p.boolean(&l.None),
		"rate":     p.integer(&l.Rate, 1, MaxRate),
		"rampTo":   p.integer(&l.RampTo, 1, MaxRate),
		"agents":   p.integer(&l.Agents, 1, agents.MaxAgents),
		"duration": p.duration(&l.Duration, time.Second, MaxDuration),
		"path": func(n *yaml.Node, f string) {
			if p.str(&l.Path)(n, f); l.Path != "" && !strings.HasPrefix(l.Path, "/") {
				p.fail(n, f, "want a path starting with /, got %q", l.Path)
			}
		},
		"method": func(n *yaml.Node, f string) {
			if p.str(&l.Method)(n, f); l.Method != "" && !slices.Contains([]string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, l.Method) {
				p.fail(n, f, "want an HTTP method such as GET, got %q", l.Method)
			}
		},
		"timeout": p.duration(&l.Timeout, 10*time.Millisecond, time.Minute),
	}, "duration")
	if !l.None && l.Rate == 0 && n.Kind == yaml.MappingNode {
		p.fail(n, join(path, "rate"), "required unless none: true")
	}
	if l.None && (l.Rate != 0 || l.RampTo != 0 || l.Agents != 0) {
		p.fail(n, join(path, "none"), "none: true generates no load: leave out rate, rampTo and agents")
	}
	if l.Agents > 0 && l.Rate > 0 && l.Rate < l.Agents {
		p.fail(n, join(path, "agents"), "%d agents for %d req/s: each agent sends at least one request per second", l.Agents, l.Rate)
	}
	if l.Path == "" {
		l.Path = "/"
	}
	if l.Method == "" {
		l.Method = "GET"
	}
}

func (p *parser) steps(n *yaml.Node, path string) []Step {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, "want a list of steps, got %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 || len(n.Content) > MaxSteps {
		p.fail(n, path, "want 1-%d steps, got %d", MaxSteps, len(n.Content))
	}
	names := map[string]bool{}
	out := make([]Step, 0, len(n.Content))
	for i, sn := range n.Content {
		field := fmt.Sprintf("%s[%d]", path, i)
		s := Step{Pos: p.pos(sn), Times: 1}
		var after time.Duration
		var paramsNode, atNode, afterNode *yaml.Node
		p.mapping(sn, field, map[string]func(*yaml.Node, string){
			"name": p.str(&s.Name),
			"at":   func(n *yaml.Node, f string) { atNode = n; p.duration(&s.At, 0, MaxDuration)(n, f) },
			"after": func(n *yaml.Node, f string) {
				afterNode = n
				p.duration(&after, 0, MaxDuration)(n, f)
				s.After = &after
			},
			"fault": func(n *yaml.Node, f string) {
				if p.str(&s.Fault)(n, f); s.Fault != "" && Faults[s.Fault] == nil {
					p.fail(n, f, "unknown fault %q (known: %s)", s.Fault, strings.Join(sortedKeys(Faults), ", "))
				}
			},
			"every":   p.duration(&s.Every, time.Second, MaxDuration),
			"times":   p.integer(&s.Times, 1, 1000),
			"hold":    p.duration(&s.Hold, 0, MaxDuration),
			"params":  func(n *yaml.Node, f string) { paramsNode = n },
			"wait":    func(n *yaml.Node, f string) { p.wait(n, f, &s) },
			"timeout": p.duration(&s.Timeout, time.Second, MaxDuration),
		}, "name")
		if sn.Kind != yaml.MappingNode {
			continue
		}
		switch {
		case s.Name != "" && names[s.Name]:
			p.fail(sn, field+".name", "%q names another step too", s.Name)
		case s.Name != "" && !dnsLabel.MatchString(s.Name):
			p.fail(sn, field+".name", "%q is not a DNS label (it names the step in labels and files)", s.Name)
		}
		names[s.Name] = true
		switch {
		case s.Fault == "" && s.Wait == "":
			p.fail(sn, field, "a step needs a fault or a wait")
		case s.Fault != "" && s.Wait != "":
			p.fail(sn, field, "a step is a fault or a wait, not both")
		case s.Wait != "" && (paramsNode != nil || s.Hold != 0 || s.Every != 0 || s.Times != 1):
			p.fail(sn, field, "a wait step takes only name, at/after, wait and timeout")
		case s.Fault != "" && s.Timeout != 0:
			p.fail(sn, field+".timeout", "only wait steps take a timeout")
		case s.Times > 1 && s.Every == 0:
			p.fail(sn, field+".every", "required when times > 1")
		}
		if atNode != nil && afterNode != nil {
			p.fail(afterNode, field+".after", "give at or after, not both")
		}
		if s.Wait != "" && s.Timeout == 0 {
			s.Timeout = 5 * time.Minute
		}
		if paramsNode != nil && Faults[s.Fault] != nil {
			s.Params = p.params(paramsNode, field+".params", Faults[s.Fault])
		}
		out = append(out, s)
	}
	return out
}

func (p *parser) wait(n *yaml.Node, field string, s *Step) {
	if p.str(&s.Wait)(n, field); s.Wait != "" && !slices.Contains(Conditions, s.Wait) {
		p.fail(n, field, "unknown condition %q (known: %s)", s.Wait, strings.Join(Conditions, ", "))
	}
}

func (p *parser) params(n *yaml.Node, path string, kinds map[string]paramKind) map[string]any {
	out := map[string]any{}
	fields := map[string]func(*yaml.Node, string){}
	for name, k := range kinds {
		fields[name] = func(v *yaml.Node, f string) {
			switch k {
			case kindString:
				var s string
				p.str(&s)(v, f)
				out[name] = s
			case kindInt:
				var i int
				p.integer(&i, 1, 10_000)(v, f)
				out[name] = i
			case kindBool:
				var b bool
				p.boolean(&b)(v, f)
				out[name] = b
			case kindDuration:
				var d time.Duration
				p.duration(&d, 0, MaxDuration)(v, f)
				out[name] = d
			case kindSelector:
				var s string
				if p.str(&s)(v, f); s != "" {
					if _, err := labels.Parse(s); err != nil {
						p.fail(v, f, "not a label selector: %v", err)
					}
				}
				out[name] = s
			case kindStringMap:
				m := map[string]string{}
				if v.Kind != yaml.MappingNode {
					p.fail(v, f, "want a mapping of NAME: value, got %s", kindName(v))
					return
				}
				for i := 0; i+1 < len(v.Content); i += 2 {
					var val string
					if p.str(&val)(v.Content[i+1], join(f, v.Content[i].Value)); v.Content[i].Value == "" || strings.ContainsAny(v.Content[i].Value, "= ") {
						p.fail(v.Content[i], join(f, v.Content[i].Value), "not an environment variable name")
					}
					m[v.Content[i].Value] = val
				}
				out[name] = m
			}
		}
	}
	p.mapping(n, path, fields)
	if _, c := out["count"]; c {
		if _, pc := out["percent"]; pc {
			p.fail(n, path, "give count or percent, not both")
		}
	}
	return out
}

func (p *parser) checks(n *yaml.Node, path string, c *Checks) {
	p.mapping(n, path, map[string]func(*yaml.Node, string){
		"availability":      p.number(&c.Availability, 0, 100),
		"maxFailedInterval": p.duration(&c.MaxFailedInterval, 0, MaxDuration),
		"maxRecovery":       p.duration(&c.MaxRecovery, time.Second, MaxDuration),
		"maxP99":            p.duration(&c.MaxP99, time.Millisecond, time.Minute),
		"minRateRatio":      p.number(&c.MinRateRatio, 0, 1),
	})
}

func (p *parser) abort(n *yaml.Node, path string) []AbortRule {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, path, "want a list of abort rules, got %s", kindName(n))
		return nil
	}
	var out []AbortRule
	for i, rn := range n.Content {
		field := fmt.Sprintf("%s[%d]", path, i)
		r := AbortRule{Pos: p.pos(rn)}
		p.mapping(rn, field, map[string]func(*yaml.Node, string){
			"availability": func(n *yaml.Node, f string) {
				r.Metric = "availability"
				p.mapping(n, f, map[string]func(*yaml.Node, string){
					"below":  p.number(&r.Below, 0, 100),
					"window": p.duration(&r.Window, time.Second, time.Hour),
				}, "below", "window")
			},
			"p99": func(n *yaml.Node, f string) {
				r.Metric = "p99"
				p.mapping(n, f, map[string]func(*yaml.Node, string){
					"above": p.duration(&r.Above, time.Millisecond, time.Minute),
					"for":   p.duration(&r.For, time.Second, time.Hour),
				}, "above", "for")
			},
		})
		if rn.Kind == yaml.MappingNode && len(rn.Content) != 2 {
			p.fail(rn, field, "an abort rule names one metric: availability or p99")
		}
		out = append(out, r)
	}
	return out
}

// schedule checks that every timed step starts within the run.
func (p *parser) schedule(pl *Plan) {
	d := pl.Load.Duration
	for i, s := range pl.Steps {
		field := fmt.Sprintf("steps[%d]", i)
		if s.After == nil && s.At >= d && d > 0 {
			p.errs = append(p.errs, &Error{Pos: s.Pos, Field: field + ".at", Msg: fmt.Sprintf("%s is not within the run's %s", s.At, d)})
		}
		if last := s.At + time.Duration(s.Times-1)*s.Every; s.After == nil && s.Times > 1 && last >= d && d > 0 {
			p.errs = append(p.errs, &Error{Pos: s.Pos, Field: field, Msg: fmt.Sprintf("its last repeat at %s is not within the run's %s", last, d)})
		}
	}
}
