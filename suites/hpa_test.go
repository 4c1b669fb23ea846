package suites

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

func TestHPAValidation(t *testing.T) {
	w, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--hpa-step-rate", "150", "--hpa-baseline", "0s"}, ""},
		{[]string{"--hpa-path", "//elsewhere/x"}, `--hpa-path "//elsewhere/x"`},
		{[]string{"--hpa-step-rate", "30000", "--hpa-max-rate", "100"}, "--hpa-step-rate 30000"},
		{[]string{"--hpa-path", "work"}, `--hpa-path "work"`},
		{[]string{"--hpa-baseline-rate", "0"}, "--hpa-baseline-rate 0"},
		{[]string{"--hpa-max-rate", "20"}, "--hpa-max-rate 20: must be above --hpa-baseline-rate 20"},
		{[]string{"--hpa-step-rate", "10"}, "--hpa-step-rate 10"},
		{[]string{"--hpa-step-factor", "1"}, "--hpa-step-factor 1"},
		{[]string{"--hpa-max-rate", "20000", "--request-timeout", "30s"}, "requests could be in flight"},
		{[]string{"--hpa-calibration", "10s"}, "the metrics API resolves 15s"},
		{[]string{"--hpa-hold", "5s"}, "--hpa-hold 5s"},
		{[]string{"--hpa-max-scale-in", "0s"}, "--hpa-max-scale-in 0s"},
	} {
		p := paramsFromFlags(t, c.args...)
		err := hpaSuite.Validate(p, w, func(string) bool { return true })
		expectErr(t, c.args, err, c.want)
	}
	// no autoscaler: the suite has nothing to test (an input error when
	// chosen by name, left out under "all")
	plain, err := workload.LoadWorkload("bundled:broken-no-graceful", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if reason := hpaSuite.Skip(DefaultParams(), plain); !strings.Contains(reason, "no HorizontalPodAutoscaler") {
		t.Fatalf("skip reason %q", reason)
	}
	if reason := hpaSuite.Skip(DefaultParams(), w); reason != "" {
		t.Fatalf("the sample has an autoscaler, skipped: %q", reason)
	}
}

// The profile: baseline, step, then the baseline for the scale-down
// window and the scale-in budget; the load requests the autoscaler's
// annotated path.
func TestHPAScenario(t *testing.T) {
	w, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sc := hpaSuite.Scenarios(paramsFromFlags(t), w)[0]
	want := []load.Phase{{Rate: 20, Duration: 10 * time.Second}, {Rate: 120, Duration: 75 * time.Second}, {Rate: 20, Duration: 60 * time.Second}}
	if len(sc.Load.Phases) != 3 || sc.Load.Phases[0] != want[0] || sc.Load.Phases[1] != want[1] || sc.Load.Phases[2] != want[2] {
		t.Fatalf("phases %+v", sc.Load.Phases)
	}
	if sc.Load.Duration != 145*time.Second || sc.Path != "/work?ms=2" || sc.Prepare == nil || sc.PrepareTime != 35*time.Second || sc.PrepareMax != 90*time.Second {
		t.Fatalf("duration %s, path %q, prepare time %s..%s", sc.Load.Duration, sc.Path, sc.PrepareTime, sc.PrepareMax)
	}
	// the load ends once the sample is back at 3 replicas, not before the
	// 20s scale-down window has passed after the step down
	if e := sc.EndEarly; e == nil || e.NotBefore != 105*time.Second || e.ReplicasAt != 10*time.Second || len(e.When) != 1 || e.When[0] != engine.ReplicasBack || sc.TypicalLoad() != 135*time.Second {
		t.Fatalf("early end %+v, typical load %s", e, sc.TypicalLoad())
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, from := hpaPath(paramsFromFlags(t, "--hpa-path", "/burn"), w); got != "/burn" || from != "--hpa-path" {
		t.Fatalf("--hpa-path ignored: %q from %s", got, from)
	}
	if _, from := hpaPath(paramsFromFlags(t), w); !strings.HasPrefix(from, "sample/hpa.yaml:") || !strings.HasSuffix(from, ": annotation chaosgate.dev/load-path") {
		t.Fatalf("the annotation's path comes from %q", from)
	}
	// its load is measured from this machine, whatever --load-agents says
	if sc := hpaSuite.Scenarios(paramsFromFlags(t, "--load-agents", "2"), w)[0]; sc.Load.Agents != 0 {
		t.Fatalf("%d agents", sc.Load.Agents)
	}
	ids := map[string]bool{}
	for _, c := range sc.Checks {
		ids[c.ID] = true
	}
	for _, id := range []string{"scaling-active", "scale-out-reaction", "scale-out-reach", "scale-in", "failed-requests", "latency-p99", "load-rate"} {
		if !ids[id] {
			t.Errorf("check %s missing", id)
		}
	}
}

func TestDeriveStep(t *testing.T) {
	h := paramsFromFlags(t).HPA
	f := engine.CPUFormula{RequestMilli: 100, TargetPercent: 60, Min: 3, Max: 6}
	for _, c := range []struct {
		name string
		f    engine.CPUFormula
		cost float64
		want int
		why  string
	}{
		// 3 x 60m = 180m absorbs 36 req/s at 5m each; 2.5 times that
		{"2.5 times what the minimum absorbs", f, 5, 90, "3 replica(s) absorb 36 req/s"},
		{"capped", f, 0.1, 120, "(--hpa-max-rate), below"},
		{"at least above the baseline", f, 100, 21, "just above the baseline"},
		{"no request", engine.CPUFormula{TargetPercent: 60, Min: 3}, 3, 50, "2.5 times the baseline: without a CPU request"},
		{"nothing measured", f, 0, 50, "measured no CPU"},
	} {
		got, why := deriveStep(h, c.f, c.cost)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: %d (%s), want %d", c.name, got, why, c.want)
		}
	}
}
