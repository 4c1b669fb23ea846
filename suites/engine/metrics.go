package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosgate/chaosgate/load"
)

// AppMetrics says where the target's pods serve their own Prometheus
// metrics, and which counter counts their requests.
type AppMetrics struct {
	// Port and Path of the metrics endpoint on each pod; no Path: not
	// scraped.
	Port string
	Path string
	// RequestsMetric is a counter of served requests with a label
	// CodeLabel holding the HTTP status.
	RequestsMetric string
	CodeLabel      string
	// LatencyMetric is a histogram of request durations in seconds; the
	// pods' own latency is estimated from it (optional).
	LatencyMetric string
}

// Usage is one sample of the metrics API: CPU and memory of each target
// pod and of each node.
type Usage struct {
	At time.Time
	// Pods and Nodes by name.
	Pods, Nodes map[string]Resources
}

// Resources is CPU in millicores and memory in MiB.
type Resources struct {
	CPUMilli  float64
	MemoryMiB float64
}

// meanPodsCPU is the target pods' CPU (millicores, summed over the pods)
// averaged over the samples taken from from to to (a zero to: no end),
// with how many samples and the most pods one of them had.
func meanPodsCPU(usage []Usage, from, to time.Time) (mean float64, samples, pods int) {
	for _, u := range usage {
		if u.At.Before(from) || (!to.IsZero() && u.At.After(to)) || len(u.Pods) == 0 {
			continue
		}
		for _, r := range u.Pods {
			mean += r.CPUMilli
		}
		pods = max(pods, len(u.Pods))
		samples++
	}
	if samples > 0 {
		mean /= float64(samples)
	}
	return mean, samples, pods
}

// AppSample is one scrape of the target's pods' own request counters.
type AppSample struct {
	At time.Time
	// Requests and Errors (5xx) each pod counted since it started, by pod.
	Requests, Errors map[string]float64
	// Buckets is each pod's latency histogram: cumulative counts by upper
	// bound in seconds (+Inf included), summed over its series.
	Buckets map[string]map[float64]float64
}

// MetricsObserver samples the metrics API and the target's pods' own
// metrics endpoints (through the API server's pod proxy: pod addresses are
// not reachable from this machine) every Interval. A source that does not
// answer is noted once and left out: metrics add to the verdict's evidence,
// they never stop a run.
type MetricsObserver struct {
	Client    kubernetes.Interface
	Namespace string
	Selector  string
	App       AppMetrics
	Interval  time.Duration

	// raw fetches an API path; scrape fetches a pod's metrics (both
	// replaceable in tests)
	raw    func(ctx context.Context, path, selector string) ([]byte, error)
	scrape func(ctx context.Context, pod string) ([]byte, error)

	mu       sync.Mutex
	usage    []Usage
	app      []AppSample
	problems map[string]string
	// counted: some pod exposed the request counter
	counted bool
}

// Start samples in the background until ctx ends.
func (m *MetricsObserver) Start(ctx context.Context) {
	if m.Interval <= 0 {
		m.Interval = 2 * time.Second
	}
	if m.raw == nil {
		m.raw = func(ctx context.Context, path, selector string) ([]byte, error) {
			rc := m.Client.Discovery().RESTClient()
			if rc == nil || reflect.ValueOf(rc).IsNil() {
				return nil, errors.New("the client has no REST client for the metrics API")
			}
			req := rc.Get().AbsPath(path)
			if selector != "" {
				req = req.Param("labelSelector", selector)
			}
			return req.DoRaw(ctx)
		}
	}
	if m.scrape == nil {
		m.scrape = func(ctx context.Context, pod string) ([]byte, error) {
			return m.Client.CoreV1().Pods(m.Namespace).ProxyGet("http", pod, m.App.Port, m.App.Path, nil).DoRaw(ctx)
		}
	}
	go wait.NonSlidingUntilWithContext(ctx, m.sample, m.Interval)
}

// sample takes one sample of every source.
func (m *MetricsObserver) sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, m.Interval)
	defer cancel()
	now := time.Now()
	u := Usage{At: now}
	var err error
	if u.Pods, err = m.podUsage(ctx); err != nil {
		m.problem("metrics API (pods)", err)
	}
	if u.Nodes, err = m.nodeUsage(ctx); err != nil {
		m.problem("metrics API (nodes)", err)
	}
	var app *AppSample
	if m.App.Path != "" {
		app, err = m.scrapeApp(ctx, now)
		if err != nil {
			m.problem("app metrics", err)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u.Pods != nil || u.Nodes != nil {
		m.usage = append(m.usage, u)
	}
	if app != nil && len(app.Requests) > 0 {
		m.app = append(m.app, *app)
	}
}

func (m *MetricsObserver) problem(source string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.problems == nil {
		m.problems = map[string]string{}
	}
	if _, seen := m.problems[source]; !seen {
		m.problems[source] = err.Error()
	}
}

// metricsList is the part of the metrics API's lists read here.
type metricsList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Usage      map[string]string `json:"usage"`
		Containers []struct {
			Usage map[string]string `json:"usage"`
		} `json:"containers"`
	} `json:"items"`
}

