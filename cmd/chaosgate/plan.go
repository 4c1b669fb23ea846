package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/chaosgate/chaosgate/suites/plan"
)

// planCmd is `chaosgate plan validate FILE...`: each plan parsed strictly,
// every problem printed as file:line:column: field: message. Exit 2 when
// any plan is invalid.
func planCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "validate" {
		return usagef("usage: chaosgate plan validate FILE...")
	}
	bad := 0
	for _, f := range args[1:] {
		p, err := plan.ParseFile(f)
		if err != nil {
			bad++
			var es plan.Errors
			if errors.As(err, &es) {
				for _, e := range es {
					fmt.Fprintln(stderr, e)
				}
				continue
			}
			fmt.Fprintf(stderr, "%s: %v\n", f, err)
			continue
		}
		var steps []string
		for _, s := range p.Steps {
			what := s.Fault
			if what == "" {
				what = "wait " + s.Wait
			}
			steps = append(steps, s.Name+" ("+what+")")
		}
		load := fmt.Sprintf("%d req/s on %s %s", p.Load.Rate, p.Load.Method, p.Load.Path)
		if p.Load.Agents > 0 {
			load += fmt.Sprintf(" from %d agent pods", p.Load.Agents)
		}
		if p.Load.None {
			load = "no load"
		}
		fmt.Fprintf(stdout, "%s: valid: %s, %s for %s; steps: %s; %d abort rule(s)\n", f, p.Name, load, p.Load.Duration, strings.Join(steps, ", "), len(p.Abort))
	}
	if bad > 0 {
		return usagef("%d of %d plan(s) invalid", bad, len(args)-1)
	}
	return nil
}
