// Command chaosgate creates kind clusters that work offline, runs resilience
// suites against workloads under load and fault injection, and reports
// whether the SLOs held.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in the README.
const (
	exitOK       = 0
	exitSLO      = 1 // an SLO was breached
	exitUsage    = 2 // bad usage or input
	exitInfra    = 3 // infrastructure failure
	exitCanceled = 130
)

// usageError marks errors caused by the caller's input (exit 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usageText = `chaosgate: resilience gate for Kubernetes workloads on kind

Usage:
  chaosgate image build [--offline] [--cache DIR]
  chaosgate cluster up [--name N] [--workers 3] [--image IMG] [--ports 30080-30099]
  chaosgate cluster down [--name N]
  chaosgate cluster status [--name N]
  chaosgate run [flags]          run the resilience gate (see chaosgate run -h)
  chaosgate recover [--journal DIR] [--name N | --context C | --all]
                                 revert faults a crashed run left behind
  chaosgate gameday --plan FILE [--dry-run]
                                 run a game day's plan (steps in order, abort
                                 rules, the gate's reports)
  chaosgate plan validate FILE... check game-day plans strictly (file:line:column)
  chaosgate report render DIR... rebuild report.html and summary.md from report.json
  chaosgate report trend [--fail-on-regression] DIR...
                                 trend page of many runs; exit 1 on a regression

Exit codes: 0 all SLOs met, 1 an SLO breached, 2 bad usage or input,
3 infrastructure failure.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usageText)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var err error
	switch args[0] {
	case "image":
		err = imageCmd(ctx, args[1:], stdout, stderr)
	case "cluster":
		err = clusterCmd(ctx, args[1:], stdout, stderr)
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "gameday":
		return gamedayCmd(ctx, args[1:], stdout, stderr)
	case "recover":
		err = recoverCmd(ctx, args[1:], stdout, stderr)
	case "report":
		return reportCmd(args[1:], stdout, stderr)
	case "plan":
		err = planCmd(args[1:], stdout, stderr)
	default:
		err = usagef("unknown command %q\n\n%s", args[0], usageText)
	}
	return exitCode(ctx, err, stderr)
}

func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "chaosgate: %v\n", err)
	var u usageError
	switch {
	case errors.As(err, &u):
		return exitUsage
	case ctx.Err() != nil:
		return exitCanceled
	default:
		return exitInfra
	}
}

func logLevel() slog.Level {
	if os.Getenv("CHAOSGATE_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