func (m *MetricsObserver) podUsage(ctx context.Context) (map[string]Resources, error) {
	return m.usageOf(ctx, "/apis/metrics.k8s.io/v1beta1/namespaces/"+m.Namespace+"/pods", m.Selector, true)
}

func (m *MetricsObserver) nodeUsage(ctx context.Context) (map[string]Resources, error) {
	return m.usageOf(ctx, "/apis/metrics.k8s.io/v1beta1/nodes", "", false)
}

func (m *MetricsObserver) usageOf(ctx context.Context, path, selector string, containers bool) (map[string]Resources, error) {
	data, err := m.raw(ctx, path, selector)
	if err != nil {
		return nil, err
	}
	var l metricsList
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]Resources{}
	for _, it := range l.Items {
		usages := []map[string]string{it.Usage}
		if containers {
			usages = usages[:0]
			for _, c := range it.Containers {
				usages = append(usages, c.Usage)
			}
		}
		var r Resources
		for _, u := range usages {
			if q, err := resource.ParseQuantity(u["cpu"]); err == nil {
				r.CPUMilli += q.AsApproximateFloat64() * 1000
			}
			if q, err := resource.ParseQuantity(u["memory"]); err == nil {
				r.MemoryMiB += float64(q.Value()) / (1 << 20)
			}
		}
		out[it.Metadata.Name] = r
	}
	return out, nil
}

// scrapeApp reads every target pod's request counter.
func (m *MetricsObserver) scrapeApp(ctx context.Context, now time.Time) (*AppSample, error) {
	pods, err := m.Client.CoreV1().Pods(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: m.Selector})
	if err != nil {
		return nil, err
	}
	s := &AppSample{At: now, Requests: map[string]float64{}, Errors: map[string]float64{}, Buckets: map[string]map[float64]float64{}}
	var firstErr error
	for _, p := range pods.Items {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			continue
		}
		data, err := m.scrape(ctx, p.Name)
		var ms Metrics
		if err == nil {
			ms, err = ParseMetrics(data)
		}
		if err == nil {
			var total, errs float64
			total, errs, err = ms.RequestCounts(m.App.RequestsMetric, m.App.CodeLabel)
			if err == nil || errors.Is(err, ErrNoMetric) {
				// a pod that served nothing yet has no series: zero
				s.Requests[p.Name], s.Errors[p.Name] = total, errs
				if m.App.LatencyMetric != "" {
					if b, err := ms.Buckets(m.App.LatencyMetric); err == nil {
						s.Buckets[p.Name] = b
					}
				}
				if err == nil {
					m.mu.Lock()
					m.counted = true
					m.mu.Unlock()
				}
				continue
			}
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("pod %s: %w", p.Name, err)
		}
	}
	return s, firstErr
}

// ErrNoMetric: the endpoint does not expose the counter (yet: a counter
// with labels appears with the first request a pod serves).
var ErrNoMetric = errors.New("no")

// Metrics are the families of one metrics endpoint's answer.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics reads an answer in Prometheus text format.
func ParseMetrics(text []byte) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return families, nil
}

// family returns the family named metric, which must be of type want.
func (ms Metrics) family(metric string, want dto.MetricType) (*dto.MetricFamily, error) {
	f, ok := ms[metric]
	if !ok {
		return nil, fmt.Errorf("metrics: %w %s among %d families", ErrNoMetric, metric, len(ms))
	}
	if f.GetType() != want {
		return nil, fmt.Errorf("metrics: %s is a %s, not a %s", metric, strings.ToLower(f.GetType().String()), strings.ToLower(want.String()))
	}
	return f, nil
}

// RequestCounts sums a request counter: every request, and those whose
// code label is 5xx.
func (ms Metrics) RequestCounts(metric, codeLabel string) (total, failed float64, err error) {
	f, err := ms.family(metric, dto.MetricType_COUNTER)
	if err != nil {
		return 0, 0, err
	}
	for _, mt := range f.GetMetric() {
		v := mt.GetCounter().GetValue()
		total += v
		for _, l := range mt.GetLabel() {
			if l.GetName() == codeLabel && strings.HasPrefix(l.GetValue(), "5") {
				failed += v
			}
		}
	}
	return total, failed, nil
}

