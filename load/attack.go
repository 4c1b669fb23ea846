package load

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"k8s.io/apimachinery/pkg/util/validation"
)

// MaxDuration bounds every load run: no loop here runs unbounded.
const MaxDuration = 2 * time.Hour

// Options describe one load run.
type Options struct {
	// Target is the URL requested; its host must be a loopback address
	// (chaosgate only sends traffic to this machine).
	Target string
	// Rate is requests per second at the start (open model: requests are
	// sent on schedule whether or not earlier ones finished).
	Rate int
	// RampTo, when > 0, changes the rate linearly from Rate to RampTo over
	// Duration.
	RampTo int
	// Duration of the run, at most MaxDuration.
	Duration time.Duration
	// Timeout per request; default 2s.
	Timeout time.Duration
	// KeepAlive reuses connections. Off by default: one connection per
	// request spreads load over backends the way many clients do; with
	// keep-alive, conntrack pins all load to one or two pods.
	KeepAlive bool
	// Method is the HTTP method; default GET.
	Method string
	// SpreadSources opens connections from the addresses of SpreadNetwork
	// instead of one source address (IPv4 loopback targets only).
	SpreadSources bool
	// Phases, when set, is the load's profile (a baseline, a step up, a
	// hold, a step down...): Rate, RampTo and Duration then come from it.
	Phases []Phase
	// InCluster is set by the load agent, which runs in a pod: the target
	// must then be a Kubernetes Service's DNS name (NAME.NAMESPACE.svc or
	// NAME.NAMESPACE.svc.DOMAIN), so the traffic stays inside the cluster.
	// Otherwise the target must be this machine.
	InCluster bool
}

// MaxInFlight bounds the requests a run may have in flight at once:
// the peak rate times the request timeout. Workers are sized from that
// product so that an outage (every request waiting for its timeout) never
// starves the schedule: an open-model generator that stops sending while
// the service hangs would hide the outage it is there to measure
// (coordinated omission).
const MaxInFlight = 200_000

// Methods the load may use (requests are sent without a body).
var Methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// PeakRate is the highest rate the schedule reaches.
func (o Options) PeakRate() int {
	if len(o.Phases) > 0 {
		return PhasePacer{o.Phases}.Peak()
	}
	return max(o.Rate, o.RampTo)
}

// withPhases fills Rate and Duration in from the phases, when there are.
func (o Options) withPhases() Options {
	if len(o.Phases) > 0 {
		_, o.Duration = PhasePacer{o.Phases}.Total()
		o.Rate, o.RampTo = max(o.PeakRate(), 1), 0
	}
	return o
}

// RequestTimeout is each request's timeout: Timeout, 2s by default.
func (o Options) RequestTimeout() time.Duration {
	if o.Timeout == 0 {
		return 2 * time.Second
	}
	return o.Timeout
}

// Workers is how many requests can be in flight at once: every request of
// one timeout's worth of the peak rate, plus a second of slack.
func (o Options) Workers() uint64 {
	return uint64(math.Ceil(float64(o.PeakRate())*(o.RequestTimeout().Seconds()+1))) + 10
}

