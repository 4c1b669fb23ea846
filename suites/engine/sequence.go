package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/reports"
)

// Condition is what a wait step waits for.
type Condition string

// The conditions a wait step may wait for.
const (
	// ReplicasReady: every desired replica of the target serves.
	ReplicasReady Condition = "replicas-ready"
	// NodesReady: every node is Ready and schedulable.
	NodesReady Condition = "nodes-ready"
)

// WaitResult is how one wait step ended.
type WaitResult struct {
	Step       string
	Condition  Condition
	Start, End time.Time
	Met        bool
	// State is what was seen last ("2 of 3 replicas serve").
	State string
}

// AbortRule stops the load and reverts every fault at once when the
// service burns its budget: the requests that completed within the last
// Window are less than MinAvailability percent OK, or their p99 (of the OK
// ones) is above MaxP99. A rule judges one of the two.
type AbortRule struct {
	MinAvailability float64
	MaxP99          time.Duration
	Window          time.Duration
}

func (a AbortRule) String() string {
	if a.MaxP99 > 0 {
		return fmt.Sprintf("p99 over the last %s above %s", a.Window, a.MaxP99)
	}
	return fmt.Sprintf("availability over the last %s below %g%%", a.Window, a.MinAvailability)
}

// minAbortSample is the fewest requests a window needs before a rule
// judges it: a handful of requests says nothing about a budget.
const minAbortSample = 10

// breached judges the rule on a window's requests; why says what was seen.
func (a AbortRule) breached(rc load.Recent) (bool, string) {
	if rc.Total < minAbortSample {
		return false, ""
	}
	if a.MaxP99 > 0 {
		if rc.OK >= minAbortSample && rc.P99 > a.MaxP99 {
			return true, fmt.Sprintf("%s: p99 %s of %d OK requests", a, rc.P99.Round(time.Millisecond), rc.OK)
		}
		return false, ""
	}
	if av := rc.Availability(); av < a.MinAvailability {
		return true, fmt.Sprintf("%s: %.2f%% of %d requests OK", a, av, rc.Total)
	}
	return false, ""
}

// Aborted says which abort rule stopped a run, and when.
type Aborted struct {
	At  time.Time
	Why string
}

func (r *run) abortedAt() *Aborted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.aborted
}

// abortWatch judges the abort rules every second once a rule's window has
// passed since the start; the first that fires calls stop.
func (r *run) abortWatch(ctx context.Context, stop func()) {
	if len(r.sc.Abort) == 0 {
		return
	}
	r.whileLoading(ctx, time.Second, func(now time.Time) bool {
		for _, a := range r.sc.Abort {
			if now.Sub(r.origin) < a.Window {
				continue
			}
			if fired, why := a.breached(r.window(a.Window, now)); fired {
				r.mu.Lock()
				r.aborted = &Aborted{At: now, Why: why}
				r.mu.Unlock()
				fmt.Fprintf(r.env.Progress, "[%s] ABORT at %.0fs: %s; reverting every fault\n", r.sc.Name, now.Sub(r.origin).Seconds(), why)
				stop()
				return true
			}
		}
		return false
	})
}

// whileLoading calls tick every period until it says it is done, ctx ends
// or the load ends.
func (r *run) whileLoading(ctx context.Context, period time.Duration, tick func(now time.Time) (done bool)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.loadDone:
			return
		case now := <-t.C:
			if tick(now) {
				return
			}
		}
	}
}

