package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/faults"
)

// Conditions the runner ends a hold or a load on. Plans do not offer them:
// they judge the scenario's own faults and starting point.
const (
	// FaultsRecovered: the target came back from every fault the scenario
	// dealt so far: its desired replicas serve without the pods the faults
	// took (pods that outlive a fault count once it was reverted).
	FaultsRecovered Condition = "faults-recovered"
	// ReplicasBack: the target is back at the replicas it had when the
	// load began (at EarlyEnd.ReplicasAt into it, when set), every one
	// serving and none still terminating.
	ReplicasBack Condition = "replicas-back"
	// FaultsInEffect: every fault the scenario dealt so far took effect (a
	// rollout completed, a bad release was found out), for faults the
	// cluster carries out rather than suffers.
	FaultsInEffect Condition = "faults-in-effect"
)

// EarlyEnd ends a scenario's load before its duration once the outcome is
// decided: every injection of its schedule was issued and reverted, and
// every condition in When has held for Margin, NotBefore into the load at
// the soonest. A target that does not come back runs the whole duration,
// so its checks judge what they always did; one that does stops paying for
// minutes no check needs. Only load sent from this machine ends early:
// agents and real traffic keep their schedule.
type EarlyEnd struct {
	When      []Condition
	NotBefore time.Duration
	Margin    time.Duration
	// ReplicasAt is when, from the load's start, ReplicasBack reads the
	// replicas to come back to.
	ReplicasAt time.Duration
	// Typical is how long the load usually runs against a target that
	// comes back, for time budgets (0: its whole duration).
	Typical time.Duration
}

// TypicalLoad is how long the scenario's load usually runs: its duration,
// or less when it ends early.
func (s Scenario) TypicalLoad() time.Duration {
	if e := s.EndEarly; e != nil && e.Typical > 0 && e.Typical < s.Load.Duration {
		return e.Typical
	}
	return s.Load.Duration
}

// EndedEarly is when and why a load ended before its duration.
type EndedEarly struct {
	At  time.Time
	Why string
}

func (e EarlyEnd) validate(s Scenario) error {
	var errs []string
	if len(e.When) == 0 {
		errs = append(errs, "no condition")
	}
	for _, c := range e.When {
		if !knownCondition(c) {
			errs = append(errs, fmt.Sprintf("unknown condition %q", c))
		}
	}
	if e.Margin <= 0 || e.NotBefore < 0 || e.NotBefore >= s.Load.Duration || e.ReplicasAt < 0 || e.ReplicasAt > e.NotBefore {
		errs = append(errs, fmt.Sprintf("margin %s must be positive, not-before %s within the load's %s, replicas-at %s not after it", e.Margin, e.NotBefore, s.Load.Duration, e.ReplicasAt))
	}
	if len(s.Steps) == 0 && e.NotBefore == 0 {
		// nothing to come back from: it would end after the margin
		errs = append(errs, "no step and no not-before")
	}
	if s.Load.None || s.Load.Agents > 0 {
		errs = append(errs, "only load from this machine ends early")
	}
	if len(errs) > 0 {
		return fmt.Errorf("scenario %s: early end: %s", s.Name, strings.Join(errs, "; "))
	}
	return nil
}

func knownCondition(c Condition) bool {
	switch c {
	case ReplicasReady, NodesReady, FaultsRecovered, ReplicasBack, FaultsInEffect:
		return true
	}
	return false
}

// steady tells whether a condition polled now and then has held without a
// break for a while.
type steady struct{ since time.Time }

func (s *steady) heldFor(ok bool, now time.Time, d time.Duration) bool {
	switch {
	case !ok:
		s.since = time.Time{}
		return false
	case s.since.IsZero():
		s.since = now
	}
	return now.Sub(s.since) >= d
}

// allHold judges every condition now; state says what each one saw.
func (r *run) allHold(cs []Condition) (bool, string) {
	all := true
	states := make([]string, len(cs))
	for i, c := range cs {
		ok, state := r.holds(c)
		all = all && ok
		states[i] = state
	}
	return all, strings.Join(states, "; ")
}

