package reports

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteJSON renders the report as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// JUnit XML, in the schema CI systems read (Jenkins, GitLab, GitHub
// actions): one testsuite per scenario, one testcase per SLO check.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     float64      `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Time      float64     `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit renders one test case per SLO check. A scenario that could not
// run is one test case with an error, so CI shows it rather than nothing.
func WriteJUnit(w io.Writer, r Report) error {
	out := junitSuites{Name: "chaosgate " + r.Run.ID}
	if !r.Run.Finished.IsZero() {
		out.Time = r.Run.Finished.Sub(r.Run.Started).Seconds()
	}
	for _, s := range r.Scenarios {
		js := junitSuite{Name: s.Name}
		if !s.Started.IsZero() {
			js.Timestamp = s.Started.UTC().Format("2006-01-02T15:04:05")
		}
		if !s.Finished.IsZero() {
			js.Time = s.Finished.Sub(s.Started).Seconds()
		}
		for _, c := range s.Checks {
			jc := junitCase{Name: c.Name, Classname: "chaosgate." + s.Name, SystemOut: c.Message()}
			if !c.Passed {
				jc.Failure = &junitMessage{Message: c.Message(), Type: "SLOBreached", Text: c.Message()}
				js.Failures++
			}
			js.Cases = append(js.Cases, jc)
		}
		if s.Error != "" {
			js.Cases = append(js.Cases, junitCase{Name: "scenario ran", Classname: "chaosgate." + s.Name,
				Error: &junitMessage{Message: s.Error, Type: "InfrastructureError", Text: s.Error}})
			js.Errors++
		}
		js.Tests = len(js.Cases)
		out.Tests += js.Tests
		out.Failures += js.Failures
		out.Errors += js.Errors
		out.Suites = append(out.Suites, js)
	}
	if r.Run.Error != "" {
		out.Suites = append(out.Suites, junitSuite{Name: "run", Tests: 1, Errors: 1, Cases: []junitCase{{
			Name: "run completed", Classname: "chaosgate.run",
			Error: &junitMessage{Message: r.Run.Error, Type: "InfrastructureError", Text: r.Run.Error},
		}}})
		out.Tests++
		out.Errors++
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// WriteMarkdown renders a summary a CI job can paste into a pull request.
func WriteMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	icon := map[Status]string{StatusPassed: "✅ passed", StatusFailed: "❌ SLO breached", StatusError: "⚠️ error", StatusRunning: "⏳ running"}
	fmt.Fprintf(&b, "## chaosgate run %s: %s\n\n", r.Run.ID, icon[r.Run.Status])
	fmt.Fprintf(&b, "Workload `%s`, target `%s`, cluster `%s`", mdEscape(r.Run.Workload), mdEscape(r.Run.Target), mdEscape(r.Run.Cluster))
	if !r.Run.Finished.IsZero() {
		fmt.Fprintf(&b, ", %s", r.Run.Finished.Sub(r.Run.Started).Round(1e9))
	}
	b.WriteString(".\n\n")
	if r.Run.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", mdEscape(r.Run.Error))
	}
	b.WriteString("| Scenario | Check | Threshold | Measured | Result |\n|---|---|---|---|---|\n")
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			res := "✅"
			if !c.Passed {
				res = "❌"
			}
			fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s |\n", mdEscape(s.Name), mdEscape(c.Name), c.Comparator,
				FormatValue(c.Threshold, c.Unit), FormatValue(c.Measured, c.Unit), res)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "| %s | scenario ran | | %s | ⚠️ |\n", mdEscape(s.Name), mdEscape(s.Error))
		}
	}
	for _, s := range r.Scenarios {
		t := s.Timeline
		fmt.Fprintf(&b, "\n**%s**: %d requests at %.0f/s (target %.0f/s), %d failed, availability %.3f%%, p50 %.1fms, p99 %.1fms, longest failure %.2fs; %d fault(s), %d failed interval(s).\n",
			mdEscape(s.Name), t.Total, t.AchievedRate, t.TargetRate, t.Failed, t.Availability*100, t.LatencyMS.P50, t.LatencyMS.P99,
			t.LongestFailure.DurationSeconds, len(s.Faults), len(t.FailedIntervals))
		if len(s.Recoveries) > 0 {
			var parts []string
			for _, rc := range s.Recoveries {
				if rc.Seconds < 0 {
					parts = append(parts, "never")
				} else {
					parts = append(parts, fmt.Sprintf("%.1fs", rc.Seconds))
				}
			}
			fmt.Fprintf(&b, "Recovery after each fault: %s.\n", strings.Join(parts, ", "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// WriteFolder writes report.json, junit.xml and summary.md into dir, each
// atomically (a reader never sees half a file).
func WriteFolder(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, render := range map[string]func(io.Writer, Report) error{
		"report.json": WriteJSON, "junit.xml": WriteJUnit, "summary.md": WriteMarkdown,
	} {
		if err := writeAtomic(filepath.Join(dir, name), func(w io.Writer) error { return render(w, r) }); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func writeAtomic(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
