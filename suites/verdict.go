package suites

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/chaosgate/chaosgate/reports"
)

// Exit codes of a gate run, documented in the README.
const (
	ExitPassed      = 0   // every check passed
	ExitBreached    = 1   // a check failed: an SLO was breached
	ExitInput       = 2   // bad usage or input; nothing was injected
	ExitInfra       = 3   // setup or infrastructure failed
	ExitInterrupted = 130 // SIGINT/SIGTERM; active faults were reverted first
)

// Verdict is the outcome of a suite run, read from Ginkgo's report.
type Verdict struct {
	Code   int
	Status reports.Status
	// Passed counts the checks that passed; Breached and Errors describe
	// the checks that failed and what broke.
	Passed   int
	Breached []string
	Errors   []string
}

// Judge reads the verdict from the suite report:
//   - a check's It that failed its assertion is a breach (exit 1);
//   - a failure anywhere else (BeforeSuite, a suite's BeforeAll setup or
//     scenario run, cleanup that reverts faults, a panic, a timeout) is an
//     infrastructure failure (exit 3) and wins over breaches, since the
//     verdict is then incomplete;
//   - so is a failure Ginkgo records after the spec's own (AdditionalFailures);
//   - an interruption is exit 130, during setup too;
//   - a run in which no check passed or failed judged nothing (exit 3).
func Judge(r types.Report) Verdict {
	var v Verdict
	interrupted := slices.ContainsFunc(r.SpecialSuiteFailureReasons, func(s string) bool { return strings.Contains(s, "Interrupted") })
	for _, reason := range r.SpecialSuiteFailureReasons {
		if !strings.Contains(reason, "Interrupted") {
			v.Errors = append(v.Errors, reason)
		}
	}
	for _, s := range r.SpecReports {
		name := specName(s)
		switch {
		case s.State == types.SpecStatePassed && s.LeafNodeType == types.NodeTypeIt:
			v.Passed++
		case s.State.Is(types.SpecStatePassed | types.SpecStateSkipped | types.SpecStatePending):
		case s.State == types.SpecStateInterrupted:
			interrupted = true
		case s.State == types.SpecStateFailed && s.LeafNodeType == types.NodeTypeIt && s.Failure.FailureNodeContext == types.FailureNodeIsLeafNode:
			v.Breached = append(v.Breached, name+": "+firstLine(s.Failure.Message))
		default:
			where := s.LeafNodeType.String()
			if s.Failure.FailureNodeContext != types.FailureNodeIsLeafNode && s.Failure.FailureNodeType != types.NodeTypeInvalid {
				where = s.Failure.FailureNodeType.String()
			}
			msg := s.Failure.Message
			if s.Failure.ForwardedPanic != "" {
				msg = "panic: " + s.Failure.ForwardedPanic
			}
			v.Errors = append(v.Errors, fmt.Sprintf("%s (%s, %s): %s", name, where, s.State, firstLine(msg)))
		}
		// a failure after the spec's own (an AfterAll or a DeferCleanup that
		// reverts faults, failing after a breached check) is kept here
		for _, f := range s.AdditionalFailures {
			if f.State == types.SpecStateInterrupted {
				interrupted = true
				continue
			}
			v.Errors = append(v.Errors, fmt.Sprintf("%s (%s, %s): %s", name, f.Failure.FailureNodeType, f.State, firstLine(f.Failure.Message)))
		}
	}
	switch {
	case interrupted:
		v.Code, v.Status = ExitInterrupted, reports.StatusInterrupted
	case len(v.Errors) > 0:
		v.Code, v.Status = ExitInfra, reports.StatusError
	case len(v.Breached) > 0:
		v.Code, v.Status = ExitBreached, reports.StatusFailed
	case v.Passed == 0:
		v.Code, v.Status = ExitInfra, reports.StatusError
		v.Errors = append(v.Errors, "no check ran")
	default:
		v.Code, v.Status = ExitPassed, reports.StatusPassed
	}
	return v
}

func specName(s types.SpecReport) string {
	if t := s.FullText(); t != "" {
		return t
	}
	return "[" + s.LeafNodeType.String() + "]"
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
