package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
)

const fieldManager = "chaosgate"

// Deploy applies the workload into namespace with server-side apply
// (creating the namespace), so re-running the gate updates in place.
func Deploy(ctx context.Context, rc *rest.Config, cs kubernetes.Interface, w *Workload, namespace string) error {
	if namespace == "kube-system" {
		return fmt.Errorf("refusing to deploy a workload into kube-system")
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "chaosgate"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return err
	}
	for _, o := range w.Objects {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s: %s is not served by this cluster: %w", o.Pos, gvk.Kind, err)
		}
		obj := o.DeepCopy()
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			obj.SetNamespace(namespace)
			ri = dyn.Resource(m.Resource).Namespace(namespace)
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return err
		}
		force := true
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("%s: apply %s %s: %w", o.Pos, gvk.Kind, obj.GetName(), err)
		}
	}
	return nil
}

// WaitDeploymentComplete waits until the Deployment has rolled out: every
// desired replica updated, ready and available, and no old replicas left.
func WaitDeploymentComplete(ctx context.Context, rc *rest.Config, namespace, name string, timeout time.Duration) error {
	res, err := resources.New(rc)
	if err != nil {
		return err
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	err = wait.For(conditions.New(res).ResourceMatch(d, func(o k8s.Object) bool {
		return DeploymentComplete(o.(*appsv1.Deployment))
	}), wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(500*time.Millisecond), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("deployment %s/%s not complete within %s (ready %d/%d): %w", namespace, name, timeout, d.Status.ReadyReplicas, desired(d), err)
	}
	return nil
}

func desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// DeploymentComplete is the rollout-complete condition `kubectl rollout
// status` uses.
func DeploymentComplete(d *appsv1.Deployment) bool {
	n := desired(d)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n &&
		s.ReadyReplicas == n && s.AvailableReplicas == n
}

// ExposedServiceName is the NodePort Service the gate creates in front of
// the target, so user manifests need no changes.
const ExposedServiceName = "chaosgate-target"

// Expose creates (or updates) a NodePort Service selecting the target's pods
// on the given nodePort, which must be one the cluster maps to 127.0.0.1.
func Expose(ctx context.Context, cs kubernetes.Interface, w *Workload, namespace string, nodePort int) error {
	target := w.Port.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(w.Port.Port)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ExposedServiceName, Namespace: namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "chaosgate"}},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeNodePort,
			Selector:              w.Service.Spec.Selector,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Ports: []corev1.ServicePort{{
				Name: "load", Protocol: corev1.ProtocolTCP, Port: w.Port.Port, TargetPort: target, NodePort: int32(nodePort),
			}},
		},
	}
	existing, err := cs.CoreV1().Services(namespace).Get(ctx, ExposedServiceName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cs.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{})
	case err == nil:
		existing.Spec.Selector, existing.Spec.Ports, existing.Spec.Type = svc.Spec.Selector, svc.Spec.Ports, svc.Spec.Type
		_, err = cs.CoreV1().Services(namespace).Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("expose target on node port %d: %w", nodePort, err)
	}
	return nil
}

// FreeNodePort returns the first port of [first, last] that no Service in
// the cluster uses, except the gate's own Service in namespace (reused).
func FreeNodePort(ctx context.Context, cs kubernetes.Interface, namespace string, first, last int) (int, error) {
	svcs, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, s := range svcs.Items {
		for _, p := range s.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if s.Namespace == namespace && s.Name == ExposedServiceName {
				return int(p.NodePort), nil
			}
			used[int(p.NodePort)] = true
		}
	}
	for p := first; p <= last; p++ {
		if !used[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("every node port in %d-%d is in use", first, last)
}
