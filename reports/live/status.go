// Package live shows a running scenario's state: as a panel redrawn in
// place on a terminal, or as one plain line every few seconds where the
// output is a log (CI).
package live

import (
	"fmt"
	"strings"
	"time"

	"github.com/chaosgate/chaosgate/load"
)

// Status is a running scenario's state at one moment.
type Status struct {
	Scenario string
	// Elapsed since the load began, of Planned.
	Elapsed, Planned time.Duration
	// Next is the next step (a fault, a wait, a rollout) and when it is
	// due; Started: it is under way since then.
	Next    string
	NextAt  time.Duration
	Started bool
	Faults  []Fault
	// Recent covers the last RecentSpan; Overall the whole load so far.
	Recent, Overall load.Recent
	RecentSpan      time.Duration
	// Serving and Desired are the target's replicas.
	Serving, Desired int
	Nodes            []Node
}

// Fault is a fault applied and not reverted yet, or applied lately.
type Fault struct {
	Kind, Target string
	// Since is when it was applied, from the load's start.
	Since time.Duration
	// State: "applying" (not seen in effect yet), "in effect",
	// "reverting", "reverted" or, for faults the cluster heals (pod and
	// container kills), "healing".
	State string
}

// Node is a node's name and state: Ready, NotReady or cordoned.
type Node struct {
	Name, State string
}

// Display shows a scenario's status as it changes. Show is called about
// once a second while the load runs, Hide when it ends.
type Display interface {
	Show(Status)
	Hide()
}

// Line is the status as one line, for logs: the nodes that are not Ready
// and schedulable only.
func Line(s Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s: %.0fs of %s, %d requests, %.2f%% ok, %d failed, p99 %s (last %s: %.2f%% ok, p99 %s), %d/%d replicas serving, %d fault(s)",
		s.Scenario, s.Elapsed.Seconds(), s.Planned, s.Overall.Total, s.Overall.Availability(), s.Overall.Total-s.Overall.OK, ms(s.Overall.P99),
		s.RecentSpan, s.Recent.Availability(), ms(s.Recent.P99), s.Serving, s.Desired, len(s.Faults))
	for i, f := range s.Faults {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s %s (%s)", sep, f.Kind, f.Target, f.State)
	}
	var off []string
	for _, n := range s.Nodes {
		if n.State != "Ready" {
			off = append(off, n.Name+" "+n.State)
		}
	}
	if len(off) > 0 {
		b.WriteString(", nodes: " + strings.Join(off, ", "))
	}
	switch {
	case s.Next == "":
	case s.Started:
		fmt.Fprintf(&b, "; step %s since %.0fs", s.Next, s.NextAt.Seconds())
	default:
		fmt.Fprintf(&b, "; next: %s at %.0fs", s.Next, s.NextAt.Seconds())
	}
	return b.String()
}

// panelLines is the status as a panel of labelled lines, for a terminal.
func panelLines(s Status) []string {
	out := []string{fmt.Sprintf("chaosgate · %s · %s of %s", s.Scenario, clock(s.Elapsed), clock(s.Planned))}
	switch {
	case s.Next == "":
		out = append(out, "next      no step left")
	case s.Started:
		out = append(out, fmt.Sprintf("step      %s, since %s", s.Next, clock(s.NextAt)))
	default:
		out = append(out, fmt.Sprintf("next      %s at %s (in %s)", s.Next, clock(s.NextAt), clock(s.NextAt-s.Elapsed)))
	}
	if len(s.Faults) == 0 {
		out = append(out, "faults    none")
	}
	for i, f := range s.Faults {
		label := "          "
		if i == 0 {
			label = "faults    "
		}
		out = append(out, fmt.Sprintf("%s%s %s at %s, %s", label, f.Kind, f.Target, clock(f.Since), f.State))
	}
	out = append(out,
		fmt.Sprintf("last %-4s %s", clock(s.RecentSpan), window(s.Recent)),
		fmt.Sprintf("overall   %s", window(s.Overall)),
		fmt.Sprintf("replicas  %d/%d serving", s.Serving, s.Desired))
	if len(s.Nodes) > 0 {
		nodes := make([]string, len(s.Nodes))
		for i, n := range s.Nodes {
			nodes[i] = n.Name + " " + n.State
		}
		out = append(out, "nodes     "+strings.Join(nodes, " · "))
	}
	return out
}

func window(w load.Recent) string {
	if w.Total == 0 {
		return "no requests"
	}
	return fmt.Sprintf("%6.2f%% ok of %d (%d failed), p99 %s", w.Availability(), w.Total, w.Total-w.OK, ms(w.P99))
}

// ms rounds a latency for reading: whole milliseconds, or tenths below 10ms.
func ms(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// clock is a duration in whole seconds, as 1m05s.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
