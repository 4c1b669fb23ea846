package reports

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The numbers the HTML report draws, computed by small pure functions so the
// renderer only renders. Every time is seconds from load start, the axis all
// charts of a scenario share.

// chartPointBudget bounds the points a chart draws, about one per pixel of a
// wide screen: a 20-minute run at 1s windows is drawn whole, longer ones are
// thinned by pickExtremes. Only what is drawn is thinned; the numbers in the
// tables come from the report itself.
const chartPointBudget = 1200

// series is a chart's values; NaN is a gap (no data), written as null.
type series []float64

// MarshalJSON writes the shortest form of each value and null for NaN, which
// keeps the embedded data small.
func (s series) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(s)+2)
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return append(b, ']'), nil
}

// chartScenario is what the page's script draws for one scenario.
type chartScenario struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// XMin and XMax bound the shared time axis.
	XMin float64 `json:"xMin"`
	XMax float64 `json:"xMax"`
	// Windows is the per-window success rate, request rate and latency.
	Windows    windowSeries   `json:"windows"`
	Faults     []faultSpan    `json:"faults"`
	Recoveries []recoveryMark `json:"recoveries"`
	Replicas   replicaSteps   `json:"replicas"`
	Nodes      nodeLanes      `json:"nodes"`
	Usage      usageSeries    `json:"usage"`
}

// usageSeries is the target pods' CPU (metrics API) and the requests they
// counted themselves, on one time base: each sample time of either, the
// other's value null there.
type usageSeries struct {
	Source int    `json:"source"`
	T      series `json:"t"`
	CPU    series `json:"cpu"`
	RPS    series `json:"rps"`
}

