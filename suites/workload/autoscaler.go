package workload

import (
	"fmt"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// LoadPathAnnotation on a HorizontalPodAutoscaler names the path (and
// query) whose requests cost the CPU it scales on: the hpa suite's load
// requests it unless --hpa-path says otherwise.
const LoadPathAnnotation = "chaosgate.dev/load-path"

// defaultScaleDownWindow is the autoscaler's scale-down stabilization
// window when its behavior sets none.
const defaultScaleDownWindow = 300 * time.Second

// Autoscaler is the workload's HorizontalPodAutoscaler of its target
// Deployment, as its manifest declares it.
type Autoscaler struct {
	Name     string
	Pos      string
	Min, Max int32
	// CPUTargetPercent is its CPU utilization target (0: it scales on
	// something else).
	CPUTargetPercent int32
	// ScaleDownWindow is its scale-down stabilization window.
	ScaleDownWindow time.Duration
	// LoadPath is its LoadPathAnnotation.
	LoadPath string
}

// Autoscaler returns the autoscaling/v2 HorizontalPodAutoscaler that
// scales the target Deployment. reason says why there is none (or none
// the hpa suite can judge).
func (w *Workload) Autoscaler() (a Autoscaler, reason string) {
	reason = fmt.Sprintf("the workload has no HorizontalPodAutoscaler of Deployment %s", w.Deployment.Name)
	for _, o := range w.Objects {
		if o.GetKind() != "HorizontalPodAutoscaler" {
			continue
		}
		if o.GetAPIVersion() != "autoscaling/v2" {
			reason = fmt.Sprintf("%s: HorizontalPodAutoscaler %s is %s; chaosgate reads autoscaling/v2", o.Pos, o.GetName(), o.GetAPIVersion())
			continue
		}
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, h); err != nil {
			reason = fmt.Sprintf("%s: HorizontalPodAutoscaler %s: %v", o.Pos, o.GetName(), err)
			continue
		}
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != w.Deployment.Name {
			continue
		}
		a = Autoscaler{Name: h.Name, Pos: o.Pos, Min: 1, Max: h.Spec.MaxReplicas, ScaleDownWindow: defaultScaleDownWindow,
			LoadPath: h.Annotations[LoadPathAnnotation]}
		if h.Spec.MinReplicas != nil {
			a.Min = *h.Spec.MinReplicas
		}
		for _, m := range h.Spec.Metrics {
			if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
				m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil {
				a.CPUTargetPercent = *m.Resource.Target.AverageUtilization
			}
		}
		if b := h.Spec.Behavior; b != nil && b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
			a.ScaleDownWindow = time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
		}
		return a, ""
	}
	return Autoscaler{}, reason
}

// CPURequestMilli is the CPU each target pod requests, every container's
// summed; 0 when a container requests none (an autoscaler then cannot
// compute the pods' CPU utilization).
func (w *Workload) CPURequestMilli() float64 {
	var sum float64
	for _, c := range w.Deployment.Spec.Template.Spec.Containers {
		q, ok := c.Resources.Requests[corev1.ResourceCPU]
		if !ok {
			if q, ok = c.Resources.Limits[corev1.ResourceCPU]; !ok {
				return 0
			}
		}
		sum += float64(q.MilliValue())
	}
	return sum
}
