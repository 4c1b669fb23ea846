package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/suites"
	"github.com/chaosgate/chaosgate/suites/plan"
)

// gamedayCmd is `chaosgate gameday --plan FILE`: the plan's steps in order
// under its load, on the gate's engine and reports, judged by its checks
// and stopped by its abort rules. --dry-run prints the schedule and what
// each step would hit, touching nothing.
func gamedayCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gameday", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clusterFlags
	cf.register(fs)
	file := fs.String("plan", "", "the game day's plan (YAML, see suites/plan/examples)")
	dryRun := fs.Bool("dry-run", false, "print the resolved schedule and what each step would hit in the live cluster; deploy and inject nothing")
	reportDir := fs.String("report-dir", "", "report folder (default chaosgate-reports/gameday-<time>)")
	journal := fs.String("journal", faults.DefaultJournalDir(), "folder journaling active faults (for chaosgate recover)")
	runTimeout := fs.Duration("run-timeout", 2*time.Hour, "bound on the whole game day")
	plain := fs.Bool("plain", false, "show the game day's state as a line every 5s, even on a terminal (default there: a panel redrawn in place)")
	targetURL := fs.String("target-url", "", "loopback URL the load goes to on a cluster that is not a kind cluster (e.g. a kubectl port-forward to the plan's Service)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return badInput(stderr, err)
	}
	if fs.NArg() > 0 || *file == "" {
		return badInput(stderr, fmt.Errorf("usage: chaosgate gameday --plan FILE [--dry-run]"))
	}
	pl, err := plan.ParseFile(*file)
	if err != nil {
		return badInput(stderr, err)
	}
	uo, err := cf.options(stderr)
	if err != nil {
		return badInput(stderr, err)
	}
	dir := *reportDir
	if dir == "" {
		dir = "chaosgate-reports/gameday-" + time.Now().Format("20060102-150405")
	}
	progress, logger, display := liveOutput(stderr, *plain)
	opts, err := suites.GameDayOptions(pl, *file, suites.Options{
		Cluster: uo, ReportDir: dir, JournalDir: *journal, TargetURL: *targetURL, Params: suites.DefaultParams(), Timeout: *runTimeout,
		Progress: progress, Logger: logger, Display: display, Command: append([]string{"chaosgate", "gameday"}, args...),
	})
	if err != nil {
		return badInput(stderr, err)
	}
	if *dryRun {
		if err := suites.DryRun(ctx, opts, stdout); err != nil {
			return gateError(ctx, "gameday", err, stderr)
		}
		return exitOK
	}
	return runGate(ctx, "gameday", opts, stdout, stderr)
}