// usageSeriesOf merges CPU samples and per-pod request rates (summed over
// the pods at each scrape) by time.
func usageSeriesOf(usage []UsagePoint, rates []PodRatePoint) usageSeries {
	cpu, rps := map[float64]float64{}, map[float64]float64{}
	for _, u := range usage {
		cpu[round(u.T, 3)] = round(u.PodsCPUMilli, 1)
	}
	for _, r := range rates {
		rps[round(r.T, 3)] += r.RPS
	}
	ts := slices.Sorted(maps.Keys(cpu))
	for t := range rps {
		if _, ok := cpu[t]; !ok {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	out := usageSeries{Source: len(usage) + len(rates)}
	for _, t := range ts {
		out.T = append(out.T, t)
		out.CPU = append(out.CPU, nullIfMissing(cpu, t))
		out.RPS = append(out.RPS, nullIfMissing(rps, t))
	}
	return out
}

// nullIfMissing is m[t], or NaN (null in the page's JSON) when absent.
func nullIfMissing(m map[float64]float64, t float64) float64 {
	if v, ok := m[t]; ok {
		return round(v, 2)
	}
	return math.NaN()
}

// windowSeries holds the windows the charts draw, all sampled at the same
// instants so the charts' cursors line up.
type windowSeries struct {
	// Source is how many windows the report has; len(T) is fewer only when
	// they were thinned.
	Source int    `json:"source"`
	T      series `json:"t"`
	// Success is the share of requests that succeeded, in percent; NaN for
	// a window in which no request started.
	Success series `json:"success"`
	// Rate is requests started per second.
	Rate series `json:"rate"`
	// P50 and P99 are latencies of successful requests in ms; NaN when none
	// succeeded.
	P50 series `json:"p50"`
	P99 series `json:"p99"`
}

// faultSpan places a fault on the time axis. InEffect and RevertIssued are
// nil when they never happened.
type faultSpan struct {
	ID           string   `json:"id"`
	Label        string   `json:"label"`
	Kind         string   `json:"kind"`
	Start        float64  `json:"start"`
	InEffect     *float64 `json:"inEffect"`
	RevertIssued *float64 `json:"revertIssued"`
	// End is the last known instant of the fault: reverted, in effect or
	// issued, whichever came last.
	End        float64 `json:"end"`
	TookEffect bool    `json:"tookEffect"`
	Error      string  `json:"error,omitempty"`
}

// recoveryMark is the instant the workload was whole again after a fault.
type recoveryMark struct {
	FaultID string  `json:"faultId"`
	T       float64 `json:"t"`
	Seconds float64 `json:"seconds"`
}

// replicaSteps is serving and desired replicas as a step line.
type replicaSteps struct {
	Source  int    `json:"source"`
	T       series `json:"t"`
	Ready   series `json:"ready"`
	Desired series `json:"desired"`
}

// Node lane states: Ready condition True, False or Unknown; a trailing "c"
// means cordoned (unschedulable); "" means not seen yet.
const (
	laneReady    = "R"
	laneNotReady = "N"
	laneUnknown  = "U"
	laneCordoned = "c"
)

// nodeLanes is every node's state as lanes over time: States[n][i] holds
// node n's state from T[i] until T[i+1].
type nodeLanes struct {
	Source int        `json:"source"`
	Names  []string   `json:"names"`
	T      series     `json:"t"`
	States [][]string `json:"states"`
}

// buildChartScenario computes everything a scenario's charts draw.
func buildChartScenario(id string, s Scenario) chartScenario {
	c := chartScenario{ID: id, Name: s.Name, Faults: faultSpans(s.Faults), Recoveries: recoveryMarks(s.Faults, s.Recoveries)}
	c.Windows = windowSeriesOf(s.Timeline, s.Load.Seconds(), chartPointBudget)
	c.XMin, c.XMax = timeAxis(s)
	c.Replicas = replicaStepsOf(s.Replicas, c.XMax)
	c.Nodes = nodeLanesOf(s.Nodes, c.XMax)
	c.Usage = usageSeriesOf(s.Usage, s.PodRates)
	return c
}

// timeAxis is the shared axis of a scenario's charts: from load start to the
// last thing observed (the last window's end, a fault's end, a replica or
// node change), at least as long as the load ran.
func timeAxis(s Scenario) (lo, hi float64) {
	hi = s.Load.Seconds()
	if n := len(s.Timeline.Windows); n > 0 {
		w := s.Timeline.WindowSeconds
		if w <= 0 {
			w = 1
		}
		hi = max(hi, s.Timeline.Windows[n-1].T+w)
	}
	for _, f := range faultSpans(s.Faults) {
		hi = max(hi, f.End)
	}
	for _, r := range recoveryMarks(s.Faults, s.Recoveries) {
		hi = max(hi, r.T)
	}
	for _, p := range s.Replicas {
		hi = max(hi, p.T)
	}
	for _, p := range s.Nodes {
		hi = max(hi, p.T)
	}
	if hi <= 0 {
		hi = 1
	}
	return 0, hi
}

// windowSeriesOf turns the report's windows into chart series, thinned to at
// most budget points by pickExtremes. duration is the load's, in seconds.
func windowSeriesOf(tl Timeline, duration float64, budget int) windowSeries {
	n := len(tl.Windows)
	width := tl.WindowSeconds
	if width <= 0 {
		width = 1
	}
	success, rate, p50, p99 := make(series, n), make(series, n), make(series, n), make(series, n)
	for i, w := range tl.Windows {
		success[i], p50[i], p99[i] = math.NaN(), math.NaN(), math.NaN()
		rate[i] = round(windowRate(w, width, duration), 2)
		if w.Total > 0 {
			success[i] = round(w.Availability*100, 3)
		}
		if w.OK > 0 {
			p50[i], p99[i] = round(w.P50MS, 2), round(w.P99MS, 2)
		}
	}
	out := windowSeries{Source: n}
	for _, i := range pickExtremes(n, budget, success, rate, p50, p99) {
		out.T = append(out.T, round(tl.Windows[i].T, 3))
		out.Success = append(out.Success, success[i])
		out.Rate = append(out.Rate, rate[i])
		out.P50 = append(out.P50, p50[i])
		out.P99 = append(out.P99, p99[i])
	}
	return out
}

// windowRate is the requests started per second in w. The window the load
// ends in is only partly covered by the schedule, so its rate is taken over
// the covered part; when that is under half a window (typically the one
// request scheduled at the very end) there is no rate to speak of (NaN), not
// a drop to 1 req/s.
func windowRate(w Window, width, duration float64) float64 {
	span := width
	if duration > 0 && w.T+width > duration {
		span = duration - w.T
	}
	if span < width/2 {
		return math.NaN()
	}
	return float64(w.Total) / span
}

// pickExtremes chooses at most budget of n indices so that a chart of the
// chosen points keeps every series' extremes: n is cut into buckets and each
// bucket keeps its first point plus the lowest and highest value of every
// series. A one-second dip in success rate or spike in p99 thus survives
// thinning. NaN values are ignored. All indices are returned when n fits.
// At most max(budget, 2+2*len(ss)) indices are returned.
func pickExtremes(n, budget int, ss ...series) []int {
	if n <= 0 {
		return nil
	}
	all := make([]int, n)
	for i := range all {
		all[i] = i
	}
	if n <= budget {
		return all
	}
	// one slot is kept for the last point; a budget too small for one
	// bucket still gets one, extremes matter more than the count
	perBucket := 1 + 2*len(ss)
	buckets := max(1, (budget-1)/perBucket)
	keep := make([]int, 0, budget)
	for b := 0; b < buckets; b++ {
		lo, hi := b*n/buckets, (b+1)*n/buckets
		keep = append(keep, lo)
		for _, s := range ss {
			minI, maxI := -1, -1
			for i := lo; i < hi; i++ {
				if math.IsNaN(s[i]) {
					continue
				}
				if minI < 0 || s[i] < s[minI] {
					minI = i
				}
				if maxI < 0 || s[i] > s[maxI] {
					maxI = i
				}
			}
			if minI >= 0 {
				keep = append(keep, minI, maxI)
			}
		}
	}
	keep = append(keep, n-1)
	slices.Sort(keep)
	return slices.Compact(keep)
}

// offsetOf converts an absolute instant of a fault to seconds from load
// start: Offset is Issued's offset, so any other instant is Offset plus its
// distance from Issued. It returns nil for a zero time.
func offsetOf(f Fault, t time.Time) *float64 {
	if t.IsZero() || f.Issued.IsZero() {
		return nil
	}
	v := round(f.Offset+t.Sub(f.Issued).Seconds(), 3)
	return &v
}

// faultSpans places every fault on the time axis.
func faultSpans(faults []Fault) []faultSpan {
	out := make([]faultSpan, 0, len(faults))
	perKind := map[string]int{}
	for _, f := range faults {
		perKind[f.Kind]++
		sp := faultSpan{ID: f.ID, Kind: f.Kind, Label: f.Kind + " " + strconv.Itoa(perKind[f.Kind]),
			Start: round(f.Offset, 3), TookEffect: f.TookEffect, Error: f.Error}
		sp.InEffect = offsetOf(f, f.InEffect)
		sp.RevertIssued = offsetOf(f, f.RevertIssued)
		sp.End = sp.Start
		for _, t := range []*float64{sp.InEffect, sp.RevertIssued, offsetOf(f, f.Reverted)} {
			if t != nil {
				sp.End = max(sp.End, *t)
			}
		}
		out = append(out, sp)
	}
	return out
}

// recoveryMarks places each recovery on the time axis, through its fault's
// offset; recoveries of unknown faults or that never happened are left out.
func recoveryMarks(faults []Fault, recs []Recovery) []recoveryMark {
	byID := map[string]Fault{}
	for _, f := range faults {
		byID[f.ID] = f
	}
	out := []recoveryMark{}
	for _, r := range recs {
		f, ok := byID[r.FaultID]
		if !ok || r.Seconds == nil || r.Recovered.IsZero() {
			continue
		}
		if t := offsetOf(f, r.Recovered); t != nil {
			out = append(out, recoveryMark{FaultID: r.FaultID, T: *t, Seconds: round(*r.Seconds, 3)})
		}
	}
	return out
}

// replicaStepsOf turns replica changes into a step line from 0 to end.
// Changes before load start collapse into the state at load start, changes
// at the same instant into the last one, and the last state is carried to
// end so the line spans the axis.
func replicaStepsOf(points []ReplicaPoint, end float64) replicaSteps {
	out := replicaSteps{Source: len(points)}
	for _, p := range points {
		t := round(max(p.T, 0), 3)
		if n := len(out.T); n > 0 && out.T[n-1] == t {
			out.Ready[n-1], out.Desired[n-1] = float64(p.Ready), float64(p.Desired)
			continue
		}
		out.T = append(out.T, t)
		out.Ready = append(out.Ready, float64(p.Ready))
		out.Desired = append(out.Desired, float64(p.Desired))
	}
	if n := len(out.T); n > 0 && out.T[n-1] < end {
		out.T = append(out.T, round(end, 3))
		out.Ready = append(out.Ready, out.Ready[n-1])
		out.Desired = append(out.Desired, out.Desired[n-1])
	}
	return out
}

// laneState encodes a node's state for the lanes chart.
func laneState(p NodePoint) string {
	s := laneUnknown
	switch p.Ready {
	case "True":
		s = laneReady
	case "False":
		s = laneNotReady
	}
	if !p.Schedulable {
		s += laneCordoned
	}
	return s
}

// nodeLanesOf turns node changes into lanes, one per node (sorted by name),
// sampled at every instant any node changed plus end.
func nodeLanesOf(points []NodePoint, end float64) nodeLanes {
	out := nodeLanes{Source: len(points), Names: []string{}, States: [][]string{}}
	if len(points) == 0 {
		return out
	}
	ps := slices.Clone(points)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].T < ps[j].T })
	lane := map[string]int{}
	for _, p := range ps {
		if _, ok := lane[p.Node]; !ok {
			lane[p.Node] = 0
			out.Names = append(out.Names, p.Node)
		}
	}
	slices.Sort(out.Names)
	for i, n := range out.Names {
		lane[n] = i
	}
	cur := make([]string, len(out.Names))
	out.States = make([][]string, len(out.Names))
	push := func(t float64) {
		out.T = append(out.T, t)
		for i := range cur {
			out.States[i] = append(out.States[i], cur[i])
		}
	}
	for _, p := range ps {
		t := round(max(p.T, 0), 3)
		if n := len(out.T); n == 0 || out.T[n-1] != t {
			push(t)
		}
		cur[lane[p.Node]] = laneState(p)
		for i := range cur {
			out.States[i][len(out.T)-1] = cur[i]
		}
	}
	if out.T[len(out.T)-1] < end {
		push(round(end, 3))
	}
	return out
}

