package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Injector applies faults with journaling, verification and revert, and
// records an Event per injection.
type Injector struct {
	Journal Journal
	// Cluster is stored in journal entries so recovery finds the cluster.
	Cluster string
	// RunID prefixes injection ids.
	RunID string
	// VerifyTimeout bounds waiting for a fault to take effect; default 60s.
	VerifyTimeout time.Duration
	Observe       Observer
	Logger        *slog.Logger

	mu     sync.Mutex
	seq    int
	active map[string]*activeFault
	events []Event
}

type activeFault struct {
	inj Injection
	ev  *Event
}

func (in *Injector) observe(ev Event) {
	if in.Observe != nil {
		in.Observe(ev)
	}
}

func (in *Injector) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.Default()
	}
	return in.Logger
}

// Inject plans, journals, applies and verifies one fault. The fault stays
// active (journaled, revertible) until Revert or RevertAll; the returned
// id names it. An error from Verify is recorded in the event, not returned:
// a fault that did not take effect is a finding, not a crash.
func (in *Injector) Inject(ctx context.Context, f Fault) (string, error) {
	inj, err := f.Plan(ctx)
	if err != nil {
		return "", fmt.Errorf("plan %s: %w", f.Kind(), err)
	}
	state, err := inj.State()
	if err != nil {
		return "", err
	}
	in.mu.Lock()
	if in.active == nil {
		in.active = map[string]*activeFault{}
	}
	in.seq++
	id := fmt.Sprintf("%s-%s-%d", in.RunID, f.Kind(), in.seq)
	ev := &Event{ID: id, Kind: f.Kind(), Description: f.Describe(), Targets: inj.Targets()}
	in.mu.Unlock()

	// the revert is registered (journal on disk, active map) before Apply
	if err := in.Journal.Add(Entry{ID: id, Kind: f.Kind(), Description: f.Describe(), Targets: inj.Targets(), Cluster: in.Cluster, Created: time.Now(), State: state}); err != nil {
		return "", err
	}
	in.mu.Lock()
	in.active[id] = &activeFault{inj: inj, ev: ev}
	in.mu.Unlock()

	ev.Issued = time.Now()
	in.logger().Info("injecting fault", "id", id, "what", ev.Description, "targets", ev.Targets)
	if err := inj.Apply(ctx); err != nil {
		ev.Error = "apply: " + err.Error()
		in.observe(*ev)
		return id, fmt.Errorf("apply %s: %w", id, err)
	}
	in.observe(*ev)
	timeout := in.VerifyTimeout
	if timeout == 0 {
		timeout = time.Minute
	}
	vctx, cancel := context.WithTimeout(ctx, timeout)
	err = inj.Verify(vctx)
	cancel()
	if err != nil {
		ev.Error = "not observed in effect: " + err.Error()
		in.logger().Warn("fault not observed in effect", "id", id, "err", err)
	} else {
		ev.InEffect = time.Now()
	}
	in.observe(*ev)
	return id, nil
}

// Revert undoes one active fault and removes it from the journal. Reverting
// an id that is not active is a no-op.
func (in *Injector) Revert(ctx context.Context, id string) error {
	in.mu.Lock()
	a := in.active[id]
	in.mu.Unlock()
	if a == nil {
		return nil
	}
	if err := a.inj.Revert(ctx); err != nil {
		return fmt.Errorf("revert %s: %w", id, err)
	}
	if err := in.Journal.Remove(id); err != nil {
		return err
	}
	in.mu.Lock()
	a.ev.Reverted = time.Now()
	delete(in.active, id)
	in.events = append(in.events, *a.ev)
	ev := *a.ev
	in.mu.Unlock()
	in.logger().Info("fault reverted", "id", id)
	in.observe(ev)
	return nil
}

// RevertAll undoes every active fault, newest first. Use a context that is
// not the one being cancelled: it runs on the way out.
func (in *Injector) RevertAll(ctx context.Context) error {
	in.mu.Lock()
	ids := make([]string, 0, len(in.active))
	for id := range in.active {
		ids = append(ids, id)
	}
	in.mu.Unlock()
	var errs []error
	for i := len(ids) - 1; i >= 0; i-- {
		errs = append(errs, in.Revert(ctx, ids[i]))
	}
	return errors.Join(errs...)
}

// Events returns the finished (reverted) events followed by active ones.
func (in *Injector) Events() []Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := append([]Event(nil), in.events...)
	for _, a := range in.active {
		out = append(out, *a.ev)
	}
	return out
}

// Schedule repeats a fault: Times injections, one every Every, each held for
// Hold before it is reverted (0: reverted as soon as it took effect).
type Schedule struct {
	Fault Fault
	Every time.Duration
	Times int
	Hold  time.Duration
	// Start delays the first injection.
	Start time.Duration
}

// Validate checks the schedule before anything is injected.
func (s Schedule) Validate() error {
	if s.Fault == nil {
		return errors.New("schedule: no fault")
	}
	if s.Times < 1 || s.Times > 1000 {
		return fmt.Errorf("schedule: times %d must be 1-1000", s.Times)
	}
	if s.Every <= 0 && s.Times > 1 {
		return fmt.Errorf("schedule: interval must be positive to repeat")
	}
	if s.Hold < 0 || s.Start < 0 {
		return fmt.Errorf("schedule: hold and start must not be negative")
	}
	if s.Times > 1 && s.Hold >= s.Every {
		return fmt.Errorf("schedule: hold %s must be shorter than the interval %s", s.Hold, s.Every)
	}
	return nil
}

// Run executes the schedule. It returns the ids of the injections; faults
// still active when ctx ends stay active for the caller's RevertAll.
func (s Schedule) Run(ctx context.Context, in *Injector) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ids []string
	next := time.Now().Add(s.Start)
	for i := 0; i < s.Times; i++ {
		if err := sleepUntil(ctx, next); err != nil {
			return ids, err
		}
		next = next.Add(s.Every)
		id, err := in.Inject(ctx, s.Fault)
		if id != "" {
			ids = append(ids, id)
		}
		if err != nil {
			return ids, err
		}
		if s.Hold > 0 {
			if err := sleepUntil(ctx, time.Now().Add(s.Hold)); err != nil {
				return ids, err
			}
		}
		if err := in.Revert(ctx, id); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
