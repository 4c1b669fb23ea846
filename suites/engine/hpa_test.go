package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosgate/chaosgate/reports"
)

func hpa(name, target string, desired int32, active corev1.ConditionStatus) *autoscalingv2.HorizontalPodAutoscaler {
	minR, util, cur := int32(3), int32(60), int32(45)
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: target},
			MinReplicas:    &minR, MaxReplicas: 6,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}}},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 3, DesiredReplicas: desired,
			CurrentMetrics: []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
				Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: &cur}}}},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: active,
				Reason: "FailedGetResourceMetric", Message: "missing request for cpu"}}},
	}
}

func TestHPAObserverKeepsEveryChangeOfTheTargetsAutoscaler(t *testing.T) {
	cs := fake.NewClientset(hpa("web", "web", 3, corev1.ConditionTrue), hpa("other", "api", 3, corev1.ConditionTrue))
	h := &HPAObserver{Client: cs, Namespace: "shop", Deployment: "web"}
	h.started, h.last = time.Now().Add(-time.Minute), map[string]HPAState{}
	ctx := context.Background()
	h.poll(ctx)
	h.poll(ctx) // nothing changed: no new state
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers("shop").UpdateStatus(ctx, hpa("web", "web", 6, corev1.ConditionFalse), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.poll(ctx)
	states, err := h.States()
	if err != nil || len(states) != 2 {
		t.Fatalf("states %+v, %v", states, err)
	}
	first, second := states[0], states[1]
	if first.Name != "web" || first.Min != 3 || first.Max != 6 || first.Desired != 3 || second.Desired != 6 {
		t.Fatalf("states %+v", states)
	}
	if len(first.Metrics) != 1 || first.Metrics[0] != "cpu 45% (target 60%)" {
		t.Fatalf("metrics %v", first.Metrics)
	}
	if first.Conditions["ScalingActive"] != "True" || !strings.Contains(second.Conditions["ScalingActive"], "False: FailedGetResourceMetric: missing request for cpu") {
		t.Fatalf("conditions %v / %v", first.Conditions, second.Conditions)
	}
	// the autoscaler's events during the run, not the other one's
	for _, e := range []corev1.Event{
		{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "shop"}, InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "web"},
			Reason: "SuccessfulRescale", Message: "New size: 6; reason: cpu resource utilization (percentage of request) above target", Type: "Normal", LastTimestamp: metav1.Now()},
		{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "shop"}, InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "other"},
			Reason: "SuccessfulRescale", Type: "Normal", LastTimestamp: metav1.Now()},
		{ObjectMeta: metav1.ObjectMeta{Name: "e3", Namespace: "shop"}, InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "web"},
			Reason: "Old", Type: "Normal", LastTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
	} {
		if _, err := cs.CoreV1().Events("shop").Create(ctx, &e, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := h.Events(ctx)
	if err != nil || len(evs) != 1 || evs[0].Reason != "SuccessfulRescale" || !strings.HasPrefix(evs[0].Message, "New size: 6") {
		t.Fatalf("events %+v, %v", evs, err)
	}
	// into the report: the desired replicas' moves and the condition that
	// turned False
	sc := &reports.Scenario{}
	fillMetrics(sc, &Observation{Origin: first.At, HPA: states, HPAEvents: evs})
	lines := reports.AutoscalerSummary(sc.HPA)
	if len(lines) != 1 || !strings.Contains(lines[0], "desired replicas 3 → 6 (min 3, max 6)") || !strings.Contains(lines[0], "ScalingActive at 0s: False: FailedGetResourceMetric") {
		t.Fatalf("summary %q", lines)
	}
	if len(sc.HPAEvents) != 1 {
		t.Fatalf("report events %+v", sc.HPAEvents)
	}
}

func TestWaitScalingActive(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(hpa("web", "web", 3, corev1.ConditionTrue), hpa("api", "api", 3, corev1.ConditionFalse))
	if got, err := WaitScalingActive(ctx, cs, "shop", "web", time.Second); err != nil || got != "ScalingActive True" {
		t.Fatalf("active: %q, %v", got, err)
	}
	// inactive is an answer, not an error: the checks judge it
	got, err := WaitScalingActive(ctx, cs, "shop", "api", 100*time.Millisecond)
	if err != nil || !strings.Contains(got, "ScalingActive False: FailedGetResourceMetric: missing request for cpu after 100ms") {
		t.Fatalf("inactive: %q, %v", got, err)
	}
	if _, err := WaitScalingActive(ctx, cs, "shop", "gone", time.Second); err == nil || !strings.Contains(err.Error(), "autoscaler shop/gone") {
		t.Fatalf("missing autoscaler: %v", err)
	}
}
