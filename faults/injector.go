package faults

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sort"
	"sync"
	"time"
)

// Injector applies faults with journaling, verification and revert, and
// records an Event per injection. It is safe for concurrent use.
type Injector struct {
	Journal Journal
	// Cluster (a kind cluster's name, empty for other clusters) and
	// Context are stored in journal entries so recovery finds the cluster.
	Cluster string
	Context string
	// Server is the API server's address, so recovery through a context
	// name can tell that the context now points elsewhere.
	Server string
	// RunID prefixes injection ids.
	RunID string
	// VerifyTimeout bounds waiting for a fault to take effect; default 30s.
	// A fault not observed in effect by then did not take effect.
	VerifyTimeout time.Duration
	Observe       Observer
	Logger        *slog.Logger

	mu       sync.Mutex
	seq      int
	token    string
	injected []*injected // every injection, in order
	verifies sync.WaitGroup
	// notify keeps observers' updates in the order the events changed
	notify sync.Mutex
}

type injected struct {
	// reverting serialises reverts of the same injection (the engine's
	// and a cleanup's may overlap after an interrupt)
	reverting sync.Mutex
	seq       int
	inj       Injection // nil when planning failed
	ev        Event
	active    bool // journaled and not reverted yet
	// verified is closed when verification has ended either way
	verified    chan struct{}
	stopVerify  context.CancelFunc
	selfHealing bool
}

func (in *Injector) logger() *slog.Logger {
	if in.Logger == nil {
		return slog.Default()
	}
	return in.Logger
}

// update changes an injection's event under the lock and notifies the
// observer with a copy, outside the lock.
func (in *Injector) update(x *injected, fn func(*Event)) {
	in.notify.Lock()
	defer in.notify.Unlock()
	in.mu.Lock()
	fn(&x.ev)
	ev := x.ev
	ev.Targets = append([]Target(nil), ev.Targets...)
	in.mu.Unlock()
	if in.Observe != nil {
		in.Observe(ev)
	}
}

// Inject plans, journals and applies one fault, then verifies in the
// background that it took effect. The fault stays active (journaled,
// revertible) until Revert or RevertAll; the returned id names it.
//
// What goes wrong with the fault because of the workload's or the
// cluster's state (nothing to hit, an eviction a budget refuses, the effect
// never showed) is recorded in the event: a finding about the workload, not
// a crash. The error is for everything else: a plan or apply that failed
// for another reason (the API unreachable, docker failing), what leaves the
// injector unable to guarantee a revert (the journal cannot be written),
// and a cancelled ctx.
func (in *Injector) Inject(ctx context.Context, f Fault) (string, error) {
	return in.InjectWithin(ctx, f, in.VerifyTimeout)
}