// runSequence runs the steps one after another: each starts at its At, or
// its After after the previous step ended, never before the previous step
// ended. A fault step ends when its last injection was reverted (or, for
// faults the cluster heals, issued); a wait step when its condition holds
// or its timeout passed (the run goes on: the waits-met check judges it).
func (r *run) runSequence(ctx context.Context, scheds []faults.Schedule) ([]string, error) {
	var ids []string
	prevEnd := r.origin
	for i, st := range r.sc.Steps {
		start := r.origin.Add(st.At)
		if st.After != nil {
			start = prevEnd.Add(*st.After)
		}
		if start.Before(prevEnd) {
			start = prevEnd
		}
		r.setNext(st, start)
		if err := r.sleepUntil(ctx, start); err != nil {
			return ids, err
		}
		if r.loadEnded() {
			// a fault with no load to judge it tests nothing; a wait not
			// run is a wait not met
			fmt.Fprintf(r.env.Progress, "[%s] the load ended before step %s: it and the steps after it are not run (lengthen load.duration)\n", r.sc.Name, st.Name)
			r.setNext(Step{}, time.Time{})
			now := time.Now()
			r.mu.Lock()
			for _, rest := range r.sc.Steps[i:] {
				if rest.Wait != "" {
					r.waits = append(r.waits, WaitResult{Step: rest.Name, Condition: rest.Wait, Start: now, End: now, State: "not run: the load ended before it"})
				}
			}
			r.mu.Unlock()
			return ids, nil
		}
		if st.Wait != "" {
			res := r.waitFor(ctx, st)
			r.mu.Lock()
			r.waits = append(r.waits, res)
			r.mu.Unlock()
			if ctx.Err() != nil {
				return ids, ctx.Err()
			}
			verdict := "met"
			if !res.Met {
				verdict = "not met within " + st.WaitTimeout.String()
			}
			fmt.Fprintf(r.env.Progress, "[%s] wait %s (%s): %s after %.1fs (%s)\n", r.sc.Name, st.Name, st.Wait, verdict, res.End.Sub(res.Start).Seconds(), res.State)
		} else {
			s := scheds[i]
			s.Start = max(start.Sub(r.origin), time.Since(r.origin))
			got, err := s.Run(ctx, r.env.Injector, r.origin)
			ids = append(ids, got...)
			if err != nil {
				return ids, err
			}
			// a fault the cluster heals is not waited for by its schedule:
			// the next step (a wait for the replicas, say) must see its effect
			for _, id := range got {
				if _, err := r.env.Injector.AwaitEffect(ctx, id); err != nil {
					return ids, err
				}
			}
		}
		prevEnd = time.Now()
	}
	r.setNext(Step{}, time.Time{})
	return ids, nil
}

// waitStable is how long a condition must hold before a wait counts it as
// met: the observers see the cluster through watches, a moment late, so a
// condition seen for an instant right after a fault may not hold yet.
const waitStable = time.Second

// waitFor polls the step's condition every 250ms until it has held for
// waitStable or the step's timeout passes; End is when it began to hold.
func (r *run) waitFor(ctx context.Context, st Step) WaitResult {
	res := WaitResult{Step: st.Name, Condition: st.Wait, Start: time.Now()}
	deadline := res.Start.Add(st.WaitTimeout)
	var s steady
	for {
		now := time.Now()
		ok, state := r.holds(st.Wait)
		res.State = state
		if s.heldFor(ok, now, waitStable) {
			res.Met, res.End = true, s.since
			return res
		}
		if !now.Before(deadline) || r.sleepUntil(ctx, now.Add(250*time.Millisecond)) != nil {
			res.End = now
			if ctx.Err() != nil {
				res.State = "interrupted (" + res.State + ")"
			}
			return res
		}
		if r.loadEnded() {
			res.End, res.State = time.Now(), "the load ended first ("+res.State+")"
			return res
		}
	}
}

// holds judges a condition from the observers' state right now.
func (r *run) holds(c Condition) (bool, string) {
	switch c {
	case ReplicasReady:
		serving, desired := r.pods.Now()
		return desired > 0 && serving >= desired, fmt.Sprintf("%d of %d replicas serve", serving, desired)
	case NodesReady:
		nodes := r.nodes.Now()
		var off []string
		for _, n := range nodes {
			if p := n.problem(); p != "" {
				off = append(off, n.Node+" "+p)
			}
		}
		if len(off) > 0 {
			return false, fmt.Sprintf("%d of %d nodes Ready and schedulable (not: %s)", len(nodes)-len(off), len(nodes), strings.Join(off, ", "))
		}
		return len(nodes) > 0, fmt.Sprintf("%d of %d nodes Ready and schedulable", len(nodes), len(nodes))
	case FaultsRecovered:
		return r.faultsRecovered()
	case ReplicasBack:
		return r.replicasBack()
	case FaultsInEffect:
		return r.faultsInEffect()
	}
	return false, fmt.Sprintf("unknown condition %q", c)
}

// nextStep is the step a sequence runs next, for the live view.
type nextStep struct {
	name string
	at   time.Time
}

func (r *run) setNext(st Step, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = nextStep{name: st.Name, at: at}
}

// Check IDs of sequential scenarios.
const (
	CheckAbortRules = "abort-rules"
	CheckWaitsMet   = "waits-met"
)

