package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/reports"
)

func TestCPUFormulaPredictsWithinTheControllersTolerance(t *testing.T) {
	f := CPUFormula{RequestMilli: 100, TargetPercent: 60, Min: 3, Max: 6}
	for _, c := range []struct {
		cpu  float64
		want int32
	}{
		{0, 3},    // never below the minimum
		{130, 3},  // 130 / 66 = 1.97
		{264, 4},  // exactly 4 x 66: no fifth replica within the tolerance
		{265, 5},  // just above
		{360, 6},  // 5.45
		{2000, 6}, // capped by the maximum
	} {
		if got := f.Predict(c.cpu); got != c.want {
			t.Errorf("Predict(%gm) = %d, want %d", c.cpu, got, c.want)
		}
	}
}

// expectJudged checks a check's outcome, and that its message or detail
// says text.
func expectJudged(t *testing.T, got reports.Check, passed, skipped bool, text string) {
	t.Helper()
	if got.Passed != passed || got.Skipped != skipped || !strings.Contains(got.Message()+" "+got.Detail, text) {
		t.Fatalf("passed %v skipped %v, %q / %q", got.Passed, got.Skipped, got.Message(), got.Detail)
	}
}

// hpaRun is an observation of a run whose load stepped up at 10s and down
// at 70s, with the autoscaler's states at the given offsets.
func hpaRun(states ...HPAState) *Observation {
	origin := time.Unix(1000, 0)
	o := &Observation{Origin: origin, End: origin.Add(150 * time.Second)}
	for _, s := range states {
		s.Name = "web"
		s.At = origin.Add(s.At.Sub(time.Unix(0, 0)))
		if s.Conditions == nil {
			s.Conditions = map[string]string{"ScalingActive": "True", "AbleToScale": "True"}
		}
		o.HPA = append(o.HPA, s)
	}
	return o
}

// after is a state's time as an offset from the load's start (see hpaRun).
func after(sec float64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(sec * float64(time.Second)))
}

var step = LoadStep{Up: 10 * time.Second, Down: 70 * time.Second}

func TestScaleOutWithin(t *testing.T) {
	for _, c := range []struct {
		name   string
		obs    *Observation
		passed bool
		text   string
	}{
		{"scales out 30s after the step", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(40), Desired: 6}), true, "3 -> 6 desired replicas 30.0s"},
		{"too late", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(80), Desired: 6}), false, "70.0s"},
		{"never", hpaRun(HPAState{At: after(-20), Desired: 3, Conditions: map[string]string{"ScalingActive": "False: FailedGetResourceMetric: missing request for cpu"}}), false, "ScalingActive False: FailedGetResourceMetric"},
		{"no autoscaler", hpaRun(), false, "no state"},
		// desired 0: it never computed a count; its first one is no scale-out
		{"first count is the current one", hpaRun(HPAState{At: after(-20), Current: 3}, HPAState{At: after(30), Desired: 3, Current: 3}), false, "still 3 desired replicas"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ScaleOutWithin("web", step, time.Minute).Eval(c.obs)
			expectJudged(t, got, c.passed, false, c.text)
		})
	}
}

func TestScaleOutReach(t *testing.T) {
	f := CPUFormula{Autoscaler: "web", RequestMilli: 100, TargetPercent: 60, Min: 3, Max: 6}
	withCPU := func(o *Observation, milli float64) *Observation {
		// the step's second half is 40s-70s; a sample outside it does not count
		for _, sec := range []float64{20, 45, 60} {
			v := milli
			if sec == 20 {
				v = 10_000
			}
			o.Usage = append(o.Usage, Usage{At: o.Origin.Add(time.Duration(sec) * time.Second), Pods: map[string]Resources{"a": {CPUMilli: v / 2}, "b": {CPUMilli: v / 2}}})
		}
		return o
	}
	for _, c := range []struct {
		name    string
		f       CPUFormula
		obs     *Observation
		passed  bool
		skipped bool
		text    string
	}{
		{"reaches the prediction", f, withCPU(hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(35), Desired: 6}), 360), true, false, "asks for at least 6"},
		{"stops short of it", f, withCPU(hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(35), Desired: 4}), 360), false, false, "360m CPU"},
		{"reaches it only after the budget", f, withCPU(hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(75), Desired: 6}), 360), false, false, ""},
		{"capped by the maximum", CPUFormula{Autoscaler: "web", RequestMilli: 100, TargetPercent: 60, Min: 3, Max: 3}, withCPU(hpaRun(HPAState{At: after(-20), Desired: 3}), 360), true, false, "max 3"},
		{"no CPU request", CPUFormula{Autoscaler: "web", TargetPercent: 60, Min: 3, Max: 6}, hpaRun(HPAState{At: after(-20), Desired: 3}), true, true, "CPU request"},
		{"no CPU sample", f, hpaRun(HPAState{At: after(-20), Desired: 3}), false, false, "no CPU"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ScaleOutReach(c.f, step, time.Minute).Eval(c.obs)
			expectJudged(t, got, c.passed, c.skipped, c.text)
		})
	}
}

func TestScaleInWithin(t *testing.T) {
	for _, c := range []struct {
		name    string
		obs     *Observation
		passed  bool
		skipped bool
		text    string
	}{
		{"back within window and budget", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(40), Desired: 6}, HPAState{At: after(125), Desired: 3}), true, false, "6 -> 3 desired replicas 55.0s"},
		{"back too late", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(40), Desired: 6}, HPAState{At: after(148), Desired: 3}), false, false, ""},
		{"partly back", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(40), Desired: 6}, HPAState{At: after(100), Desired: 4}), false, false, "still 4 desired replicas (3 before the step)"},
		{"never scaled out", hpaRun(HPAState{At: after(-20), Desired: 3}), true, true, "never scaled out"},
		// metrics lag the drop: out only after it, back 60s after the drop
		{"scaled out after the load dropped", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(72), Desired: 3, Current: 3, Metrics: []string{"x"}}, HPAState{At: after(80), Desired: 5}, HPAState{At: after(130), Desired: 3}), true, false, "5 -> 3 desired replicas 60.0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ScaleInWithin("web", step, 30*time.Second, 45*time.Second).Eval(c.obs)
			expectJudged(t, got, c.passed, c.skipped, c.text)
		})
	}
}

func TestScalingActive(t *testing.T) {
	inactive := map[string]string{"ScalingActive": "False: FailedGetResourceMetric: missing request for cpu"}
	for _, c := range []struct {
		name   string
		obs    *Observation
		passed bool
		text   string
	}{
		{"active throughout", hpaRun(HPAState{At: after(-20), Desired: 3}, HPAState{At: after(40), Desired: 6}), true, "never False"},
		// False before the load started counts only from the start
		{"inactive until 30s", hpaRun(HPAState{At: after(-20), Desired: 3, Conditions: inactive}, HPAState{At: after(30), Desired: 3}), false, "missing request for cpu"},
		{"inactive before the load only", hpaRun(HPAState{At: after(-20), Conditions: inactive}, HPAState{At: after(-5), Desired: 3}), true, ""},
		{"no autoscaler", hpaRun(), false, "no state"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ScalingActive("web").Eval(c.obs)
			expectJudged(t, got, c.passed, false, c.text)
		})
	}
	got := ScalingActive("web").Eval(hpaRun(HPAState{At: after(-20), Conditions: inactive}, HPAState{At: after(30), Desired: 3}))
	if got.Measured == nil || *got.Measured != 30 {
		t.Fatalf("measured %v, want 30s inactive", got.Measured)
	}
}
