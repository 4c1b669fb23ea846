// Package faults injects faults into kind clusters and takes them back.
//
// A Fault plans an Injection (choosing its targets without changing
// anything); the Injector journals the plan on disk, applies it, verifies
// that it took effect, and reverts it, recording an Event with the time of
// each step. Reverts are idempotent and registered before the fault is
// applied, so cancellation, a signal, or `chaosgate recover` after a crash
// can always undo what is active.
package faults

import (
	"context"
	"encoding/json"
	"time"
)

// Fault is one kind of fault with its parameters.
type Fault interface {
	// Kind names the fault type ("pod-kill", "node-stop"); it selects the
	// reverter on recovery.
	Kind() string
	// Describe says in words what the fault does.
	Describe() string
	// Plan chooses the targets without changing anything.
	Plan(ctx context.Context) (Injection, error)
}

// Injection is one planned application of a fault to chosen targets.
type Injection interface {
	// Targets names what the fault hits (pods, nodes).
	Targets() []string
	// State is what Revert needs, stored in the journal before Apply.
	State() (json.RawMessage, error)
	// Apply injects the fault.
	Apply(ctx context.Context) error
	// Verify blocks until the fault is observed in effect, or ctx ends.
	Verify(ctx context.Context) error
	// Revert undoes the fault. It is idempotent; for faults that the
	// cluster heals by itself (pod kill) it does nothing.
	Revert(ctx context.Context) error
}

// Event records one injection on the run's timeline.
type Event struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Description string   `json:"description"`
	Targets     []string `json:"targets"`
	// Issued is when the fault was applied; InEffect when it was observed to
	// have taken effect (zero if never); Reverted when it was undone.
	Issued   time.Time `json:"issued"`
	InEffect time.Time `json:"inEffect,omitzero"`
	Reverted time.Time `json:"reverted,omitzero"`
	// Error says what went wrong, if anything.
	Error string `json:"error,omitempty"`
}

// TookEffect reports whether the fault was observed in effect.
func (e Event) TookEffect() bool { return !e.InEffect.IsZero() && e.Error == "" }

// Observer is notified of events as they change, so they can be streamed
// to disk and shown live.
type Observer func(Event)
