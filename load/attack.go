package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
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
	// MaxWorkers bounds concurrent requests; default 10,000.
	MaxWorkers uint64
}

// Validate checks the options before any request is sent.
func (o Options) Validate() error {
	u, err := url.Parse(o.Target)
	if err != nil {
		return fmt.Errorf("target %q: %w", o.Target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("target %q: scheme must be http or https", o.Target)
	}
	if !IsLoopback(u.Hostname()) {
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

// Pacer returns the vegeta pacer for the options.
func (o Options) Pacer() vegeta.Pacer {
	start := vegeta.ConstantPacer{Freq: o.Rate, Per: time.Second}
	if o.RampTo > 0 && o.RampTo != o.Rate {
		return vegeta.LinearPacer{StartAt: start, Slope: float64(o.RampTo-o.Rate) / o.Duration.Seconds()}
	}
	return start
}

// TargetRate returns the mean scheduled rate over the run.
func (o Options) TargetRate() float64 {
	if o.RampTo > 0 {
		return float64(o.Rate+o.RampTo) / 2
	}
	return float64(o.Rate)
}

// Run sends load until Duration has passed or ctx ends, recording every
// result. It returns when every request in flight has finished or timed out.
func Run(ctx context.Context, o Options, rec *Recorder) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = 10_000
	}
	atk := vegeta.NewAttacker(
		vegeta.KeepAlive(o.KeepAlive),
		vegeta.Timeout(o.Timeout),
		vegeta.MaxWorkers(o.MaxWorkers),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.MaxBody(1<<12),
		// a refused proxy environment must not divert loopback load
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
	)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: o.Target})
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