// InjectWithin is Inject with its own bound on waiting for the effect (a
// node takes about a minute to be marked NotReady; a pod kill seconds).
func (in *Injector) InjectWithin(ctx context.Context, f Fault, verifyTimeout time.Duration) (string, error) {
	in.mu.Lock()
	in.seq++
	seq := in.seq
	if in.token == "" {
		// two gates sharing a journal and starting in the same second must
		// not collide
		in.token = fmt.Sprintf("%04x", rand.IntN(1<<16))
	}
	id := fmt.Sprintf("%s-%s-%s-%d", in.RunID, in.token, f.Kind(), seq)
	x := &injected{seq: seq, ev: Event{ID: id, Kind: f.Kind(), Description: f.Describe()}, verified: make(chan struct{})}
	if sh, ok := f.(SelfHealing); ok {
		x.selfHealing = sh.SelfHealing()
		x.ev.SelfHealing = x.selfHealing
	}
	in.injected = append(in.injected, x)
	in.mu.Unlock()

	inj, err := f.Plan(ctx)
	if err != nil {
		close(x.verified)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		in.update(x, func(e *Event) { e.Issued, e.Stage, e.Error = time.Now(), StagePlan, err.Error() })
		if !IsFinding(err) {
			// the API or the node could not be reached: the tool's failure
			return id, fmt.Errorf("plan %s: %w", id, err)
		}
		in.logger().Warn("fault not injected", "id", id, "err", err)
		return id, nil
	}
	state, err := inj.State()
	if err != nil {
		close(x.verified)
		return "", fmt.Errorf("%s: state: %w", id, err)
	}
	targets := inj.Targets()
	// the revert is registered (journal on disk, active) before Apply
	if err := in.Journal.Add(Entry{ID: id, Kind: f.Kind(), Description: f.Describe(), Targets: targetStrings(targets), Cluster: in.Cluster, Context: in.Context, Server: in.Server, Created: time.Now(), State: state}); err != nil {
		close(x.verified)
		return "", err
	}
	in.mu.Lock()
	x.inj, x.active = inj, true
	x.ev.Targets = targets
	in.mu.Unlock()

	in.logger().Info("injecting fault", "id", id, "what", f.Describe(), "targets", targetStrings(targets))
	in.update(x, func(e *Event) { e.Issued = time.Now() })
	if err := inj.Apply(ctx); err != nil {
		close(x.verified)
		if ctx.Err() != nil {
			return id, ctx.Err()
		}
		in.update(x, func(e *Event) { e.Stage, e.Error = StageApply, err.Error() })
		if !IsFinding(err) {
			// still journaled and active: the caller's RevertAll undoes
			// whatever part of it was applied
			return id, fmt.Errorf("apply %s: %w", id, err)
		}
		in.logger().Warn("fault could not be applied", "id", id, "err", err)
		return id, nil
	}
	timeout := verifyTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	stop := context.AfterFunc(ctx, cancel) // an interrupted run stops verifying too
	in.mu.Lock()
	x.stopVerify = cancel
	in.mu.Unlock()
	in.update(x, func(e *Event) { e.Verifying = true })
	in.verifies.Add(1)
	started := time.Now()
	go func() {
		defer in.verifies.Done()
		defer close(x.verified)
		defer stop()
		defer cancel()
		err := verifySafely(vctx, inj)
		now := time.Now()
		in.update(x, func(e *Event) {
			e.Verifying = false
			if err == nil {
				e.InEffect = now
				return
			}
			e.Stage, e.Error = StageVerify, fmt.Sprintf("not observed in effect within %s: %v", timeout, err)
			if errors.Is(vctx.Err(), context.Canceled) {
				// not the timeout: a revert or the run's end stopped it
				e.Error = fmt.Sprintf("not observed in effect before its verification was stopped after %s (the fault was reverted or the run stopped): %v",
					now.Sub(started).Round(100*time.Millisecond), err)
			}
		})
		if err != nil {
			in.logger().Warn("fault not observed in effect", "id", id, "err", err)
		} else {
			in.mu.Lock()
			issued := x.ev.Issued
			in.mu.Unlock()
			in.logger().Info("fault in effect", "id", id, "after", now.Sub(issued).Round(time.Millisecond))
		}
	}()
	return id, nil
}

// verifySafely runs Verify and turns a panic into an error: a broken
// verification must not take the process, and with it the reverts, down.
func verifySafely(ctx context.Context, inj Injection) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("verify panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return inj.Verify(ctx)
}

func (in *Injector) find(id string) *injected {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, x := range in.injected {
		if x.ev.ID == id {
			return x
		}
	}
	return nil
}

