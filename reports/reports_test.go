package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func sample() Report {
	s := Scenario{
		Name: "self-healing", Started: t0, Status: StatusRunning,
		Timeline: Timeline{Total: 12000, OK: 11950, Failed: 50, Availability: 11950.0 / 12000, TargetRate: 200, AchievedRate: 199.9,
			LatencyMS: Latency{P50: 2.1, P99: 9.5}, LongestFailure: Interval{Start: 10, End: 10.4, DurationSeconds: .4, Failed: 50}},
		Recoveries: []Recovery{{FaultID: "f1", Outcome: Recovered, Seconds: ptr(2.5)}, {FaultID: "f2", Outcome: NeverRecovered}},
		Checks: []Check{
			AtLeast("availability", "availability >= 99.5%", 99.583, 99.5, "%"),
			AtMost("recovery-time", "recovery time <= 30s", 31.2, 30, "s"),
		},
	}
	s.Finish(t0.Add(time.Minute))
	r := Report{SchemaVersion: SchemaVersion, Run: Run{ID: "r1", Started: t0, Cluster: "chaosgate", Workload: "sample|app", Target: "sampleapp:80"}, Scenarios: []Scenario{s}}
	r.Finish(t0.Add(2*time.Minute), StatusFailed)
	return r
}

func ptr[T any](v T) *T { return &v }

func TestChecks(t *testing.T) {
	cases := []struct {
		c    Check
		pass bool
	}{
		{AtLeast("a", "a", 99.5, 99.5, "%"), true},
		{AtLeast("a", "a", 99.49, 99.5, "%"), false},
		{AtMost("b", "b", 2, 2, "s"), true},
		{AtMost("b", "b", 2.01, 2, "s"), false},
	}
	for _, c := range cases {
		if c.c.Passed != c.pass {
			t.Errorf("%+v: passed=%v", c.c, c.c.Passed)
		}
	}
	msg := AtMost("r", "recovery time <= 30s", 31.2, 30, "s").Message()
	if msg != "FAIL: recovery time <= 30s measured 31.20s, threshold <= 30.00s" {
		t.Fatalf("message %q", msg)
	}
}

func TestScenarioStatus(t *testing.T) {
	r := sample()
	if r.Scenarios[0].Status != StatusFailed {
		t.Fatalf("status %s", r.Scenarios[0].Status)
	}
	if got := r.BreachedChecks(); len(got) != 1 || got[0] != "self-healing: recovery time <= 30s" {
		t.Fatalf("breached %v", got)
	}
	cases := []struct {
		s    Scenario
		want Status
	}{
		{Scenario{Checks: []Check{AtLeast("a", "a", 1, 1, "")}}, StatusPassed},
		{Scenario{Checks: []Check{AtLeast("a", "a", 1, 1, "")}, Error: "deploy failed"}, StatusError},
		{Scenario{Checks: []Check{Unmeasured("r", "r", "<=", 30, "s", "never")}}, StatusFailed},
		// a scenario that judged nothing is not a pass
		{Scenario{}, StatusError},
	}
	for i, c := range cases {
		c.s.Finish(t0)
		if c.s.Status != c.want {
			t.Errorf("case %d: status %s, want %s", i, c.s.Status, c.want)
		}
	}
}

// A check that could measure nothing says what it saw, and its value is
// null in JSON, never a zero that reads as a perfect result.
func TestUnmeasuredCheck(t *testing.T) {
	c := Unmeasured("recovery-time", "all replicas Ready within 30s of every kill", "<=", 30, "s", "never")
	if c.Passed || c.MeasuredValue() != "never" || !strings.Contains(c.Message(), "measured never") {
		t.Fatalf("%+v: %s", c, c.Message())
	}
	data, _ := json.Marshal(c)
	if !strings.Contains(string(data), `"measured":null`) {
		t.Fatalf("json %s", data)
	}
	var buf bytes.Buffer
	r := Report{Run: Run{ID: "x", Status: StatusFailed}, Scenarios: []Scenario{{Name: "s", Checks: []Check{c}}}}
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "| <= 30.00s | never | ❌ |") {
		t.Fatalf("markdown:\n%s", buf.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	c := back.Scenarios[0].Checks[0]
	if back.SchemaVersion != SchemaVersion || c.Measured == nil || *c.Measured != 99.583 || c.Threshold != 99.5 || c.Comparator != ">=" || !c.Passed {
		t.Fatalf("round trip: %+v", back)
	}
	if !strings.Contains(buf.String(), `"availability": 0.9958`) {
		t.Fatalf("timeline availability missing:\n%s", buf.String())
	}
}

func TestMarkdown(t *testing.T) {
	var buf bytes.Buffer
	r := sample()
	r.Run.Skipped = []SkippedSuite{{Name: "config-rollout", Reason: "the target Deployment web reads no ConfigMap"}}
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	for _, want := range []string{"❌ SLO breached", "Suite `config-rollout` skipped: the target Deployment web reads no ConfigMap.", "| self-healing | availability >= 99.5% | >= 99.500% | 99.583% | ✅ |", "| recovery time <= 30s | <= 30.00s | 31.20s | ❌ |", `sample\|app`, "Recovery after each fault: 2.5s, never."} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteFolderAndJSONLines(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFolder(dir, sample()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.json", "summary.md"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	jl, err := CreateJSONLines(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_ = jl.Write(map[string]int{"a": 1})
	_ = jl.Write(map[string]int{"a": 2})
	// on disk before Close
	data, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
	if n := len(bytes.Split(bytes.TrimSpace(data), []byte("\n"))); n != 2 {
		t.Fatalf("%d lines before close", n)
	}
	_ = jl.Close()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var m map[string]int
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTrafficSpreadNamesSharesAndImbalance(t *testing.T) {
	got := TrafficSpread([]PodTraffic{{Pod: "a", Requests: 300, Share: 0.5}, {Pod: "b", Requests: 200, Share: 1.0 / 3}, {Pod: "c", Requests: 100, Share: 1.0 / 6, Errors: 4}})
	if want := "a 50.0%, b 33.3%, c 16.7% (busiest/least busy 3.00x); 4 answered 5xx"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := TrafficSpread([]PodTraffic{{Pod: "a", Requests: 10, Share: 1}}); got != "a 100.0%" {
		t.Fatalf("one pod: %q", got)
	}
}

func TestMarkdownShowsTheLoadProfileAndWhatWasDecidedBeforeIt(t *testing.T) {
	r := sample()
	r.Scenarios[0].Load.Phases = []LoadPhase{{Rate: 20, DurationSeconds: 10}, {StartSeconds: 10, DurationSeconds: 60, Rate: 180}, {StartSeconds: 70, DurationSeconds: 75, Rate: 20, RampTo: 10}}
	r.Scenarios[0].Notes = []string{"step: 180 req/s"}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Load profile: 20 req/s from 0s for 10s, then 180 req/s from 10s for 60s, then 20 to 10 req/s from 70s for 75s.", "Before the load: step: 180 req/s."} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, buf.String())
		}
	}
	if LoadProfile(Load{Rate: 100}) != "" {
		t.Error("a constant load has no profile to describe")
	}
}