// releaseWhen ends a step's hold once c has held for waitStable: a node
// fault is held until the target has shown what it does without the node,
// not longer.
func (r *run) releaseWhen(st Step) func() bool {
	var s steady
	return func() bool {
		now := time.Now()
		ok, state := r.holds(st.HoldUntil)
		if !s.heldFor(ok, now, waitStable) {
			return false
		}
		// the next injection's hold starts from scratch
		s = steady{}
		fmt.Fprintf(r.env.Progress, "[%s] %s: hold ends at %.0fs (%s: %s)\n", r.sc.Name, st.Name, now.Sub(r.origin).Seconds(), st.HoldUntil, state)
		return true
	}
}

// earlyEndWatch ends the load (end) once the scenario's EarlyEnd holds;
// stepsDone reports whether every injection was issued and reverted.
func (r *run) earlyEndWatch(ctx context.Context, stepsDone func() bool, end func()) {
	e := r.sc.EndEarly
	if e == nil {
		return
	}
	var s steady
	r.whileLoading(ctx, 250*time.Millisecond, func(now time.Time) bool {
		// within a second of the planned end the load ends by itself
		elapsed := now.Sub(r.origin)
		ok := elapsed >= e.NotBefore && elapsed < r.sc.Load.Duration-time.Second && stepsDone()
		var state string
		if ok {
			ok, state = r.allHold(e.When)
		}
		if !s.heldFor(ok, now, e.Margin) {
			return false
		}
		why := fmt.Sprintf("%s held for %s (%s)", joinConditions(e.When), e.Margin, state)
		r.mu.Lock()
		r.endedEarly = &EndedEarly{At: now, Why: why}
		r.mu.Unlock()
		fmt.Fprintf(r.env.Progress, "[%s] the load ends at %.0fs of %s: %s\n", r.sc.Name, now.Sub(r.origin).Seconds(), r.sc.Load.Duration, why)
		end()
		return true
	})
}

func (r *run) endedEarlyAt() *EndedEarly {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.endedEarly
}

func joinConditions(cs []Condition) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

// events are this scenario's faults so far: the injector keeps every
// scenario's.
func (r *run) events() []faults.Event {
	var evs []faults.Event
	for _, e := range r.env.Injector.Events() {
		if !e.Issued.Before(r.origin) {
			evs = append(evs, e)
		}
	}
	return evs
}

// faultsRecovered judges FaultsRecovered.
func (r *run) faultsRecovered() (bool, string) {
	applied, pending := 0, 0
	for _, rr := range recoveries(r.pods.History(), r.events()) {
		if rr.Applied {
			applied++
			if !rr.Recovered {
				pending++
			}
		}
	}
	return pending == 0, fmt.Sprintf("recovered from %d of %d faults", applied-pending, applied)
}

// faultsInEffect judges FaultsInEffect.
func (r *run) faultsInEffect() (bool, string) {
	return allInEffect(r.events())
}

func allInEffect(evs []faults.Event) (bool, string) {
	in := 0
	for _, e := range evs {
		if e.TookEffect() {
			in++
		}
	}
	return len(evs) > 0 && in == len(evs), fmt.Sprintf("%d of %d faults in effect", in, len(evs))
}

// replicasBack judges ReplicasBack.
func (r *run) replicasBack() (bool, string) {
	from := r.origin
	if r.sc.EndEarly != nil {
		from = from.Add(r.sc.EndEarly.ReplicasAt)
	}
	return replicasBack(r.pods.History(), from, time.Now())
}

func replicasBack(h *PodHistory, from, now time.Time) (bool, string) {
	before, desired, serving, terminating := h.DesiredAt(from), h.DesiredAt(now), h.ServingAt(now, nil), h.TerminatingAt(now)
	ok := desired > 0 && desired == before && serving >= desired && terminating == 0
	return ok, fmt.Sprintf("%d of %d replicas serve, %d terminating, %d before", serving, desired, terminating, before)
}
