package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
	"github.com/chaosgate/chaosgate/suites"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf clusterFlags
	cf.register(fs)
	def := suites.DefaultSelfHealing()
	workload := fs.String("workload", suites.SampleWorkload, `folder of Kubernetes YAML (a Deployment and a Service at least), or "sample"`)
	targetService := fs.String("target-service", "", "Service the load goes through (default: the workload's only Service)")
	targetPort := fs.Int("target-port", 0, "port of the target Service (default: its only port)")
	var loadImages stringList
	fs.Var(&loadImages, "load-image", "local Docker image to load into the kind nodes (repeatable)")
	namespace := fs.String("namespace", "chaosgate", "namespace the workload is deployed into")
	suiteList := fs.String("suites", "all", "comma-separated suites to run: "+strings.Join(suites.KnownSuites, ", "))
	reportDir := fs.String("report-dir", "", "report folder (default chaosgate-reports/<time>)")
	allowContext := fs.String("allow-context", "", "kubeconfig context that may receive faults although it is not a kind cluster")
	journal := fs.String("journal", faults.DefaultJournalDir(), "folder journaling active faults (for chaosgate recover)")
	verbose := fs.Bool("v", false, "verbose spec output")

	fs.IntVar(&def.Load.Rate, "rate", def.Load.Rate, "requests per second")
	fs.IntVar(&def.Load.RampTo, "ramp-to", 0, "ramp the rate linearly to this value over the run (0: constant)")
	fs.DurationVar(&def.Load.Duration, "duration", def.Load.Duration, "load duration per scenario")
	fs.DurationVar(&def.Load.Timeout, "request-timeout", def.Load.Timeout, "timeout of each request")
	fs.BoolVar(&def.Load.KeepAlive, "keep-alive", false, "reuse connections (off: one connection per request, spreading load over pods)")
	fs.IntVar(&def.PodKill.Count, "kill-count", def.PodKill.Count, "pods killed per injection")
	fs.IntVar(&def.PodKill.Percent, "kill-percent", 0, "percentage of pods killed per injection (instead of --kill-count)")
	fs.IntVar(&def.PodKill.Times, "kills", def.PodKill.Times, "number of injections")
	fs.DurationVar(&def.PodKill.Interval, "kill-interval", def.PodKill.Interval, "time between injections")
	fs.DurationVar(&def.PodKill.Start, "kill-start", def.PodKill.Start, "time from load start to the first injection")
	fs.BoolVar(&def.PodKill.Force, "force", false, "kill with grace period 0 instead of the pods' own")
	fs.Float64Var(&def.SLO.Availability, "slo-availability", def.SLO.Availability, "minimum availability, percent")
	fs.DurationVar(&def.SLO.MaxFailedInterval, "slo-max-failed-interval", def.SLO.MaxFailedInterval, "longest allowed run of failed requests")
	fs.DurationVar(&def.SLO.MaxRecovery, "slo-max-recovery", def.SLO.MaxRecovery, "longest allowed time from a kill to all replicas Ready")
	fs.DurationVar(&def.SLO.MaxP99, "slo-max-p99", def.SLO.MaxP99, "highest allowed p99 latency of successful requests")
	fs.Float64Var(&def.SLO.MinRateRatio, "min-rate-ratio", def.SLO.MinRateRatio, "share of the target rate the load must achieve")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return badInput(stderr, err)
	}
	if fs.NArg() > 0 {
		return badInput(stderr, fmt.Errorf("unexpected arguments %v", fs.Args()))
	}
	if def.PodKill.Percent > 0 && !flagSet(fs, "kill-count") {
		def.PodKill.Count = 0
	}
	ss, err := suites.ParseSuites(*suiteList)
	if err != nil {
		return badInput(stderr, err)
	}
	uo, err := cf.options(stderr)
	if err != nil {
		return badInput(stderr, err)
	}
	dir := *reportDir
	if dir == "" {
		dir = "chaosgate-reports/" + time.Now().Format("20060102-150405")
	}
	rep, err := suites.Gate(ctx, suites.GateOptions{
		Cluster: uo, Workload: *workload, TargetService: *targetService, TargetPort: *targetPort,
		LoadImages: loadImages, Namespace: *namespace, Suites: ss, ReportDir: dir,
		AllowContext: *allowContext, JournalDir: *journal, SelfHealing: def, Verbose: *verbose,
		Progress: stderr, Logger: slog.Default(), Command: append([]string{"chaosgate", "run"}, args...),
	})
	var inErr *suites.InputError
	if errors.As(err, &inErr) {
		return badInput(stderr, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "chaosgate run: %v\n", err)
		return exitInfra
	}
	return verdict(rep, dir, stdout)
}

// badInput reports invalid input, found before anything was touched.
func badInput(w io.Writer, err error) int {
	fmt.Fprintf(w, "chaosgate run: %v\nNothing was deployed or injected.\n", err)
	return exitUsage
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// verdict prints the outcome and maps it to the exit code.
func verdict(rep reports.Report, dir string, w io.Writer) int {
	fmt.Fprintf(w, "\nReport: %s (report.json, junit.xml, summary.md)\n", dir)
	for _, s := range rep.Scenarios {
		for _, c := range s.Checks {
			fmt.Fprintf(w, "  %s: %s\n", s.Name, c.Message())
		}
	}
	switch rep.Run.Status {
	case reports.StatusPassed:
		fmt.Fprintln(w, "PASSED: every SLO held")
		return exitOK
	case reports.StatusFailed:
		fmt.Fprintf(w, "FAILED: SLO breached: %s\n", strings.Join(rep.BreachedChecks(), "; "))
		return exitSLO
	default:
		msg := rep.Run.Error
		for _, s := range rep.Scenarios {
			if s.Error != "" {
				msg = strings.TrimPrefix(msg+"; "+s.Name+": "+s.Error, "; ")
			}
		}
		fmt.Fprintf(w, "ERROR: infrastructure failure: %s\n", msg)
		if strings.HasPrefix(rep.Run.Error, "interrupted") {
			return exitCanceled
		}
		return exitInfra
	}
}

func recoverCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	journal := fs.String("journal", faults.DefaultJournalDir(), "folder journaling active faults")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	j := faults.Journal{Dir: *journal}
	entries, err := j.Entries()
	if err != nil && len(entries) == 0 {
		return err
	}
	if len(entries) == 0 {
		fmt.Fprintf(stdout, "No active faults in %s\n", *journal)
		return nil
	}
	done, err := j.Recover(ctx, faults.Reverters(faults.DockerCLI{}))
	for _, e := range done {
		fmt.Fprintf(stdout, "reverted %s: %s (%s)\n", e.ID, e.Description, strings.Join(e.Targets, ", "))
	}
	if err != nil {
		return fmt.Errorf("some faults could not be reverted and stay journaled in %s: %w", *journal, err)
	}
	return nil
}
