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
	"errors"
	"fmt"
	"time"
)

// Fault is one kind of fault with its parameters.
type Fault interface {
	// Kind names the fault type ("pod-kill", "node-stop"); it selects the
	// reverter on recovery.
	Kind() string
	// Describe says in words what the fault does.
	Describe() string
	// Plan chooses the targets without changing anything. A *NoTargetError
	// says that the cluster offered nothing to hit: a finding about the
	// workload's state, not a failure of the tool.
	Plan(ctx context.Context) (Injection, error)
}

// SelfHealing is implemented by faults the cluster itself heals (a killed
// pod is replaced): their Revert has nothing to undo, so a schedule need
// not wait for them to take effect before moving on.
type SelfHealing interface {
	SelfHealing() bool
}

// Injection is one planned application of a fault to chosen targets.
type Injection interface {
	// Targets names what the fault hits (pods, nodes).
	Targets() []Target
	// State is what Revert needs, stored in the journal before Apply.
	State() (json.RawMessage, error)
	// Apply injects the fault.
	Apply(ctx context.Context) error
	// Verify blocks until the fault is observed in effect in the cluster's
	// real state, or ctx ends.
	Verify(ctx context.Context) error
	// Revert undoes the fault. It is idempotent; for faults that the
	// cluster heals by itself (pod kill) it does nothing.
	Revert(ctx context.Context) error
}

// Target is one thing a fault hits.
type Target struct {
	// Kind is "pod" or "node".
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
	// Node is the node a pod ran on.
	Node string `json:"node,omitempty"`
}

func (t Target) String() string {
	s := t.Kind + " " + t.Name
	if t.Namespace != "" {
		s = fmt.Sprintf("%s %s/%s", t.Kind, t.Namespace, t.Name)
	}
	if t.Node != "" {
		s += "@" + t.Node
	}
	return s
}

func targetStrings(ts []Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}

// NoTargetError says that planning found nothing the fault could hit, for
// example no Ready pod left to kill.
type NoTargetError struct{ Reason string }

func (e *NoTargetError) Error() string { return e.Reason }

// IsNoTarget reports whether err is a *NoTargetError.
func IsNoTarget(err error) bool {
	var nt *NoTargetError
	return errors.As(err, &nt)
}

// FindingError wraps what went wrong with a fault because of the workload's
// or the cluster's state (a pod already gone, an eviction a budget refuses):
// a finding the checks judge, not a failure of the tool.
type FindingError struct{ Err error }

func (e *FindingError) Error() string { return e.Err.Error() }
func (e *FindingError) Unwrap() error { return e.Err }

// IsFinding reports whether err is about the workload's or the cluster's
// state rather than the tool: a *NoTargetError or a *FindingError. A joined
// error is a finding only when every error in it is: one real failure among
// refused evictions is still a failure of the tool.
func IsFinding(err error) bool {
	switch e := err.(type) {
	case *FindingError, *NoTargetError:
		return true
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		for _, x := range errs {
			if !IsFinding(x) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return IsFinding(e.Unwrap())
	}
	return false
}

// Stages of an injection an Event's error can come from.
const (
	StagePlan   = "plan"
	StageApply  = "apply"
	StageVerify = "verify"
)

// Event records one injection on the run's timeline.
type Event struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Description string   `json:"description"`
	Targets     []Target `json:"targets"`
	// Issued is when the fault was applied (or, when planning found no
	// target, when it was due); InEffect when it was observed to have taken
	// effect (zero if never); Reverted when it was undone.
	Issued   time.Time `json:"issued"`
	InEffect time.Time `json:"inEffect,omitzero"`
	// RevertIssued is when the revert began; Reverted when it was verified.
	RevertIssued time.Time `json:"revertIssued,omitzero"`
	Reverted     time.Time `json:"reverted,omitzero"`
	// Stage and Error say where and how the injection went wrong, if it
	// did: "plan" (nothing to hit), "apply", or "verify" (not observed in
	// effect in time).
	Stage string `json:"stage,omitempty"`
	Error string `json:"error,omitempty"`
	// RevertError is the last failed attempt to revert it.
	RevertError string `json:"revertError,omitempty"`
	// Verifying is true while the injector still waits for the effect.
	Verifying bool `json:"verifying,omitempty"`
	// SelfHealing: nothing to undo, the cluster heals it (a deleted pod
	// is replaced); its "revert" only lets go of it.
	SelfHealing bool `json:"selfHealing,omitempty"`
}

// TookEffect reports whether the fault was observed in effect.
func (e Event) TookEffect() bool { return !e.InEffect.IsZero() }

// Applied reports whether the fault was applied to the cluster (it may
// still not have been observed in effect).
func (e Event) Applied() bool { return e.Stage != StagePlan && e.Stage != StageApply }

// EffectLatency is the time from issue to the observed effect (0 if the
// effect was never observed).
func (e Event) EffectLatency() time.Duration {
	if e.InEffect.IsZero() {
		return 0
	}
	return e.InEffect.Sub(e.Issued)
}

// Observer is notified of events as they change, so they can be streamed
// to disk and shown live.
type Observer func(Event)