// AbortRulesHeld passes when no abort rule fired.
func AbortRulesHeld(rules []AbortRule) Check {
	names := make([]string, len(rules))
	for i, a := range rules {
		names[i] = a.String()
	}
	return Check{
		ID: CheckAbortRules, Spec: "is never aborted by an abort rule (" + strings.Join(names, "; ") + ")",
		Eval: func(o *Observation) reports.Check {
			fired := 0.0
			if o.Aborted != nil {
				fired = 1
			}
			c := reports.AtMost(CheckAbortRules, "abort rules fired", fired, 0, "")
			if o.Aborted != nil {
				c.Detail = fmt.Sprintf("aborted at %.1fs: %s", o.Aborted.At.Sub(o.Origin).Seconds(), o.Aborted.Why)
			} else {
				c.Detail = fmt.Sprintf("%d rule(s) held for the whole run", len(rules))
			}
			return c
		},
	}
}

// WaitsMet passes when every wait step's condition held within its
// timeout.
func WaitsMet() Check {
	return Check{
		ID: CheckWaitsMet, Spec: "meets every wait step's condition within its timeout",
		Eval: func(o *Observation) reports.Check {
			met := 0
			var parts []string
			for _, w := range o.Waits {
				took := w.End.Sub(w.Start).Seconds()
				if w.Met {
					met++
					parts = append(parts, fmt.Sprintf("%s: %s after %.1fs", w.Step, w.Condition, took))
				} else {
					parts = append(parts, fmt.Sprintf("%s: %s not met after %.1fs (%s)", w.Step, w.Condition, took, w.State))
				}
			}
			if len(o.Waits) == 0 {
				return withDetail(reports.NotJudged(CheckWaitsMet, "wait steps met", "no wait step ran"), "the run ended before any wait step")
			}
			c := reports.AtLeast(CheckWaitsMet, "wait steps met", float64(met), float64(len(o.Waits)), "waits")
			c.Detail = strings.Join(parts, "; ")
			return c
		},
	}
}

// validateSequence checks what only sequential scenarios may use.
func (s Scenario) validateSequence() error {
	var errs []error
	for i, st := range s.Steps {
		switch {
		case !s.Sequential && (st.Wait != "" || st.After != nil):
			errs = append(errs, fmt.Errorf("scenario %s: step %d: waits and After need a sequential scenario", s.Name, i+1))
		case st.Wait != "" && st.Fault != nil:
			errs = append(errs, fmt.Errorf("scenario %s: step %d: a step is a fault or a wait, not both", s.Name, i+1))
		case st.Wait != "" && !knownCondition(st.Wait):
			errs = append(errs, fmt.Errorf("scenario %s: step %d: unknown condition %q", s.Name, i+1, st.Wait))
		case st.Wait != "" && st.WaitTimeout <= 0:
			errs = append(errs, fmt.Errorf("scenario %s: step %d: a wait needs a positive timeout", s.Name, i+1))
		case st.After != nil && *st.After < 0:
			errs = append(errs, fmt.Errorf("scenario %s: step %d: After must not be negative", s.Name, i+1))
		}
	}
	for i, a := range s.Abort {
		switch {
		case a.Window <= 0:
			errs = append(errs, fmt.Errorf("scenario %s: abort rule %d: window must be positive", s.Name, i+1))
		case (a.MaxP99 > 0) == (a.MinAvailability > 0):
			errs = append(errs, fmt.Errorf("scenario %s: abort rule %d: judge availability or p99, one of them", s.Name, i+1))
		case s.Load.None && a.Window < 5*time.Second:
			// real traffic's rate is unknown; the pods' counters are read
			// every 2s
			errs = append(errs, fmt.Errorf("scenario %s: abort rule %d: a window of %s holds too few reads of the pods' counters (every 2s): at least 5s", s.Name, i+1, a.Window))
		case !s.Load.None && a.Window.Seconds()*float64(s.Load.Rate) < 2*minAbortSample:
			errs = append(errs, fmt.Errorf("scenario %s: abort rule %d: %s at %d req/s holds fewer than %d requests, too few to judge: lengthen the window", s.Name, i+1, a.Window, s.Load.Rate, 2*minAbortSample))
		}
	}
	return errors.Join(errs...)
}

// seqState is the part of a run the sequence and the abort watch share.
type seqState struct {
	mu      sync.Mutex
	waits   []WaitResult
	aborted *Aborted
	// endedEarly is set when the scenario's EarlyEnd stopped the load
	endedEarly *EndedEarly
	next       nextStep
	// loadDone is closed when the load has ended, at loadEnd
	loadDone chan struct{}
	loadEnd  time.Time
}

func (r *run) loadEnded() bool {
	select {
	case <-r.loadDone:
		return true
	default:
		return false
	}
}

// sleepUntil waits until t, or returns early when the load ends (nil: the
// loop then stops at its next step) or ctx ends (its error).
func (r *run) sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.loadDone:
		return nil
	case <-timer.C:
		return nil
	}
}