// AwaitEffect waits until the verification of injection id has ended and
// reports whether the fault took effect.
func (in *Injector) AwaitEffect(ctx context.Context, id string) (bool, error) {
	x := in.find(id)
	if x == nil {
		return false, fmt.Errorf("no injection %s", id)
	}
	select {
	case <-x.verified:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return x.ev.TookEffect(), nil
}

// WaitVerified waits until every verification has ended (each is bounded
// by VerifyTimeout) or ctx ends.
func (in *Injector) WaitVerified(ctx context.Context) error {
	done := make(chan struct{})
	go func() { in.verifies.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Revert undoes one active fault and removes it from the journal. Reverting
// an id that is not active is a no-op.
func (in *Injector) Revert(ctx context.Context, id string) error {
	x := in.find(id)
	if x == nil {
		return nil
	}
	x.reverting.Lock()
	defer x.reverting.Unlock()
	in.mu.Lock()
	active, inj, stop := x.active, x.inj, x.stopVerify
	in.mu.Unlock()
	if !active {
		return nil
	}
	if stop != nil && !x.selfHealing {
		// the fault is about to be undone: an effect observed from now on
		// would be the revert's
		stop()
		<-x.verified
	}
	in.update(x, func(e *Event) {
		if e.RevertIssued.IsZero() {
			e.RevertIssued = time.Now()
		}
	})
	if err := inj.Revert(ctx); err != nil {
		in.update(x, func(e *Event) { e.RevertError = err.Error() })
		return fmt.Errorf("revert %s: %w", id, err)
	}
	if err := in.Journal.Remove(id); err != nil {
		return err
	}
	in.mu.Lock()
	x.active = false
	in.mu.Unlock()
	if x.selfHealing {
		in.logger().Debug("fault left to the cluster to heal", "id", id)
	} else {
		in.logger().Info("fault reverted", "id", id)
	}
	in.update(x, func(e *Event) { e.Reverted, e.RevertError = time.Now(), "" })
	return nil
}

// RevertAll undoes every active fault, newest first. Use a context that is
// not the one being cancelled: it runs on the way out.
func (in *Injector) RevertAll(ctx context.Context) error {
	in.mu.Lock()
	var ids []string
	xs := append([]*injected(nil), in.injected...)
	in.mu.Unlock()
	sort.Slice(xs, func(i, j int) bool { return xs[i].seq > xs[j].seq })
	for _, x := range xs {
		in.mu.Lock()
		if x.active {
			ids = append(ids, x.ev.ID)
		}
		in.mu.Unlock()
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, in.Revert(ctx, id))
	}
	return errors.Join(errs...)
}

// Active counts the faults applied and not reverted yet.
func (in *Injector) Active() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, x := range in.injected {
		if x.active {
			n++
		}
	}
	return n
}

// Events returns every injection's event, in the order they were injected.
func (in *Injector) Events() []Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]Event, len(in.injected))
	for i, x := range in.injected {
		out[i] = x.ev
		out[i].Targets = append([]Target(nil), x.ev.Targets...)
	}
	return out
}

// Schedule repeats a fault: Times injections, one every Every from Start
// (counted from the origin Run is given), each held for Hold after it took
// effect before it is reverted.
type Schedule struct {
	Fault Fault
	Every time.Duration
	Times int
	Hold  time.Duration
	// Start delays the first injection.
	Start time.Duration
	// EffectTimeout bounds waiting for each injection's effect; zero uses
	// the injector's VerifyTimeout.
	EffectTimeout time.Duration
	// Release, when set, is asked every 250ms during a hold and ends it
	// early when it says so: a fault held until the target has shown what
	// it does about it need not be held longer.
	Release func() bool
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

// Run executes the schedule with injection times counted from origin. It
// returns the ids of the injections in order. Faults the cluster heals by
// itself are not waited for (their verification goes on in the
// background); any other fault is held from the moment it took effect (or
// its verification gave up) and then reverted. Faults
// still active when ctx ends stay active for the caller's RevertAll. The
// error is an injector failure (journal, revert) or ctx's.
func (s Schedule) Run(ctx context.Context, in *Injector, origin time.Time) ([]string, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var ids []string
	selfHealing := false
	if sh, ok := s.Fault.(SelfHealing); ok {
		selfHealing = sh.SelfHealing()
	}
	for i := 0; i < s.Times; i++ {
		if err := sleepUntil(ctx, origin.Add(s.Start+time.Duration(i)*s.Every)); err != nil {
			return ids, err
		}
		timeout := s.EffectTimeout
		if timeout <= 0 {
			timeout = in.VerifyTimeout
		}
		id, err := in.InjectWithin(ctx, s.Fault, timeout)
		if id != "" {
			ids = append(ids, id)
		}
		if err != nil {
			return ids, err
		}
		if !selfHealing {
			if _, err := in.AwaitEffect(ctx, id); err != nil {
				return ids, err
			}
		}
		if s.Hold > 0 && !selfHealing {
			if err := s.hold(ctx); err != nil {
				return ids, err
			}
		}
		if err := in.Revert(ctx, id); err != nil {
			return ids, err
		}
	}
	return ids, nil
}

// hold waits Hold, or until Release says the hold may end.
func (s Schedule) hold(ctx context.Context) error {
	end := time.Now().Add(s.Hold)
	if s.Release == nil {
		return sleepUntil(ctx, end)
	}
	for time.Now().Before(end) {
		if s.Release() {
			return nil
		}
		next := time.Now().Add(250 * time.Millisecond)
		if next.After(end) {
			next = end
		}
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
	}
	return nil
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
