package workload

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
)

// NotFoundError is a target a live workload names that the cluster does
// not have.
type NotFoundError struct{ What, Namespace string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found in namespace %s", e.What, e.Namespace)
}

// FromCluster reads a workload that is already deployed: the Deployment,
// the Service in front of its pods (service names it; empty: the only
// Service selecting them), and the PodDisruptionBudgets and the autoscaler
// that concern it. Nothing is changed. The result is Live: a run judges it
// as it is, never applying, resetting or respreading it.
func FromCluster(ctx context.Context, cs kubernetes.Interface, namespace, deployment, service string, port int) (*Workload, error) {
	if namespace == "kube-system" {
		return nil, &ValidationError{Pos: namespace, Field: "namespace", Msg: "workloads in kube-system are not targets"}
	}
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NotFoundError{What: "Deployment " + deployment, Namespace: namespace}
	}
	if err != nil {
		return nil, fmt.Errorf("read Deployment %s/%s: %w", namespace, deployment, err)
	}
	pods := labels.Set(dep.Spec.Template.Labels)
	w := &Workload{Source: fmt.Sprintf("deployment/%s in %s (live)", deployment, namespace), Live: true}
	add := func(obj runtime.Object, gvk schema.GroupVersionKind, name string) error {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		o := Object{Unstructured: &unstructured.Unstructured{Object: u}, Pos: fmt.Sprintf("%s %s/%s (live)", gvk.Kind, namespace, name)}
		o.SetGroupVersionKind(gvk)
		o.SetManagedFields(nil)
		w.Objects = append(w.Objects, o)
		return nil
	}
	if err := add(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"), dep.Name); err != nil {
		return nil, err
	}
	svcs, err := cs.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Services in %s: %w", namespace, err)
	}
	found := false
	for i := range svcs.Items {
		s := &svcs.Items[i]
		// other apps' Services and the gate's own NodePort one are not the target
		if s.Name == ExposedServiceName || len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			if s.Name == service {
				return nil, &ValidationError{Pos: namespace, Field: "service", Msg: fmt.Sprintf("Service %s does not select the pods of Deployment %s", service, deployment)}
			}
			continue
		}
		if service != "" && s.Name != service {
			continue
		}
		found = true
		if err := add(s, corev1.SchemeGroupVersion.WithKind("Service"), s.Name); err != nil {
			return nil, err
		}
	}
	if !found {
		if service != "" {
			return nil, &NotFoundError{What: "Service " + service, Namespace: namespace}
		}
		return nil, &NotFoundError{What: "a Service selecting the pods of Deployment " + deployment, Namespace: namespace}
	}
	pdbs, err := cs.PolicyV1().PodDisruptionBudgets(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list PodDisruptionBudgets in %s: %w", namespace, err)
	}
	for i := range pdbs.Items {
		p := &pdbs.Items[i]
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil || !sel.Matches(pods) {
			continue
		}
		if err := add(p, policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"), p.Name); err != nil {
			return nil, err
		}
	}
	hpas, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", namespace, err)
	}
	for i := range hpas.Items {
		h := &hpas.Items[i]
		if ref := h.Spec.ScaleTargetRef; ref.Kind == "Deployment" && ref.Name == deployment {
			if err := add(h, autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"), h.Name); err != nil {
				return nil, err
			}
		}
	}
	if err := w.pickTarget(service, port); err != nil {
		return nil, err
	}
	return w, nil
}
