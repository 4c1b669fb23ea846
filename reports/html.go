package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// The HTML report is one self-contained file: uPlot (reports/assets/uplot,
// MIT) and the page's own script and style are embedded, the data is a JSON
// block, and nothing is loaded from anywhere else.

var (
	//go:embed assets/uplot/uPlot.iife.min.js
	uplotJS string
	//go:embed assets/uplot/uPlot.min.css
	uplotCSS string
	//go:embed assets/charts.js
	chartsJS string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.html.tmpl
	reportTmpl string
)

var reportTemplate = template.Must(template.New("report").Parse(reportTmpl))

// WriteHTML renders the report as one self-contained HTML page with charts.
func WriteHTML(w io.Writer, r Report) error {
	v, err := buildPage(r)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := reportTemplate.Execute(&b, v); err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

// pageAssets are the embedded script and style every page carries.
type pageAssets struct {
	UPlotJS  template.JS
	ChartsJS template.JS
	CSS      template.CSS
}

func assets() pageAssets {
	return pageAssets{UPlotJS: template.JS(uplotJS), ChartsJS: template.JS(chartsJS), CSS: template.CSS(uplotCSS + "\n" + reportCSS)}
}

type pageView struct {
	pageAssets
	Title     string
	Verdict   verdictView
	Context   []keyValue
	Files     []string
	Scenarios []scenarioView
	// Data is the charts' JSON, read by the page's script.
	Data template.JS
}

type verdictView struct {
	Class, Text string
	Breached    []string
	Error       string
}

type keyValue struct{ Key, Value string }

type scenarioView struct {
	ID, Name, Description string
	Status, StatusClass   string
	Error                 string
	Summary               string
	// Inside is what the cluster itself showed: where the load came from,
	// the autoscalers, how the pods' own counts spread.
	Inside    []string
	Budgets   []budgetView
	Checks    []checkRow
	Faults    []faultRow
	TopErrors []ErrorCount
	// What there is to chart: no load ran when a scenario failed early.
	HasWindows, HasReplicas, HasNodes, HasUsage bool
}

type checkRow struct {
	Name, ID, Threshold, Measured string
	Result, Scope, Detail         string
}

type budgetView struct {
	Check, Consumed, Note string
	// Bar is the meter's width in percent (capped at 100).
	Bar  float64
	Over bool
}

type faultRow struct {
	Label, Kind, Description, Targets string
	At, Effect, Reverted, Recovery    string
	Problem                           string
}

// buildPage computes everything the template shows.
func buildPage(r Report) (pageView, error) {
	v := pageView{pageAssets: assets(), Title: "chaosgate run " + r.Run.ID, Verdict: verdictOf(r), Context: runContext(r.Run), Files: rawFiles(r)}
	var charts []chartScenario
	for i, s := range r.Scenarios {
		id := fmt.Sprintf("s%d", i)
		charts = append(charts, buildChartScenario(id, s))
		v.Scenarios = append(v.Scenarios, scenarioViewOf(id, s))
	}
	data, err := json.Marshal(map[string]any{"kind": "report", "scenarios": charts})
	if err != nil {
		return pageView{}, fmt.Errorf("encode chart data: %w", err)
	}
	// json.Marshal escapes <, > and &, so the data cannot close its script
	// element.
	v.Data = template.JS(data)
	return v, nil
}

var verdicts = map[Status]verdictView{
	StatusPassed:      {Class: "pass", Text: "PASSED: every SLO held"},
	StatusFailed:      {Class: "fail", Text: "FAILED: SLO breached"},
	StatusError:       {Class: "error", Text: "ERROR: the infrastructure failed; the verdict is incomplete"},
	StatusInterrupted: {Class: "error", Text: "INTERRUPTED: active faults were reverted; the report is partial"},
	StatusRunning:     {Class: "running", Text: "RUNNING: the run has not finished (or crashed); the report is partial"},
}

func verdictOf(r Report) verdictView {
	v, ok := verdicts[r.Run.Status]
	if !ok {
		v = verdictView{Class: "error", Text: strings.ToUpper(string(r.Run.Status))}
	}
	v.Breached = r.BreachedChecks()
	v.Error = r.Run.Error
	return v
}

func skippedText(sk []SkippedSuite) string {
	parts := make([]string, len(sk))
	for i, s := range sk {
		parts[i] = s.Name + ": " + s.Reason
	}
	return strings.Join(parts, "; ")
}

func runContext(run Run) []keyValue {
	kv := []keyValue{
		{"Command", strings.Join(run.Command, " ")},
		{"Cluster", run.Cluster}, {"Context", run.Context},
		{"Workload", run.Workload}, {"Target", run.Target},
		{"Started", formatTime(run.Started)},
		{"Duration", formatDuration(run.Started, run.Finished)},
		{"Run ID", run.ID},
		{"Skipped", skippedText(run.Skipped)},
	}
	out := kv[:0]
	for _, e := range kv {
		if e.Value != "" {
			out = append(out, e)
		}
	}
	return out
}

// rawFiles lists the folder's raw files, relative to the report.
func rawFiles(r Report) []string {
	files := []string{"report.json", "junit.xml", "summary.md", "events.jsonl"}
	for _, s := range r.Scenarios {
		if s.ResultsFile != "" && !strings.Contains(s.ResultsFile, "..") {
			files = append(files, s.ResultsFile)
		}
	}
	return files
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

func formatDuration(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return ""
	}
	return to.Sub(from).Round(time.Second).String()
}

var statusClass = map[Status]string{StatusPassed: "pass", StatusFailed: "fail", StatusSkipped: "skip"}

func scenarioViewOf(id string, s Scenario) scenarioView {
	t := s.Timeline
	v := scenarioView{ID: id, Name: s.Name, Description: s.Description, Status: string(s.Status), StatusClass: statusClass[s.Status],
		Error: s.Error, TopErrors: t.TopErrors, HasWindows: len(t.Windows) > 0, HasReplicas: len(s.Replicas) > 0, HasNodes: len(s.Nodes) > 0,
		HasUsage: len(s.Usage) > 0 || len(s.PodRates) > 0}
	if v.StatusClass == "" {
		v.StatusClass = "error"
	}
	v.Summary = "No request was sent."
	if t.Total > 0 {
		v.Summary = fmt.Sprintf("%d requests at %.0f/s (target %.0f/s), %d failed, availability %.3f%%, p50 %.1fms, p99 %.1fms, longest failure %.2fs; %d fault(s), %d failed interval(s).",
			t.Total, t.AchievedRate, t.TargetRate, t.Failed, t.Availability*100, t.LatencyMS.P50, t.LatencyMS.P99,
			t.LongestFailure.DurationSeconds, len(s.Faults), len(t.FailedIntervals))
	}
	if s.Load.Agents > 0 {
		v.Inside = append(v.Inside, fmt.Sprintf("Load sent from %d agent pod(s) inside the cluster to %s.", s.Load.Agents, s.Load.Target))
	}
	if p := LoadProfile(s.Load); p != "" {
		v.Inside = append(v.Inside, p)
	}
	for _, n := range s.Notes {
		v.Inside = append(v.Inside, "Before the load: "+n+".")
	}
	v.Inside = append(v.Inside, AutoscalerSummary(s.HPA)...)
	if len(s.PodTraffic) > 0 {
		v.Inside = append(v.Inside, "Requests counted by the pods themselves: "+TrafficSpread(s.PodTraffic)+".")
	}
	for _, c := range s.Checks {
		v.Checks = append(v.Checks, checkRowOf(c))
		if b, ok := availabilityBudget(c, t); ok {
			v.Budgets = append(v.Budgets, budgetViewOf(c, b))
		}
	}
	v.Faults = faultRows(s)
	return v
}

func checkRowOf(c Check) checkRow {
	row := checkRow{Name: c.Name, ID: c.ID, Measured: c.MeasuredValue(), Detail: c.Detail, Scope: c.Scope, Result: "pass"}
	if row.Scope == "" {
		row.Scope = ScopeWorkload
	}
	switch {
	case c.Skipped:
		row.Result, row.Measured = "skipped", "not judged"
	case !c.Passed:
		row.Result = "fail"
	}
	if c.Comparator != "" {
		row.Threshold = c.Comparator + " " + FormatValue(c.Threshold, c.Unit)
	}
	return row
}

func budgetViewOf(c Check, b errorBudget) budgetView {
	v := budgetView{Check: c.Name, Over: b.Consumed > 1, Bar: math.Min(b.Consumed*100, 100)}
	switch {
	case math.IsInf(b.Consumed, 1):
		v.Consumed = "exhausted"
		v.Note = "the SLO allows no failed request"
	case b.Consumed > 1:
		v.Consumed = fmt.Sprintf("%.1f× the budget", b.Consumed)
	default:
		v.Consumed = fmt.Sprintf("%.1f%% consumed", b.Consumed*100)
	}
	if b.Counted {
		v.Note = fmt.Sprintf("%.0f failed of %.0f allowed", b.Failed, math.Floor(b.Allowed))
	} else if v.Note == "" {
		v.Note = "over the requests this check judges"
	}
	return v
}

func faultRows(s Scenario) []faultRow {
	recs := map[string]Recovery{}
	for _, r := range s.Recoveries {
		recs[r.FaultID] = r
	}
	var out []faultRow
	for i, sp := range faultSpans(s.Faults) {
		f := s.Faults[i]
		row := faultRow{Label: sp.Label, Kind: f.Kind, Description: f.Description, Targets: strings.Join(f.Targets, ", "),
			At: fmt.Sprintf("%.1fs", sp.Start), Effect: "not observed", Reverted: "—", Recovery: "—"}
		if sp.InEffect != nil {
			row.Effect = fmt.Sprintf("%.1fs (after %.1fs)", *sp.InEffect, *sp.InEffect-sp.Start)
		}
		if t := offsetOf(f, f.Reverted); t != nil {
			row.Reverted = fmt.Sprintf("%.1fs", *t)
		}
		if rc, ok := recs[f.ID]; ok {
			switch {
			case rc.Seconds != nil:
				row.Recovery = fmt.Sprintf("%.1fs", *rc.Seconds)
			case rc.Outcome == NotApplicable:
				row.Recovery = "n/a (not applied)"
			default:
				row.Recovery = "never"
			}
		}
		var problems []string
		if f.Error != "" {
			p := f.Error
			if f.Stage != "" {
				p = f.Stage + ": " + p
			}
			problems = append(problems, p)
		}
		if f.RevertError != "" {
			problems = append(problems, "revert: "+f.RevertError)
		}
		row.Problem = strings.Join(problems, "; ")
		out = append(out, row)
	}
	return out
}
