package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
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

// WriteMarkdown renders a summary a CI job can paste into a pull request.
func WriteMarkdown(w io.Writer, r Report) error {
	var b strings.Builder
	icon := map[Status]string{StatusPassed: "✅ passed", StatusFailed: "❌ SLO breached", StatusError: "⚠️ error",
		StatusRunning: "⏳ running", StatusInterrupted: "⏹ interrupted"}
	fmt.Fprintf(&b, "## chaosgate run %s: %s\n\n", r.Run.ID, icon[r.Run.Status])
	fmt.Fprintf(&b, "Workload `%s`, target `%s`, cluster `%s`", mdEscape(r.Run.Workload), mdEscape(r.Run.Target), mdEscape(r.Run.Cluster))
	if !r.Run.Finished.IsZero() {
		fmt.Fprintf(&b, ", %s", r.Run.Finished.Sub(r.Run.Started).Round(1e9))
	}
	b.WriteString(".\n\n")
	if r.Run.Error != "" {
		fmt.Fprintf(&b, "**Error:** %s\n\n", mdEscape(r.Run.Error))
	}
	for _, sk := range r.Run.Skipped {
		fmt.Fprintf(&b, "Suite `%s` skipped: %s.\n\n", mdEscape(sk.Name), mdEscape(sk.Reason))
	}
	b.WriteString("| Scenario | Check | Threshold | Measured | Result |\n|---|---|---|---|---|\n")
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			res := "✅"
			if !c.Passed {
				res = "❌"
			}
			fmt.Fprintf(&b, "| %s | %s | %s %s | %s | %s |\n", mdEscape(s.Name), mdEscape(c.Name), c.Comparator,
				FormatValue(c.Threshold, c.Unit), c.MeasuredValue(), res)
		}
		switch {
		case s.Status == StatusSkipped:
			fmt.Fprintf(&b, "| %s | skipped | | %s | ⏭ |\n", mdEscape(s.Name), mdEscape(s.Error))
		case s.Error != "":
			fmt.Fprintf(&b, "| %s | scenario ran | | %s | ⚠️ |\n", mdEscape(s.Name), mdEscape(s.Error))
		}
	}
	for _, s := range r.Scenarios {
		t := s.Timeline
		fmt.Fprintf(&b, "\n**%s**: %d requests at %.0f/s (target %.0f/s), %d failed, availability %.3f%%, p50 %.1fms, p99 %.1fms, longest failure %.2fs; %d fault(s), %d failed interval(s).\n",
			mdEscape(s.Name), t.Total, t.AchievedRate, t.TargetRate, t.Failed, t.Availability*100, t.LatencyMS.P50, t.LatencyMS.P99,
			t.LongestFailure.DurationSeconds, len(s.Faults), len(t.FailedIntervals))
		if p := LoadProfile(s.Load); p != "" {
			fmt.Fprintf(&b, "%s\n", mdEscape(p))
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "Before the load: %s.\n", mdEscape(n))
		}
		for _, line := range AutoscalerSummary(s.HPA) {
			fmt.Fprintf(&b, "%s\n", mdEscape(line))
		}
		if len(s.PodTraffic) > 0 {
			fmt.Fprintf(&b, "Requests counted by the pods themselves: %s.\n", mdEscape(TrafficSpread(s.PodTraffic)))
		}
		if s.Load.Agents > 0 {
			fmt.Fprintf(&b, "Load sent from %d agent pod(s) inside the cluster to `%s`.\n", s.Load.Agents, mdEscape(s.Load.Target))
		}
		if len(s.Recoveries) > 0 {
			var parts []string
			for _, rc := range s.Recoveries {
				switch {
				case rc.Seconds != nil:
					parts = append(parts, fmt.Sprintf("%.1fs", *rc.Seconds))
				case rc.Outcome == NotApplicable:
					parts = append(parts, "n/a (not applied)")
				default:
					parts = append(parts, "never")
				}
			}
			fmt.Fprintf(&b, "Recovery after each fault: %s.\n", strings.Join(parts, ", "))
		}
		var notInEffect []string
		for _, f := range s.Faults {
			if !f.TookEffect {
				notInEffect = append(notInEffect, fmt.Sprintf("%s at %.1fs: %s", f.Kind, f.Offset, f.Error))
			}
		}
		if len(notInEffect) > 0 {
			fmt.Fprintf(&b, "Faults that did not take effect: %s.\n", mdEscape(strings.Join(notInEffect, "; ")))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// WriteFolder writes report.json, summary.md and report.html into dir, each
// atomically (a reader never sees half a file). junit.xml comes from the
// suite runner (Ginkgo's own reporter).
func WriteFolder(dir string, r Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, render := range map[string]func(io.Writer, Report) error{
		"report.json": WriteJSON, "summary.md": WriteMarkdown, "report.html": WriteHTML,
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

// LoadProfile describes a load with phases, or one not generated ("" for
// a constant rate).
func LoadProfile(l Load) string {
	if l.None {
		return "No load was generated: real traffic was the signal, as the target's pods counted it."
	}
	if len(l.Phases) == 0 {
		return ""
	}
	return "Load profile: " + DescribePhases(l.Phases) + "."
}

// DescribePhases says what each phase of a load profile sends, and when.
func DescribePhases(phases []LoadPhase) string {
	parts := make([]string, 0, len(phases))
	for _, p := range phases {
		rate := fmt.Sprintf("%d req/s", p.Rate)
		if p.RampTo > 0 {
			rate = fmt.Sprintf("%d to %d req/s", p.Rate, p.RampTo)
		}
		parts = append(parts, fmt.Sprintf("%s from %gs for %gs", rate, p.StartSeconds, p.DurationSeconds))
	}
	return strings.Join(parts, ", then ")
}

// TrafficSpread describes how the pods' own request counts spread over
// them: each pod's share, and how much more the busiest pod served than
// the least busy one (only among pods that served through the whole run
// would that be fair; pods that came and went are listed all the same).
func TrafficSpread(t []PodTraffic) string {
	parts := make([]string, 0, len(t))
	lo, hi := math.Inf(1), 0.0
	var errs float64
	for _, p := range t {
		part := fmt.Sprintf("%s %.1f%%", p.Pod, p.Share*100)
		if p.P99MS != nil {
			part += fmt.Sprintf(" (p99 %.0f ms)", *p.P99MS)
		}
		parts = append(parts, part)
		lo, hi = math.Min(lo, p.Requests), math.Max(hi, p.Requests)
		errs += p.Errors
	}
	out := strings.Join(parts, ", ")
	if len(t) > 1 && lo > 0 {
		out += fmt.Sprintf(" (busiest/least busy %.2fx)", hi/lo)
	}
	if errs > 0 {
		out += fmt.Sprintf("; %.0f answered 5xx", errs)
	}
	return out
}

// AutoscalerSummary says, per autoscaler, how its desired replicas moved
// and which conditions turned False during the run.
func AutoscalerSummary(points []HPAPoint) []string {
	var names []string
	desired := map[string][]string{}
	bounds := map[string]HPAPoint{}
	falses := map[string][]string{}
	for _, p := range points {
		if _, ok := bounds[p.Name]; !ok {
			names = append(names, p.Name)
		}
		bounds[p.Name] = p
		d := fmt.Sprint(p.Desired)
		if l := desired[p.Name]; len(l) == 0 || l[len(l)-1] != d {
			desired[p.Name] = append(l, d)
		}
		for _, c := range []string{"AbleToScale", "ScalingActive"} {
			if v, ok := p.Conditions[c]; ok && strings.HasPrefix(v, "False") {
				msg := fmt.Sprintf("%s at %.0fs: %s", c, p.T, v)
				if l := falses[p.Name]; len(l) == 0 || !strings.HasPrefix(l[len(l)-1], c) {
					falses[p.Name] = append(l, msg)
				}
			}
		}
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		line := fmt.Sprintf("Autoscaler %s: desired replicas %s (min %d, max %d).", n, strings.Join(desired[n], " → "), bounds[n].Min, bounds[n].Max)
		if f := falses[n]; len(f) > 0 {
			line += " " + strings.Join(f, "; ") + "."
		}
		out = append(out, line)
	}
	return out
}
