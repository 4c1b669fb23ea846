package engine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosgate/chaosgate/reports"
)

const sampleMetrics = `# HELP sampleapp_http_requests_total HTTP requests by handler and status code.
# TYPE sampleapp_http_requests_total counter
sampleapp_http_requests_total{code="200",handler="root"} 1200
sampleapp_http_requests_total{code="503",handler="root"} 7
sampleapp_http_requests_total{code="200",handler="work"} 30
# TYPE sampleapp_build_info gauge
sampleapp_build_info{version="v1"} 1
`

func TestRequestCounts(t *testing.T) {
	ms, err := ParseMetrics([]byte(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	total, failed, err := ms.RequestCounts("sampleapp_http_requests_total", "code")
	if err != nil || total != 1237 || failed != 7 {
		t.Fatalf("total %v, failed %v, err %v", total, failed, err)
	}
	for want, metric := range map[string]string{
		"no http_requests_total": "http_requests_total",
		"is a gauge":             "sampleapp_build_info",
	} {
		if _, _, err := ms.RequestCounts(metric, "code"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v", want, err)
		}
	}
	if _, err := ParseMetrics([]byte("this is { not metrics")); err == nil || !strings.Contains(err.Error(), "metrics:") {
		t.Errorf("not metrics: err %v", err)
	}
}

func TestSharesCountRestartsAndNewPods(t *testing.T) {
	t0 := time.Unix(1000, 0)
	samples := []AppSample{
		{At: t0, Requests: map[string]float64{"a": 100, "b": 50}, Errors: map[string]float64{}},
		{At: t0.Add(2 * time.Second), Requests: map[string]float64{"a": 300, "b": 250}, Errors: map[string]float64{"b": 5}},
		// b restarted (its counter starts again); c is new
		{At: t0.Add(4 * time.Second), Requests: map[string]float64{"a": 500, "b": 40, "c": 160}, Errors: map[string]float64{"b": 5}},
	}
	got := Shares(samples)
	want := []PodShare{{"a", 400, 0, -1}, {"b", 240, 10, -1}, {"c", 160, 0, -1}}
	if len(got) != len(want) {
		t.Fatalf("shares %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("share %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if Shares(samples[:1]) != nil {
		t.Fatal("one scrape counts nothing")
	}
	// the report: shares of all counted, rates per pod between scrapes
	sc := &reports.Scenario{}
	fillMetrics(sc, &Observation{Origin: t0, App: samples})
	if len(sc.PodTraffic) != 3 || sc.PodTraffic[0].Share != 0.5 || sc.PodTraffic[2].Share != 0.2 {
		t.Fatalf("traffic %+v", sc.PodTraffic)
	}
	var rateA []float64
	for _, r := range sc.PodRates {
		if r.Pod == "a" {
			rateA = append(rateA, r.RPS)
		}
	}
	if len(rateA) != 2 || rateA[0] != 100 || rateA[1] != 100 {
		t.Fatalf("pod a rates %v from %+v", rateA, sc.PodRates)
	}
}

func TestMetricsObserverSamplesTheAPIAndThePods(t *testing.T) {
	running := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"}},
			Status: corev1.PodStatus{PodIP: "10.244.1.2"}}
	}
	cs := fake.NewClientset(running("web-1"), running("web-2"))
	var paths []string
	m := &MetricsObserver{Client: cs, Namespace: "shop", Selector: "app=web", Interval: 50 * time.Millisecond,
		App: AppMetrics{Port: "8080", Path: "/metrics", RequestsMetric: "sampleapp_http_requests_total", CodeLabel: "code"},
		raw: func(_ context.Context, path, selector string) ([]byte, error) {
			paths = append(paths, path+"?"+selector)
			if strings.HasSuffix(path, "/nodes") {
				return []byte(`{"items":[{"metadata":{"name":"w1"},"usage":{"cpu":"250m","memory":"1Gi"}}]}`), nil
			}
			return []byte(`{"items":[{"metadata":{"name":"web-1"},"containers":[{"usage":{"cpu":"12500000n","memory":"20Mi"}},{"usage":{"cpu":"5m","memory":"4Mi"}}]}]}`), nil
		},
		scrape: func(_ context.Context, pod string) ([]byte, error) {
			if pod == "web-2" {
				return nil, errors.New("connection refused")
			}
			return []byte(sampleMetrics), nil
		},
	}
	m.sample(context.Background())
	usage, app, problems := m.Samples()
	if len(usage) != 1 || usage[0].Pods["web-1"] != (Resources{CPUMilli: 17.5, MemoryMiB: 24}) || usage[0].Nodes["w1"].MemoryMiB != 1024 {
		t.Fatalf("usage %+v", usage)
	}
	if paths[0] != "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?app=web" {
		t.Fatalf("paths %v", paths)
	}
	// the pod that answered counts; the one that did not is noted once
	if len(app) != 1 || app[0].Requests["web-1"] != 1237 || len(app[0].Requests) != 1 {
		t.Fatalf("app %+v", app)
	}
	if !strings.Contains(problems["app metrics"], "web-2: connection refused") {
		t.Fatalf("problems %v", problems)
	}
	// a pod that served nothing yet has no series: it counts zero; an
	// endpoint on which no pod ever shows the counter names it
	m.App.RequestsMetric = "http_requests_total"
	m.app, m.problems, m.counted = nil, nil, false
	m.sample(context.Background())
	if _, app, problems := m.Samples(); app != nil || !strings.Contains(problems["app metrics"], "no pod exposes http_requests_total") {
		t.Fatalf("app %v, problems %v", app, problems)
	}
	// without an app endpoint, only the API is sampled; a failing API is
	// noted, never fatal
	m2 := &MetricsObserver{Client: cs, Namespace: "shop", Selector: "app=web", Interval: 50 * time.Millisecond,
		raw: func(context.Context, string, string) ([]byte, error) {
			return nil, errors.New("the server could not find the requested resource")
		}}
	m2.sample(context.Background())
	usage, app, problems = m2.Samples()
	if len(usage) != 0 || len(app) != 0 || !strings.Contains(problems["metrics API (pods)"], "could not find") {
		t.Fatalf("usage %v app %v problems %v", usage, app, problems)
	}
}

const latencyMetrics = `# TYPE d histogram
d_bucket{handler="root",le="0.01"} 90
d_bucket{handler="root",le="0.1"} 99
d_bucket{handler="root",le="1"} 100
d_bucket{handler="root",le="+Inf"} 100
d_sum{handler="root"} 2
d_count{handler="root"} 100
d_bucket{handler="work",le="0.01"} 0
d_bucket{handler="work",le="0.1"} 0
d_bucket{handler="work",le="1"} 100
d_bucket{handler="work",le="+Inf"} 100
d_sum{handler="work"} 50
d_count{handler="work"} 100
`

func TestLatencyFromThePodsOwnHistogram(t *testing.T) {
	ms, err := ParseMetrics([]byte(latencyMetrics))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ms.Buckets("d")
	if err != nil {
		t.Fatal(err)
	}
	if b[0.01] != 90 || b[0.1] != 99 || b[1] != 200 || b[math.Inf(1)] != 200 {
		t.Fatalf("buckets %v", b)
	}
	// p50 of 200: rank 100 falls in (0.1, 1], 1 of 101 into it
	if q := Quantile(0.5, b); math.Abs(q-(0.1+0.9*1/101)) > 1e-9 {
		t.Fatalf("p50 %v", q)
	}
	if q := Quantile(0.25, b); math.Abs(q-0.01*50/90) > 1e-9 {
		t.Fatalf("p25 %v", q)
	}
	if !math.IsNaN(Quantile(0.99, nil)) || !math.IsNaN(Quantile(0.99, map[float64]float64{math.Inf(1): 0})) {
		t.Fatal("an empty histogram has no quantile")
	}
	// in +Inf: the highest finite bound
	if q := Quantile(0.99, map[float64]float64{0.5: 1, math.Inf(1): 100}); q != 0.5 {
		t.Fatalf("p99 in +Inf: %v", q)
	}
	counters, err := ParseMetrics([]byte(sampleMetrics))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := counters.Buckets("sampleapp_http_requests_total"); err == nil || !strings.Contains(err.Error(), "not a histogram") {
		t.Fatalf("counter as histogram: %v", err)
	}
	// across scrapes: the requests between the first and the last
	t0 := time.Unix(0, 0)
	shares := Shares([]AppSample{
		{At: t0, Requests: map[string]float64{"a": 100}, Buckets: map[string]map[float64]float64{"a": {0.01: 100, 1: 100, math.Inf(1): 100}}},
		{At: t0.Add(time.Second), Requests: map[string]float64{"a": 200}, Buckets: map[string]map[float64]float64{"a": {0.01: 100, 1: 200, math.Inf(1): 200}}},
	})
	if len(shares) != 1 || shares[0].Requests != 100 || shares[0].P99 < 900*time.Millisecond || shares[0].P99 > time.Second {
		t.Fatalf("shares %+v", shares)
	}
}

// Served adds up every pod's counters over a window of scrapes, the last
// scrape before the window as its baseline: restarts and new pods count
// from zero, and the p99 comes from the summed histograms.
func TestServedAddsUpWhatThePodsCountedInAWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	hist := func(fast, slow float64) map[float64]float64 {
		return map[float64]float64{0.01: fast, 1: fast + slow, math.Inf(1): fast + slow}
	}
	samples := []AppSample{
		{At: at(0), Requests: map[string]float64{"a": 100, "b": 50}, Errors: map[string]float64{},
			Buckets: map[string]map[float64]float64{"a": hist(100, 0), "b": hist(50, 0)}},
		{At: at(2), Requests: map[string]float64{"a": 300, "b": 250}, Errors: map[string]float64{"b": 5},
			Buckets: map[string]map[float64]float64{"a": hist(300, 0), "b": hist(250, 0)}},
		// b restarted; c is new; a's slow requests
		{At: at(4), Requests: map[string]float64{"a": 500, "b": 40, "c": 160}, Errors: map[string]float64{"b": 20},
			Buckets: map[string]map[float64]float64{"a": hist(300, 200), "b": hist(40, 0), "c": hist(160, 0)}},
	}
	for _, tc := range []struct {
		name      string
		from, to  time.Time
		total, ok int
		slow      bool // p99 in the 10ms-1s bucket
	}{
		{"every scrape", at(0), time.Time{}, 800, 775, true},  // a 400, b 200+40, c 160; 5+20 5xx
		{"the first window", at(0), at(3), 400, 395, false},   // a 200, b 200
		{"the last window", at(3), at(4), 400, 380, true},     // a 200, b 40, c 160
		{"before any scrape", at(-5), at(2), 400, 395, false}, // the first scrape is the baseline
	} {
		got := servedIn(samples, tc.from, tc.to)
		if got.Total != tc.total || got.OK != tc.ok {
			t.Errorf("%s: %d requests, %d OK; want %d, %d", tc.name, got.Total, got.OK, tc.total, tc.ok)
		}
		if slow := got.P99 > 10*time.Millisecond; slow != tc.slow || got.P99 <= 0 {
			t.Errorf("%s: p99 %s, want slow %v", tc.name, got.P99, tc.slow)
		}
	}
	if got := servedIn(samples[:1], t0, time.Time{}); got.Total != 0 {
		t.Errorf("one scrape counts nothing: %+v", got)
	}
}

func TestServedAvailabilityJudgesThePodsCounters(t *testing.T) {
	t0 := time.Unix(1000, 0)
	obs := func(errs float64) *Observation {
		return &Observation{Origin: t0, End: t0.Add(10 * time.Second), App: []AppSample{
			{At: t0, Requests: map[string]float64{"a": 0}, Errors: map[string]float64{}},
			{At: t0.Add(5 * time.Second), Requests: map[string]float64{"a": 1000}, Errors: map[string]float64{"a": errs}},
		}}
	}
	c := ServedAvailability(99)
	if got := c.Eval(obs(5)); !got.Passed || !strings.Contains(got.Detail, "5 of 1000") {
		t.Errorf("5 of 1000 answered 5xx: %+v", got)
	}
	if got := c.Eval(obs(20)); got.Passed {
		t.Errorf("20 of 1000 answered 5xx passed 99%%: %+v", got)
	}
	// what the pods counted after the load's end (the settle, the
	// reverts) is not the scenario's
	late := obs(5)
	late.LoadEnd = t0.Add(6 * time.Second)
	late.App = append(late.App, AppSample{At: t0.Add(8 * time.Second), Requests: map[string]float64{"a": 2000}, Errors: map[string]float64{"a": 500}})
	if got := c.Eval(late); !got.Passed || !strings.Contains(got.Detail, "5 of 1000") {
		t.Errorf("errors after the load's end counted: %+v", got)
	}
	none := &Observation{Origin: t0, End: t0.Add(10 * time.Second)}
	if got := c.Eval(none); got.Passed || !strings.Contains(got.Detail, "counted no request") {
		t.Errorf("no traffic must not pass: %+v", got)
	}
}

// A scrape can miss a pod (its answer came late): the pod's baseline is
// then its value in the scrape before, never zero, or its whole lifetime's
// requests would land in the window.
func TestServedTakesAPodsBaselineFromItsLastScrapeBeforeTheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	samples := []AppSample{
		{At: at(0), Requests: map[string]float64{"old": 100000, "b": 10}, Errors: map[string]float64{"old": 5000}},
		{At: at(2), Requests: map[string]float64{"b": 30}, Errors: map[string]float64{}}, // "old" missed
		{At: at(4), Requests: map[string]float64{"old": 100040, "b": 50}, Errors: map[string]float64{"old": 5000}},
	}
	got := servedIn(samples, at(3), at(4))
	if got.Total != 60 || got.OK != 60 {
		t.Errorf("window 3s-4s: %d requests, %d OK; want 60, 60 (old 40 since its last scrape, b 20)", got.Total, got.OK)
	}
}