// Validate checks the options before any request is sent.
func (o Options) Validate() error {
	if err := ValidatePhases(o.Phases); err != nil {
		return err
	}
	o = o.withPhases()
	u, err := url.Parse(o.Target)
	if err != nil {
		return fmt.Errorf("target %q: %w", o.Target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", o.Target)
	}
	switch {
	case o.InCluster && !IsServiceName(u.Hostname()):
		return fmt.Errorf("target %q: host must be a Service's DNS name, NAME.NAMESPACE.svc[.DOMAIN] (load from a pod only goes to the cluster's Services)", o.Target)
	case !o.InCluster && !IsLoopback(u.Hostname()):
		return fmt.Errorf("target %q: host must be 127.0.0.1, ::1 or localhost (load only goes to this machine)", o.Target)
	}
	if o.Rate < 1 || o.Rate > 100_000 {
		return fmt.Errorf("rate %d: must be 1-100000 requests per second", o.Rate)
	}
	if o.RampTo < 0 || o.RampTo > 100_000 {
		return fmt.Errorf("ramp-to %d: must be 0-100000 requests per second", o.RampTo)
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("duration %s: must be positive and at most %s", o.Duration, MaxDuration)
	}
	if o.Timeout < 0 || o.Timeout > time.Minute {
		return fmt.Errorf("timeout %s: must be at most 1m", o.Timeout)
	}
	if inflight := float64(o.PeakRate()) * o.RequestTimeout().Seconds(); inflight > MaxInFlight {
		return fmt.Errorf("rate %d x timeout %s allows %.0f requests in flight during an outage; at most %d (lower the rate or the timeout)", o.PeakRate(), o.RequestTimeout(), inflight, MaxInFlight)
	}
	if o.Method != "" && !slices.Contains(Methods, o.Method) {
		return fmt.Errorf("method %q: must be one of %s", o.Method, strings.Join(Methods, ", "))
	}
	return nil
}

// IsLoopback reports whether host names this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsServiceName reports whether host is a Kubernetes Service's DNS name:
// NAME.NAMESPACE.svc, optionally followed by the cluster domain.
func IsServiceName(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(labels) < 3 || labels[2] != "svc" {
		return false
	}
	for _, l := range labels {
		if len(validation.IsDNS1123Label(l)) > 0 {
			return false
		}
	}
	return true
}

// Pacer returns the vegeta pacer for the options.
func (o Options) Pacer() vegeta.Pacer {
	if len(o.Phases) > 0 {
		return PhasePacer{o.Phases}
	}
	start := vegeta.ConstantPacer{Freq: o.Rate, Per: time.Second}
	if o.RampTo > 0 && o.RampTo != o.Rate {
		return vegeta.LinearPacer{StartAt: start, Slope: float64(o.RampTo-o.Rate) / o.Duration.Seconds()}
	}
	return start
}

// TargetRate returns the mean scheduled rate over the run.
func (o Options) TargetRate() float64 {
	if len(o.Phases) > 0 {
		hits, d := PhasePacer{o.Phases}.Total()
		return hits / d.Seconds()
	}
	if o.RampTo > 0 {
		return float64(o.Rate+o.RampTo) / 2
	}
	return float64(o.Rate)
}

// TargetRateOver is the mean scheduled rate over the first d of the run:
// a load stopped before its duration is judged by what it scheduled until
// then. d outside (0, Duration) is the whole run.
func (o Options) TargetRateOver(d time.Duration) float64 {
	if d <= 0 || d >= o.Duration {
		return o.TargetRate()
	}
	switch {
	case len(o.Phases) > 0:
		return PhasePacer{o.Phases}.HitsUntil(d) / d.Seconds()
	case o.RampTo > 0:
		reached := float64(o.Rate) + float64(o.RampTo-o.Rate)*d.Seconds()/o.Duration.Seconds()
		return (float64(o.Rate) + reached) / 2
	}
	return float64(o.Rate)
}

// client is the HTTP client of the attack: vegeta's defaults, with the
// connection model and the dialer of the options.
func (o Options) client() *http.Client {
	dial := (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext
	if !o.KeepAlive {
		dial = (&net.Dialer{Timeout: o.Timeout, KeepAlive: -1}).DialContext
	}
	if u, err := url.Parse(o.Target); err == nil && o.SpreadSources {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() != nil && ip.IsLoopback() {
			dial = newSpreadDialer(o.Timeout).DialContext
		}
	}
	if !o.KeepAlive {
		dial = abortOnClose(dial)
	}
	return &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			// a proxy environment must not divert loopback load
			Proxy:               nil,
			DialContext:         dial,
			DisableKeepAlives:   !o.KeepAlive,
			MaxIdleConnsPerHost: 10_000,
		},
	}
}

// abortOnClose makes every connection the dialer opens end with a reset
// (SO_LINGER 0) instead of a FIN once its one request is answered. A
// closed connection then leaves no TIME_WAIT socket on either side, and
// its conntrack entry lives 10s in CLOSE instead of 120s in TIME_WAIT. At
// 5,000 new connections a second, the server's TIME_WAIT sockets neared
// the kernel's 131,072 within 40s and new SYNs met tuples still in
// TIME_WAIT (client timeouts); runs back to back filled this machine's
// 262,144 conntrack entries and the kernel dropped packets (0-80%
// answered). A SYN on a closed entry's tuple gets a new entry and a new
// NAT decision, so nothing goes to a stale endpoint.
func abortOnClose(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if l, ok := c.(interface{ SetLinger(int) error }); ok {
			if err := l.SetLinger(0); err != nil {
				c.Close()
				return nil, fmt.Errorf("set SO_LINGER: %w", err)
			}
		}
		return c, nil
	}
}

// Run sends load until Duration has passed or ctx ends, recording every
// result. It returns when every request in flight has finished or timed out.
func Run(ctx context.Context, o Options, rec *Recorder) error {
	if err := o.Validate(); err != nil {
		return err
	}
	o = o.withPhases()
	o.Timeout = o.RequestTimeout()
	method := o.Method
	if method == "" {
		method = http.MethodGet
	}
	atk := vegeta.NewAttacker(
		vegeta.Client(o.client()),
		vegeta.MaxWorkers(o.Workers()),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(1<<12),
	)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: o.Target})
	results := atk.Attack(targeter, o.Pacer(), o.Duration, "chaosgate")
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopped:
		}
	}()
	for r := range results {
		rec.Record(Result{Seq: r.Seq, Start: r.Timestamp, Latency: r.Latency, Code: r.Code, Error: r.Error})
	}
	close(stopped)
	if err := rec.Flush(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
