package suites

import (
	"context"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	toolswatch "k8s.io/client-go/tools/watch"
)

// ReadySample is a Deployment's readiness at one moment.
type ReadySample struct {
	At      time.Time
	Ready   int32
	Desired int32
}

// Whole reports whether every desired replica was ready.
func (s ReadySample) Whole() bool { return s.Ready >= s.Desired }

// ReadinessRecorder watches a Deployment and timestamps every change of its
// ready replica count, so recovery times come from events, not polling.
type ReadinessRecorder struct {
	mu      sync.Mutex
	samples []ReadySample
}

// Watch records until ctx ends. It uses a retrying watcher, so an API
// server hiccup does not end the recording.
func (r *ReadinessRecorder) Watch(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	r.add(d)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	w, err := toolswatch.NewRetryWatcherWithContext(ctx, d.ResourceVersion, &listWatch{cs: cs, ns: namespace, sel: sel})
	if err != nil {
		return err
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					return
				}
				if d, ok := ev.Object.(*appsv1.Deployment); ok {
					r.add(d)
				}
			}
		}
	}()
	return nil
}

type listWatch struct {
	cs      kubernetes.Interface
	ns, sel string
}

func (l *listWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = l.sel
	return l.cs.AppsV1().Deployments(l.ns).Watch(ctx, opts)
}

func (r *ReadinessRecorder) add(d *appsv1.Deployment) {
	s := ReadySample{At: time.Now(), Ready: d.Status.ReadyReplicas, Desired: desired(d)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.samples); n > 0 && r.samples[n-1].Ready == s.Ready && r.samples[n-1].Desired == s.Desired {
		return
	}
	r.samples = append(r.samples, s)
}

// Samples returns the recorded changes.
func (r *ReadinessRecorder) Samples() []ReadySample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ReadySample(nil), r.samples...)
}

// RecoveryTime measures how long after a fault issued at issued the
// Deployment was whole again: the first time after the dip in ready
// replicas that follows the fault at which every replica was ready again.
// The dip is looked for until until (the next fault or the end of the
// run). ok is false when the Deployment did not become whole by the end of
// the samples. A fault that caused no visible dip recovers in 0.
func RecoveryTime(samples []ReadySample, issued, until time.Time) (time.Duration, bool) {
	dip := -1
	for i, s := range samples {
		if s.At.Before(issued) {
			continue
		}
		if !until.IsZero() && s.At.After(until) {
			break
		}
		if !s.Whole() {
			dip = i
			break
		}
	}
	if dip < 0 {
		// was it whole when the fault hit?
		last := ReadySample{}
		for _, s := range samples {
			if s.At.After(issued) {
				break
			}
			last = s
		}
		if last.At.IsZero() || last.Whole() {
			return 0, true
		}
		dip = 0
		for dip < len(samples) && samples[dip].At.Before(issued) {
			dip++
		}
	}
	for _, s := range samples[dip:] {
		if s.Whole() && !s.At.Before(issued) {
			return s.At.Sub(issued), true
		}
	}
	return 0, false
}