// Buckets reads a histogram: cumulative counts by upper bound, summed over
// its series.
func (ms Metrics) Buckets(metric string) (map[float64]float64, error) {
	f, err := ms.family(metric, dto.MetricType_HISTOGRAM)
	if err != nil {
		return nil, err
	}
	out := map[float64]float64{}
	for _, mt := range f.GetMetric() {
		h := mt.GetHistogram()
		inf := false
		for _, b := range h.GetBucket() {
			out[b.GetUpperBound()] += float64(b.GetCumulativeCount())
			inf = inf || math.IsInf(b.GetUpperBound(), 1)
		}
		if !inf {
			// the +Inf bucket is the sample count
			out[math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	return out, nil
}

// Quantile estimates the q-quantile of a cumulative histogram the way
// Prometheus' histogram_quantile does: linearly within the bucket it falls
// in; in the +Inf bucket, the highest finite bound. NaN when empty.
func Quantile(q float64, buckets map[float64]float64) float64 {
	bounds := slices.Sorted(maps.Keys(buckets))
	if len(bounds) == 0 {
		return math.NaN()
	}
	total := buckets[bounds[len(bounds)-1]]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := buckets[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return prevBound
			}
			if c == prevCount {
				return b
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b, c
	}
	return prevBound
}

// Samples returns what was sampled so far, and the first problem of each
// source that did not answer.
func (m *MetricsObserver) Samples() ([]Usage, []AppSample, map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	problems := maps.Clone(m.problems)
	if len(m.app) > 0 && !m.counted {
		// every endpoint answered, none with the counter: a wrong name
		// rather than pods that served nothing
		if problems == nil {
			problems = map[string]string{}
		}
		problems["app metrics"] = fmt.Sprintf("no pod exposes %s (--app-requests-metric)", m.App.RequestsMetric)
		return slices.Clone(m.usage), nil, problems
	}
	return slices.Clone(m.usage), slices.Clone(m.app), problems
}

// PodShare is how many requests one pod counted over a run, and the p99
// of their latency by its own histogram (-1 without one).
type PodShare struct {
	Pod              string
	Requests, Errors float64
	P99              time.Duration
}

// served is what a pod counted between two scrapes: requests and 5xx. A
// request counter that went down was reset by a restart: everything it
// shows is new.
func served(prevReq, prevErrs, curReq, curErrs float64) (req, errs float64) {
	if curReq < prevReq {
		prevReq, prevErrs = 0, 0
	}
	return curReq - prevReq, max(curErrs-prevErrs, 0)
}

// podCounts is what one pod counted: requests, 5xx, latency buckets.
type podCounts struct {
	req, errs float64
	buckets   map[float64]float64
}

// countByPod adds up, pod by pod, what the pods counted in the scrapes
// after samples[base], each pod from its last value up to samples[base]
// (a scrape may miss a pod that answers late). A counter that went down was
// reset by a restart: what it shows after is counted from zero. A pod first
// seen after samples[base] counts from zero too (it started in between).
// Latency histograms are added up the same way.
func countByPod(samples []AppSample, base int) map[string]*podCounts {
	last := map[string]podCounts{}
	sum := map[string]*podCounts{}
	for i, s := range samples {
		for pod, req := range s.Requests {
			cur := podCounts{req, s.Errors[pod], s.Buckets[pod]}
			prev, seen := last[pod]
			last[pod] = cur
			if i <= base {
				continue
			}
			if !seen || cur.req < prev.req {
				// new, or restarted: its counters start from zero
				prev = podCounts{}
			}
			d := sum[pod]
			if d == nil {
				d = &podCounts{buckets: map[float64]float64{}}
				sum[pod] = d
			}
			req, errs := served(prev.req, prev.errs, cur.req, cur.errs)
			d.req += req
			d.errs += errs
			for b, c := range cur.buckets {
				d.buckets[b] += max(c-prev.buckets[b], 0)
			}
		}
	}
	return sum
}

// servedIn is what every pod together counted in the scrapes from from to
// to (the last scrape before from is their baseline): requests, those
// not answered 5xx as OK, and the p99 by the pods' histograms (0 without
// them). A zero to: no end. It is what a run without generated load
// judges: real traffic, as the pods saw it.
func servedIn(samples []AppSample, from, to time.Time) load.Recent {
	first, last := 0, len(samples)
	for i, s := range samples {
		if !s.At.After(from) {
			first = i
		}
		if !to.IsZero() && s.At.After(to) {
			last = i
			break
		}
	}
	var req, errs float64
	buckets := map[float64]float64{}
	for _, d := range countByPod(samples[:last], first) {
		req += d.req
		errs += d.errs
		for b, c := range d.buckets {
			buckets[b] += c
		}
	}
	out := load.Recent{Total: int(math.Round(req)), OK: int(math.Round(req - errs))}
	if q := Quantile(0.99, buckets); !math.IsNaN(q) && q > 0 {
		out.P99 = time.Duration(q * float64(time.Second))
	}
	return out
}

// Shares adds up, pod by pod, the requests the pods counted between the
// first and the last scrape (see countByPod), with each pod's p99 by its
// own histogram.
func Shares(samples []AppSample) []PodShare {
	if len(samples) < 2 {
		return nil
	}
	sum := countByPod(samples, 0)
	out := make([]PodShare, 0, len(sum))
	for pod, d := range sum {
		p99 := time.Duration(-1)
		if q := Quantile(0.99, d.buckets); !math.IsNaN(q) {
			p99 = time.Duration(q * float64(time.Second))
		}
		out = append(out, PodShare{Pod: pod, Requests: d.req, Errors: d.errs, P99: p99})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}