// errorBudget is the share of an availability SLO's allowed failures that a
// run consumed.
type errorBudget struct {
	// Consumed is a fraction: 1 means every allowed failure was used; +Inf
	// when the SLO allowed none and some failed.
	Consumed float64
	// Counted is true when Failed and Allowed are request counts (the check
	// covers the whole timeline); otherwise only Consumed is known.
	Counted         bool
	Failed, Allowed float64
}

// availabilityBudget computes the error budget of an availability check:
// failed / ((1 - threshold/100) * total). A check over the whole timeline
// ("availability") uses its exact counts; one over part of it (e.g.
// "availability-after-endpoints-moved") is known only as a percentage, and
// (100 - measured) / (100 - threshold) is the same ratio. It reports false
// for any other check, a skipped one, or one with nothing measured.
func availabilityBudget(c Check, tl Timeline) (errorBudget, bool) {
	if !strings.HasPrefix(c.ID, "availability") || c.Unit != "%" || c.Comparator != ">=" || c.Skipped || c.Measured == nil {
		return errorBudget{}, false
	}
	if c.ID == "availability" && tl.Total > 0 {
		b := errorBudget{Counted: true, Failed: float64(tl.Failed), Allowed: (1 - c.Threshold/100) * float64(tl.Total)}
		b.Consumed = ratio(b.Failed, b.Allowed)
		return b, true
	}
	return errorBudget{Consumed: ratio(max(100-*c.Measured, 0), 100-c.Threshold)}, true
}

// ratio is used/allowed, where nothing allowed and something used is +Inf.
func ratio(used, allowed float64) float64 {
	switch {
	case used <= 0:
		return 0
	case allowed <= 0:
		return math.Inf(1)
	}
	return used / allowed
}

func round(v float64, digits int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
