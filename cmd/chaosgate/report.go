package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/chaosgate/chaosgate/reports"
)

const reportUsage = `Usage:
  chaosgate report render DIR...
      rebuild report.html and summary.md in each run folder from its report.json
  chaosgate report trend [--out FILE] [--fail-on-regression] [tolerances] DIR...
      write a trend page of many run folders; with --fail-on-regression,
      exit 1 when the newest run regressed against the median of the others

Exit codes: 0 ok, 1 regression (with --fail-on-regression), 2 bad input
(a missing folder, an unreadable report.json), 3 a file could not be written.
`

// reportCmd runs "chaosgate report render|trend" and returns the exit code.
func reportCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, reportUsage)
		return exitUsage
	}
	switch args[0] {
	case "render":
		return reportRender(args[1:], stdout, stderr)
	case "trend":
		return reportTrend(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, reportUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "chaosgate report: unknown command %q\n\n%s", args[0], reportUsage)
	return exitUsage
}

func reportRender(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage) }
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "chaosgate report render: no run folder given\n\n%s", reportUsage)
		return exitUsage
	}
	for _, dir := range fs.Args() {
		written, err := reports.RenderFolder(dir)
		if err != nil {
			return reportError(stderr, "render", err)
		}
		for _, p := range written {
			fmt.Fprintf(stdout, "wrote %s\n", p)
		}
	}
	return exitOK
}

func reportTrend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report trend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage+"\nFlags:\n"); fs.PrintDefaults() }
	tol := reports.DefaultTolerance
	out := fs.String("out", "trend.html", "trend page to write")
	failOn := fs.Bool("fail-on-regression", false, "exit 1 when the newest run regressed beyond tolerance against the median of the earlier runs")
	fs.Var((*percent)(&tol.MaxP99Increase), "max-p99-increase", "largest p99 latency increase tolerated, in percent (20% or 20)")
	fs.Var((*percent)(&tol.MaxRecoveryIncrease), "max-recovery-increase", "largest increase of the worst recovery time tolerated, in percent")
	fs.Var((*points)(&tol.MaxAvailabilityDrop), "max-availability-drop", "largest availability drop tolerated, in percentage points (0.1: 99.95% -> 99.85%)")
	fs.IntVar(&tol.MaxFailedChecksIncrease, "max-failed-checks-increase", 0, "how many more failed checks than the median are tolerated")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "chaosgate report trend: no run folder given\n\n%s", reportUsage)
		return exitUsage
	}
	if tol.MaxFailedChecksIncrease < 0 {
		fmt.Fprintf(stderr, "chaosgate report trend: --max-failed-checks-increase: must not be negative\n")
		return exitUsage
	}
	var runs []reports.TrendRun
	for _, dir := range fs.Args() {
		r, err := reports.ReadFolder(dir)
		if err != nil {
			return reportError(stderr, "trend", err)
		}
		runs = append(runs, reports.TrendRunOf(dir, r))
	}
	reports.SortRuns(runs)
	regs := reports.Regressions(runs, tol)
	if err := writeFileAtomic(*out, func(w io.Writer) error {
		return reports.WriteTrendHTML(w, runs, regs, filepath.Dir(*out))
	}); err != nil {
		return reportError(stderr, "trend", err)
	}
	last := runs[len(runs)-1]
	fmt.Fprintf(stdout, "wrote %s (%d runs; newest %s)\n", *out, len(runs), last.ID)
	switch {
	case len(runs) < 2:
		fmt.Fprintln(stdout, "one run: nothing earlier to compare with")
	case len(regs) == 0:
		fmt.Fprintf(stdout, "no regression: %s is within tolerance of the median of the %d earlier run(s)\n", last.ID, len(runs)-1)
	default:
		fmt.Fprintf(stdout, "REGRESSED: %s against the median of the %d earlier run(s):\n", last.ID, len(runs)-1)
		for _, r := range regs {
			fmt.Fprintf(stdout, "  %s\n", r)
		}
		if *failOn {
			return exitSLO
		}
	}
	return exitOK
}

// reportError prints err; a folder or report.json that cannot be read is
// bad input (exit 2), anything else a failure to write (exit 3).
func reportError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "chaosgate report %s: %v\n", cmd, err)
	var in *reports.InputError
	if errors.As(err, &in) {
		return exitUsage
	}
	return exitInfra
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// writeFileAtomic writes path through a temporary file, so a reader never
// sees half a page.
func writeFileAtomic(path string, fn func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// percent is a flag in percent ("20%" or "20"), stored as a fraction.
type percent float64

func (p *percent) String() string { return strconv.FormatFloat(float64(*p)*100, 'f', -1, 64) + "%" }

func (p *percent) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want a percentage such as 20%% or 20", s)
	}
	*p = percent(v / 100)
	return nil
}

// points is a flag in percentage points ("0.1"; a trailing % is accepted).
type points float64

func (p *points) String() string { return strconv.FormatFloat(float64(*p), 'f', -1, 64) }

func (p *points) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 {
		return fmt.Errorf("%q: want percentage points such as 0.1", s)
	}
	*p = points(v)
	return nil
}
