package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// sampleRuns are copies of real gate runs (testdata/runs/README.md).
var sampleRuns = []string{"self-healing-pass", "self-healing-agents-pass", "node-failure-pass", "node-failure-colocated-fail", "drain-pdb-blocked"}

func sampleDir(name string) string { return filepath.Join("testdata", "runs", name) }

func readSample(t *testing.T, name string) Report {
	t.Helper()
	r, err := ReadFolder(sampleDir(name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// copySample copies a sample run folder, so a test may write into it.
func copySample(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(sampleDir(name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// syntheticReport is a run of the given length at rate req/s with 1s
// windows: five pod kills, a one-second dip in success rate during the third
// and a p99 spike, replicas and nodes changing with the kills.
func syntheticReport(seconds, rate int) Report {
	loadStart := t0.Add(10 * time.Second)
	tl := Timeline{WindowSeconds: 1, TargetRate: float64(rate), AchievedRate: float64(rate), LatencyMS: Latency{P50: 2, P99: 40}}
	for i := range seconds {
		w := Window{T: float64(i), Total: rate, OK: rate, Availability: 1, P50MS: 2 + float64(i%7)/10, P99MS: 20 + float64(i%13)}
		if i == seconds/2+1 {
			w.OK = rate * 3 / 4
			w.Availability = 0.75
		}
		if i == seconds/3 {
			w.P99MS = 900
		}
		tl.Windows = append(tl.Windows, w)
		tl.Total += w.Total
		tl.OK += w.OK
	}
	tl.Failed = tl.Total - tl.OK
	tl.Availability = float64(tl.OK) / float64(tl.Total)
	s := Scenario{Name: "self-healing", Description: "synthetic", Started: t0, Status: StatusRunning, Timeline: tl,
		Load: Load{Target: "http://127.0.0.1:30080/", Rate: rate, DurationSeconds: float64(seconds), TimeoutSeconds: 2}}
	s.Replicas = append(s.Replicas, ReplicaPoint{T: -0.2, Ready: 3, Desired: 3})
	for _, n := range []string{"worker", "worker2", "worker3", "control-plane"} {
		s.Nodes = append(s.Nodes, NodePoint{T: -0.1, Node: "chaosgate-" + n, Ready: "True", Schedulable: true})
	}
	for k := range 5 {
		at := float64(seconds) / 6 * float64(k+1)
		issued := loadStart.Add(time.Duration(at * float64(time.Second)))
		id := "pod-kill-" + string(rune('1'+k))
		s.Faults = append(s.Faults, Fault{ID: id, Kind: "pod-kill", Description: "delete 1 Ready pod", Targets: []string{"pod chaosgate/sampleapp-x"},
			Issued: issued, InEffect: issued.Add(5 * time.Second), Reverted: issued.Add(50 * time.Millisecond), Offset: at, TookEffect: true, EffectSeconds: 5})
		secs := 2.5
		s.Recoveries = append(s.Recoveries, Recovery{FaultID: id, Issued: issued, Recovered: issued.Add(2500 * time.Millisecond), Outcome: Recovered, Seconds: &secs})
		s.Replicas = append(s.Replicas, ReplicaPoint{T: at + 0.1, Ready: 2, Desired: 3}, ReplicaPoint{T: at + 2.5, Ready: 3, Desired: 3})
	}
	s.Nodes = append(s.Nodes, NodePoint{T: float64(seconds) / 2, Node: "chaosgate-worker2", Ready: "Unknown", Schedulable: false},
		NodePoint{T: float64(seconds)/2 + 30, Node: "chaosgate-worker2", Ready: "True", Schedulable: true})
	s.Checks = []Check{
		AtLeast("availability", "availability >= 99.5%", tl.Availability*100, 99.5, "%"),
		AtMost("recovery-time", "all replicas serving within 30s of every kill", 2.5, 30, "s"),
		AtMost("latency-p99", "p99 latency <= 500ms", 40, 500, "ms"),
	}
	s.Checks[0].Detail = "a few requests failed"
	s.ResultsFile = "results-self-healing.jsonl"
	s.Finish(loadStart.Add(time.Duration(seconds) * time.Second))
	r := Report{SchemaVersion: SchemaVersion, Run: Run{ID: "synthetic", Started: t0, Cluster: "chaosgate", Context: "kind-chaosgate",
		Workload: "sample", Target: "sampleapp:80", Command: []string{"chaosgate", "run", "--rate", "1000", "--duration", "10m"}},
		Scenarios: []Scenario{s}}
	r.Finish(s.Finished, StatusPassed)
	return r
}

// setupFailedReport is a run whose scenario failed before any load: nothing
// to chart, the page must still render.
func setupFailedReport() Report {
	s := Scenario{Name: "self-healing", Started: t0, Error: "workload did not roll out: pod sampleapp-1 not Ready"}
	s.Finish(t0.Add(time.Minute))
	r := Report{SchemaVersion: SchemaVersion, Run: Run{ID: "setup-failed", Started: t0, Error: "BeforeAll failed"}, Scenarios: []Scenario{s}}
	r.Finish(t0.Add(time.Minute), StatusError)
	return r
}

// pageData reads the charts' JSON back out of a rendered page.
func pageData(t *testing.T, page string) struct{ Scenarios []chartScenario } {
	t.Helper()
	m := regexp.MustCompile(`(?s)<script type="application/json" id="chaosgate-data">(.*?)</script>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no chart data in the page")
	}
	var d struct{ Scenarios []chartScenario }
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatalf("chart data: %v", err)
	}
	return d
}

// series does not unmarshal null; the tests read it back through this.
func (s *series) UnmarshalJSON(b []byte) error {
	var vs []*float64
	if err := json.Unmarshal(b, &vs); err != nil {
		return err
	}
	*s = make(series, len(vs))
	for i, v := range vs {
		(*s)[i] = math.NaN()
		if v != nil {
			(*s)[i] = *v
		}
	}
	return nil
}

// Nothing in the page may reach out: no src or href to another host, no
// stylesheet or font from elsewhere.
var external = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:|//)|@import|url\(\s*["']?(https?:|//)|<link[^>]+stylesheet`)

func TestHTMLRendersEverySample(t *testing.T) {
	for _, name := range sampleRuns {
		t.Run(name, func(t *testing.T) {
			r := readSample(t, name)
			var b bytes.Buffer
			if err := WriteHTML(&b, r); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			if m := external.FindString(page); m != "" {
				t.Errorf("page loads something from elsewhere: %q", m)
			}
			want := []string{verdicts[r.Run.Status].Text, strings.Join(r.Run.Command, " "), `href="report.json"`, `href="junit.xml"`,
				`href="summary.md"`, `href="events.jsonl"`}
			for _, s := range r.Scenarios {
				want = append(want, `href="`+s.ResultsFile+`"`, `data-chart="traffic"`, `data-chart="latency"`, `data-chart="replicas"`, `data-chart="nodes"`)
				for _, c := range s.Checks {
					want = append(want, escapeHTML(c.Name), escapeHTML(c.Detail))
				}
				if len(s.PodTraffic) > 0 {
					want = append(want, `data-chart="usage"`, escapeHTML("Requests counted by the pods themselves: "+TrafficSpread(s.PodTraffic)))
				}
				if s.Load.Agents > 0 {
					want = append(want, fmt.Sprintf("Load sent from %d agent pod(s) inside the cluster", s.Load.Agents))
				}
			}
			for _, w := range want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			d := pageData(t, page)
			if len(d.Scenarios) != len(r.Scenarios) {
				t.Fatalf("%d scenarios charted, want %d", len(d.Scenarios), len(r.Scenarios))
			}
			for i, s := range r.Scenarios {
				c := d.Scenarios[i]
				if len(c.Windows.T) != len(s.Timeline.Windows) || c.Windows.Source != len(s.Timeline.Windows) {
					t.Errorf("%s: %d window points, want all %d", s.Name, len(c.Windows.T), len(s.Timeline.Windows))
				}
				if len(c.Faults) != len(s.Faults) || c.Nodes.Source != len(s.Nodes) || c.Replicas.Source != len(s.Replicas) {
					t.Errorf("%s: charted %d faults, %d node and %d replica points; report has %d, %d, %d",
						s.Name, len(c.Faults), c.Nodes.Source, c.Replicas.Source, len(s.Faults), len(s.Nodes), len(s.Replicas))
				}
			}
		})
	}
}

func escapeHTML(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

// The page is one file; a 10-minute run at 1,000 req/s must stay small.
func TestHTMLSizeTenMinutesAt1000(t *testing.T) {
	r := syntheticReport(600, 1000)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("report.html for a 10-minute run at 1,000 req/s (600 windows): %d bytes (uPlot %d, chart data and page %d)",
		b.Len(), len(uplotJS), b.Len()-len(uplotJS))
	if b.Len() > 150_000 {
		t.Fatalf("report.html is %d bytes, want under 150 kB", b.Len())
	}
	if d := pageData(t, b.String()); len(d.Scenarios[0].Windows.T) != 600 {
		t.Fatalf("%d window points drawn, want all 600", len(d.Scenarios[0].Windows.T))
	}
}

// A long run is thinned for drawing, but its extremes stay: the dip and the
// spike of a two-hour run are still on the chart.
func TestHTMLThinsLongRunsKeepingExtremes(t *testing.T) {
	r := syntheticReport(7200, 100)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	w := pageData(t, b.String()).Scenarios[0].Windows
	if len(w.T) > chartPointBudget || w.Source != 7200 {
		t.Fatalf("%d points drawn of %d", len(w.T), w.Source)
	}
	if slices.Min(w.Success) != 75 || slices.Max(w.P99) != 900 {
		t.Fatalf("extremes lost: min success %v, max p99 %v", slices.Min(w.Success), slices.Max(w.P99))
	}
	if b.Len() > 200_000 {
		t.Fatalf("report.html is %d bytes for a 2-hour run", b.Len())
	}
}

func TestPickExtremes(t *testing.T) {
	const n = 10_000
	success, p99 := make(series, n), make(series, n)
	for i := range n {
		success[i], p99[i] = 100, 10
	}
	success[4321] = 12.5 // a one-window dip
	p99[9876] = 2000     // a one-window spike
	success[17] = math.NaN()
	cases := []struct {
		name   string
		n      int
		budget int
		want   []int // indices that must be kept
		max    int
	}{
		{"fits: everything", 50, 100, []int{0, 17, 49}, 50},
		{"dip and spike survive", n, 500, []int{0, 4321, 9876, n - 1}, 500},
		{"tiny budget still keeps them", n, 6, []int{4321, 9876, n - 1}, 6},
		{"budget under one bucket", n, 2, []int{4321, 9876, n - 1}, 6},
	}
	for _, c := range cases {
		got := pickExtremes(c.n, c.budget, success[:c.n], p99[:c.n])
		if len(got) > c.max || !slices.IsSorted(got) {
			t.Errorf("%s: %d indices (max %d), sorted %v", c.name, len(got), c.max, slices.IsSorted(got))
		}
		for _, w := range c.want {
			if _, ok := slices.BinarySearch(got, w); !ok {
				t.Errorf("%s: index %d dropped", c.name, w)
			}
		}
	}
	if got := pickExtremes(0, 10); len(got) != 0 {
		t.Errorf("no windows: %v", got)
	}
}

func TestWindowRate(t *testing.T) {
	cases := []struct {
		w               Window
		width, duration float64
		want            float64
	}{
		{Window{T: 10, Total: 100}, 1, 60, 100},
		{Window{T: 10, Total: 500}, 5, 60, 100},
		{Window{T: 57, Total: 150}, 5, 60, 50},       // last window, 3s covered
		{Window{T: 60, Total: 1}, 1, 60, math.NaN()}, // the request at the very end
		{Window{T: 60, Total: 1}, 1, 0, 1},           // duration unknown
	}
	for _, c := range cases {
		got := windowRate(c.w, c.width, c.duration)
		if !(got == c.want || math.IsNaN(got) && math.IsNaN(c.want)) {
			t.Errorf("%+v width %g duration %g: %g, want %g", c.w, c.width, c.duration, got, c.want)
		}
	}
}

func TestAvailabilityBudget(t *testing.T) {
	tl := Timeline{Total: 12000, Failed: 30}
	measured := func(id string, m, thr float64) Check { return AtLeast(id, id, m, thr, "%") }
	cases := []struct {
		name    string
		c       Check
		tl      Timeline
		ok      bool
		want    float64
		counted bool
	}{
		// 0.5% of 12,000 = 60 failures allowed; 30 failed
		{"half the budget", measured("availability", 99.75, 99.5), tl, true, 0.5, true},
		{"none failed", measured("availability", 100, 99.5), Timeline{Total: 6000}, true, 0, true},
		{"over budget", measured("availability", 98.5, 99.5), Timeline{Total: 1000, Failed: 15}, true, 3, true},
		{"nothing allowed, none failed", measured("availability", 100, 100), Timeline{Total: 10}, true, 0, true},
		{"nothing allowed, one failed", measured("availability", 90, 100), Timeline{Total: 10, Failed: 1}, true, math.Inf(1), true},
		// over part of the run: known from the percentage alone
		{"partial check", measured("availability-after-endpoints-moved", 21.304, 99.5), tl, true, (100 - 21.304) / 0.5, false},
		{"partial check within", measured("availability-after-endpoints-moved", 99.9, 99.5), tl, true, 0.2, false},
		{"latency is no availability", AtMost("latency-p99", "p99", 40, 500, "ms"), tl, false, 0, false},
		{"failed requests count", AtMost("failed-requests", "f", 0, 0, "requests"), tl, false, 0, false},
		{"skipped", NotJudged("availability", "a", "no budget"), tl, false, 0, false},
		{"nothing measured", Unmeasured("availability", "a", ">=", 99.5, "%", "no request"), tl, false, 0, false},
	}
	for _, c := range cases {
		b, ok := availabilityBudget(c.c, c.tl)
		if ok != c.ok {
			t.Errorf("%s: ok %v, want %v", c.name, ok, c.ok)
			continue
		}
		if ok && (math.Abs(b.Consumed-c.want) > 1e-9 && !(math.IsInf(b.Consumed, 1) && math.IsInf(c.want, 1)) || b.Counted != c.counted) {
			t.Errorf("%s: consumed %g counted %v, want %g %v", c.name, b.Consumed, b.Counted, c.want, c.counted)
		}
	}
}

// Offsets of a fault's instants come from its own offset: a pod kill whose
// (empty) revert comes before the effect, a node fault with a revert, and a
// fault that never took effect.
func TestFaultSpans(t *testing.T) {
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	faults := []Fault{
		{ID: "k1", Kind: "pod-kill", Issued: at(20), Reverted: at(20.07), InEffect: at(25.9), Offset: 10, TookEffect: true},
		{ID: "n1", Kind: "node-shutdown", Issued: at(20), InEffect: at(70), RevertIssued: at(110), Reverted: at(125), Offset: 10, TookEffect: true},
		{ID: "d1", Kind: "drain", Issued: at(20), Reverted: at(60.5), Offset: 10, Error: "refused", Stage: "apply"},
		{ID: "k2", Kind: "pod-kill", Issued: at(40), Offset: 30, Error: "no Ready pod", Stage: "plan"},
	}
	got := faultSpans(faults)
	f := func(v float64) *float64 { return &v }
	want := []faultSpan{
		{ID: "k1", Label: "pod-kill 1", Kind: "pod-kill", Start: 10, InEffect: f(15.9), End: 15.9, TookEffect: true},
		{ID: "n1", Label: "node-shutdown 1", Kind: "node-shutdown", Start: 10, InEffect: f(60), RevertIssued: f(100), End: 115, TookEffect: true},
		{ID: "d1", Label: "drain 1", Kind: "drain", Start: 10, End: 50.5, Error: "refused"},
		{ID: "k2", Label: "pod-kill 2", Kind: "pod-kill", Start: 30, End: 30, Error: "no Ready pod"},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("spans\n got %s\nwant %s", gj, wj)
	}
	recs := recoveryMarks(faults, []Recovery{
		{FaultID: "k1", Issued: at(20), Recovered: at(22.4), Outcome: Recovered, Seconds: f(2.4)},
		{FaultID: "n1", Issued: at(20), Outcome: NeverRecovered},
		{FaultID: "unknown", Issued: at(20), Recovered: at(21), Outcome: Recovered, Seconds: f(1)},
	})
	if len(recs) != 1 || recs[0].T != 12.4 {
		t.Fatalf("recoveries %+v", recs)
	}
}

func TestReplicaSteps(t *testing.T) {
	got := replicaStepsOf([]ReplicaPoint{{-0.3, 1, 0}, {-0.3, 3, 0}, {-0.29, 3, 3}, {10.1, 2, 3}, {12.4, 3, 3}}, 60)
	want := replicaSteps{Source: 5, T: series{0, 10.1, 12.4, 60}, Ready: series{3, 2, 3, 3}, Desired: series{3, 3, 3, 3}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("\n got %s\nwant %s", gj, wj)
	}
	if got := replicaStepsOf(nil, 60); len(got.T) != 0 {
		t.Fatalf("no points: %+v", got)
	}
}

func TestNodeLanes(t *testing.T) {
	got := nodeLanesOf([]NodePoint{
		{T: -0.2, Node: "w2", Ready: "True", Schedulable: true},
		{T: -0.2, Node: "w1", Ready: "True", Schedulable: true},
		{T: 10, Node: "w1", Ready: "True", Schedulable: false},
		{T: 58, Node: "w2", Ready: "Unknown", Schedulable: true},
		{T: 70, Node: "w3", Ready: "False", Schedulable: true},
		{T: 106, Node: "w2", Ready: "True", Schedulable: true},
	}, 120)
	want := nodeLanes{Source: 6, Names: []string{"w1", "w2", "w3"}, T: series{0, 10, 58, 70, 106, 120}, States: [][]string{
		{"R", "Rc", "Rc", "Rc", "Rc", "Rc"},
		{"R", "R", "U", "U", "R", "R"},
		{"", "", "", "N", "N", "N"},
	}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("\n got %s\nwant %s", gj, wj)
	}
}

// render rebuilds what WriteFolder writes, except report.json (its input).
func TestRenderFolder(t *testing.T) {
	dir := copySample(t, "node-failure-colocated-fail")
	written, err := RenderFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	if err := WriteFolder(fresh, readSample(t, "node-failure-colocated-fail")); err != nil {
		t.Fatal(err)
	}
	var want []string
	entries, _ := os.ReadDir(fresh)
	for _, e := range entries {
		if e.Name() != "report.json" {
			want = append(want, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(written)
	if !slices.Equal(written, want) {
		t.Fatalf("render wrote %v, WriteFolder writes %v", written, want)
	}
	for _, name := range []string{"report.html", "summary.md"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, _ := os.ReadFile(filepath.Join(fresh, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: rendered from the folder differs from the run's own (%d vs %d bytes)", name, len(a), len(b))
		}
	}
}

func TestReadFolderNamesTheFileAtFault(t *testing.T) {
	empty := t.TempDir()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "report.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	newer := t.TempDir()
	if err := os.WriteFile(filepath.Join(newer, "report.json"), []byte(`{"schemaVersion": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	notReport := t.TempDir()
	if err := os.WriteFile(filepath.Join(notReport, "report.json"), []byte(`{"name": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ dir, path, want string }{
		{"/does/not/exist", "/does/not/exist", "no such file"},
		{empty, filepath.Join(empty, "report.json"), "missing"},
		{bad, filepath.Join(bad, "report.json"), "not a chaosgate report"},
		{newer, filepath.Join(newer, "report.json"), "schemaVersion 99"},
		{notReport, filepath.Join(notReport, "report.json"), "no schemaVersion"},
	}
	for _, c := range cases {
		_, err := ReadFolder(c.dir)
		var in *InputError
		if !errors.As(err, &in) || in.Path != c.path || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an input error on %s saying %q", c.dir, err, c.path, c.want)
		}
	}
}

// A run still in progress (or crashed) has no scenario yet, and a scenario
// whose setup failed has nothing to chart: the page says so, without failing.
func TestHTMLRunningReport(t *testing.T) {
	r := Report{SchemaVersion: SchemaVersion, Run: Run{ID: "r", Status: StatusRunning, Started: t0}}
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "RUNNING") {
		t.Fatal("a running report must say so")
	}
	b.Reset()
	if err := WriteHTML(&b, setupFailedReport()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ERROR: the infrastructure failed", "BeforeAll failed", "workload did not roll out"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLNamesSkippedSuites(t *testing.T) {
	r := Report{SchemaVersion: SchemaVersion, Run: Run{ID: "r", Status: StatusPassed, Started: t0,
		Skipped: []SkippedSuite{{Name: "config-rollout", Reason: "the target Deployment web reads no ConfigMap"}}}}
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "config-rollout: the target Deployment web reads no ConfigMap") {
		t.Error("the page does not say which suite was skipped and why")
	}
}
