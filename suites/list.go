package suites

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
)

// List prints every suite, its checks and labels, and its expected
// duration, as a Ginkgo dry run walks them: nothing is touched, no cluster
// is needed. Checks the label filter leaves out are marked as such.
func List(ctx context.Context, w io.Writer, o Options) error {
	g, err := newGate(ctx, o)
	if err != nil {
		return err
	}
	RegisterFailHandler(Fail)
	g.register()
	sc, rc := g.configs(true)
	sc.LabelFilter = "" // list everything; mark what the filter selects
	r := PreviewSpecs("chaosgate resilience gate", sc, rc)
	filter, _ := types.ParseLabelFilter(g.filter)
	var total time.Duration
	selected := 0
	for _, sk := range g.notApplicable {
		fmt.Fprintf(w, "%s — skipped: %s\n\n", sk.Name, sk.Reason)
	}
	for _, s := range All {
		if g.isSkipped(s.Name) {
			continue
		}
		for _, sc := range s.Scenarios(g.o.Params, g.w) {
			typical := ExpectedScenario(sc)
			labels := append([]string{SuiteLabel(s.Name), ScenarioLabel(sc.Name)}, s.Labels...)
			fmt.Fprintf(w, "%s — %s\n  labels: %s\n  expected: about %s (up to %s if the workload does not heal)\n  checks:\n",
				sc.Name, sc.Title, strings.Join(append(labels, sc.Labels...), ", "), typical.Round(time.Second), WorstScenario(sc).Round(time.Second))
			any := false
			for _, spec := range r.SpecReports {
				if spec.LeafNodeType != types.NodeTypeIt || !hasLabel(spec, ScenarioLabel(sc.Name)) {
					continue
				}
				mark := " "
				if filter == nil || filter(spec.Labels()) {
					mark, any = "•", true
					selected++
				}
				fmt.Fprintf(w, "   %s %s [%s]\n", mark, spec.LeafNodeText, strings.Join(spec.LeafNodeLabels, ", "))
			}
			if any {
				total += typical
			}
		}
	}
	fmt.Fprintf(w, "\n%d check(s) selected (• above) by %s; expected total about %s on a warm cluster.\n", selected, orAll(g.filter), total.Round(time.Second))
	return nil
}

func hasLabel(s types.SpecReport, l string) bool {
	for _, x := range s.Labels() {
		if x == l {
			return true
		}
	}
	return false
}
