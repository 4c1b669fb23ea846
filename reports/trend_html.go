package reports

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed assets/trend.html.tmpl
var trendTmpl string

var trendTemplate = template.Must(template.New("trend").Parse(trendTmpl))

// WriteTrendHTML renders runs (oldest first) and the last run's regressions
// as one self-contained page. Links to each run's report.html are made
// relative to outDir, the folder the page is written to.
func WriteTrendHTML(w io.Writer, runs []TrendRun, regs []Regression, outDir string) error {
	v, err := buildTrendPage(runs, regs, outDir)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := trendTemplate.Execute(&b, v); err != nil {
		return fmt.Errorf("render trend page: %w", err)
	}
	_, err = w.Write(b.Bytes())
	return err
}

type trendPage struct {
	pageAssets
	Title       string
	Runs        int
	Verdict     verdictView
	Regressions []string
	Scenarios   []trendScenarioView
	Data        template.JS
}

type trendScenarioView struct {
	ID, Name string
	Rows     []trendRow
}

type trendRow struct {
	Run, Link, Started, Status                string
	Availability, Recovery, P99, FailedChecks string
	Regressed                                 bool
}

// trendChartData is what the page's script draws per scenario; NaN is a run
// without the figure (or without the scenario).
type trendChartData struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Availability series `json:"availability"`
	Recovery     series `json:"recovery"`
	P99          series `json:"p99"`
	FailedChecks series `json:"failedChecks"`
}

func buildTrendPage(runs []TrendRun, regs []Regression, outDir string) (trendPage, error) {
	v := trendPage{pageAssets: assets(), Title: fmt.Sprintf("chaosgate trend: %d run(s)", len(runs)), Runs: len(runs)}
	switch {
	case len(regs) > 0:
		v.Verdict = verdictView{Class: "fail", Text: fmt.Sprintf("REGRESSED: the last run is worse than the earlier ones in %d figure(s)", len(regs))}
	case len(runs) < 2:
		v.Verdict = verdictView{Class: "running", Text: "ONE RUN: nothing earlier to compare with"}
	default:
		v.Verdict = verdictView{Class: "pass", Text: "NO REGRESSION: the last run is within tolerance of the earlier ones"}
	}
	regressed := map[string]bool{}
	for _, r := range regs {
		v.Regressions = append(v.Regressions, r.String())
		regressed[r.Scenario] = true
	}
	labels := make([]string, len(runs))
	for i, r := range runs {
		labels[i] = r.ID
	}
	var names []string
	for _, r := range runs {
		for name := range r.Scenarios {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	var charts []trendChartData
	for i, name := range names {
		c := trendChartData{ID: fmt.Sprintf("t%d", i), Name: name}
		sv := trendScenarioView{ID: c.ID, Name: name}
		for j, r := range runs {
			f, ok := r.Scenarios[name]
			if !ok {
				f = Figures{Availability: math.NaN(), P99: math.NaN(), WorstRecovery: math.NaN()}
			}
			c.Availability = append(c.Availability, round(f.Availability, 3))
			c.Recovery = append(c.Recovery, round(f.WorstRecovery, 3))
			c.P99 = append(c.P99, round(f.P99, 2))
			failed := math.NaN()
			if ok {
				failed = float64(len(f.FailedChecks))
			}
			c.FailedChecks = append(c.FailedChecks, failed)
			if !ok {
				continue
			}
			sv.Rows = append(sv.Rows, trendRowOf(r, f, outDir, j == len(runs)-1 && regressed[name]))
		}
		charts = append(charts, c)
		v.Scenarios = append(v.Scenarios, sv)
	}
	data, err := json.Marshal(map[string]any{"kind": "trend", "labels": labels, "scenarios": charts})
	if err != nil {
		return trendPage{}, fmt.Errorf("encode trend data: %w", err)
	}
	v.Data = template.JS(data)
	return v, nil
}

func trendRowOf(r TrendRun, f Figures, outDir string, regressed bool) trendRow {
	row := trendRow{Run: r.ID, Started: formatTime(r.Started), Status: string(f.Status), Regressed: regressed,
		Availability: "—", Recovery: "—", P99: "—", FailedChecks: fmt.Sprintf("%d", len(f.FailedChecks))}
	if link, err := filepath.Rel(outDir, filepath.Join(r.Dir, "report.html")); err == nil {
		row.Link = filepath.ToSlash(link)
	}
	if !math.IsNaN(f.Availability) {
		row.Availability = fmt.Sprintf("%.3f%%", f.Availability)
	}
	if !math.IsNaN(f.P99) {
		row.P99 = fmt.Sprintf("%.1fms", f.P99)
	}
	switch {
	case f.NeverRecovered > 0:
		row.Recovery = fmt.Sprintf("never (%d)", f.NeverRecovered)
	case !math.IsNaN(f.WorstRecovery):
		row.Recovery = fmt.Sprintf("%.1fs", f.WorstRecovery)
	}
	if len(f.FailedChecks) > 0 {
		row.FailedChecks += ": " + strings.Join(f.FailedChecks, ", ")
	}
	return row
}
