package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// HPAState is what a HorizontalPodAutoscaler of the target said at one
// time: replicas, the metrics it computed, its conditions.
type HPAState struct {
	At   time.Time
	Name string
	// Min and Max bound it; Current and Desired are its status.
	Min, Max         int32
	Current, Desired int32
	// Metrics are the current values against their targets, as
	// "cpu 45% (target 60%)".
	Metrics []string
	// Conditions by type: "True", "False: FailedGetResourceMetric: ...".
	Conditions map[string]string
}

// same reports whether two states differ only in time.
func (s HPAState) same(o HPAState) bool {
	if s.Name != o.Name || s.Min != o.Min || s.Max != o.Max || s.Current != o.Current || s.Desired != o.Desired ||
		!slices.Equal(s.Metrics, o.Metrics) || len(s.Conditions) != len(o.Conditions) {
		return false
	}
	for k, v := range s.Conditions {
		if o.Conditions[k] != v {
			return false
		}
	}
	return true
}

// HPAEvent is an event the autoscaler recorded during the run.
type HPAEvent struct {
	At      time.Time
	Name    string
	Type    string
	Reason  string
	Message string
}

// HPAObserver follows the HorizontalPodAutoscalers that scale the target
// Deployment: a state every time one changes (polled every Interval), and
// their events.
type HPAObserver struct {
	Client     kubernetes.Interface
	Namespace  string
	Deployment string
	Interval   time.Duration

	mu      sync.Mutex
	started time.Time
	states  []HPAState
	last    map[string]HPAState
	err     error
}

// Start polls in the background until ctx ends.
func (h *HPAObserver) Start(ctx context.Context) {
	if h.Interval <= 0 {
		h.Interval = 2 * time.Second
	}
	h.started = time.Now()
	h.last = map[string]HPAState{}
	go wait.NonSlidingUntilWithContext(ctx, h.poll, h.Interval)
}

func (h *HPAObserver) poll(ctx context.Context) {
	list, err := h.Client.AutoscalingV2().HorizontalPodAutoscalers(h.Namespace).List(ctx, metav1.ListOptions{})
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if h.err == nil && ctx.Err() == nil {
			h.err = err
		}
		return
	}
	for i := range list.Items {
		a := &list.Items[i]
		if a.Spec.ScaleTargetRef.Kind != "Deployment" || a.Spec.ScaleTargetRef.Name != h.Deployment {
			continue
		}
		s := stateOf(a, now)
		if prev, ok := h.last[a.Name]; ok && prev.same(s) {
			continue
		}
		h.last[a.Name] = s
		h.states = append(h.states, s)
	}
}

// stateOf reads an autoscaler's status.
func stateOf(a *autoscalingv2.HorizontalPodAutoscaler, at time.Time) HPAState {
	s := HPAState{At: at, Name: a.Name, Max: a.Spec.MaxReplicas, Min: 1,
		Current: a.Status.CurrentReplicas, Desired: a.Status.DesiredReplicas, Conditions: map[string]string{}}
	if a.Spec.MinReplicas != nil {
		s.Min = *a.Spec.MinReplicas
	}
	targets := map[string]string{}
	for _, m := range a.Spec.Metrics {
		if m.Resource != nil {
			targets[string(m.Resource.Name)] = targetOf(m.Resource.Target)
		}
	}
	for _, m := range a.Status.CurrentMetrics {
		if m.Resource == nil {
			continue
		}
		name := string(m.Resource.Name)
		v := "unknown"
		switch {
		case m.Resource.Current.AverageUtilization != nil:
			v = fmt.Sprintf("%d%%", *m.Resource.Current.AverageUtilization)
		case m.Resource.Current.AverageValue != nil:
			v = m.Resource.Current.AverageValue.String()
		}
		s.Metrics = append(s.Metrics, fmt.Sprintf("%s %s (target %s)", name, v, targets[name]))
	}
	sort.Strings(s.Metrics)
	for _, c := range a.Status.Conditions {
		v := string(c.Status)
		if c.Status != "True" || c.Type == autoscalingv2.ScalingLimited {
			v += ": " + c.Reason
			if c.Message != "" {
				v += ": " + c.Message
			}
		}
		s.Conditions[string(c.Type)] = v
	}
	return s
}

func targetOf(t autoscalingv2.MetricTarget) string {
	switch {
	case t.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *t.AverageUtilization)
	case t.AverageValue != nil:
		return t.AverageValue.String()
	case t.Value != nil:
		return t.Value.String()
	}
	return "?"
}

// States returns every state seen, and the first error listing them.
func (h *HPAObserver) States() ([]HPAState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.states), h.err
}

// Events lists the events of the observed autoscalers since the observer
// started.
func (h *HPAObserver) Events(ctx context.Context) ([]HPAEvent, error) {
	h.mu.Lock()
	names := map[string]bool{}
	for n := range h.last {
		names[n] = true
	}
	since := h.started
	h.mu.Unlock()
	if len(names) == 0 {
		return nil, nil
	}
	list, err := h.Client.CoreV1().Events(h.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []HPAEvent
	for _, e := range list.Items {
		if e.InvolvedObject.Kind != "HorizontalPodAutoscaler" || !names[e.InvolvedObject.Name] {
			continue
		}
		at := e.LastTimestamp.Time
		if at.IsZero() {
			at = e.EventTime.Time
		}
		if at.Before(since.Truncate(time.Second)) {
			continue
		}
		out = append(out, HPAEvent{At: at, Name: e.InvolvedObject.Name, Type: e.Type, Reason: e.Reason, Message: strings.TrimSpace(e.Message)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// WaitScalingActive waits up to timeout for the named autoscaler to report
// ScalingActive True, and describes its condition then. An autoscaler that
// stays inactive is not an error: the checks judge it. One that does not
// exist is.
func WaitScalingActive(ctx context.Context, cs kubernetes.Interface, namespace, name string, timeout time.Duration) (string, error) {
	state := "ScalingActive not reported"
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		a, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return false, fmt.Errorf("autoscaler %s/%s: %w", namespace, name, err)
		case err != nil:
			// the API server may be slow on a busy machine: ask again
			lastErr = err
			return false, nil
		}
		if v, ok := stateOf(a, time.Now()).Conditions["ScalingActive"]; ok {
			state = "ScalingActive " + v
			return strings.HasPrefix(v, "True"), nil
		}
		return false, nil
	})
	switch {
	case err == nil:
		return state, nil
	case ctx.Err() != nil:
		return state, ctx.Err()
	case !wait.Interrupted(err):
		return state, err
	case lastErr != nil && state == "ScalingActive not reported":
		return state, fmt.Errorf("autoscaler %s/%s: %w", namespace, name, lastErr)
	}
	return fmt.Sprintf("%s after %s", state, timeout), nil
}
