package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

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
	"sigs.k8s.io/e2e-framework/klient/wait"
)

const fieldManager = "chaosgate"

// ManagedByLabel marks what chaosgate created, so it only ever deletes its
// own namespaces.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// UnmanagedNamespaceError is returned when the namespace exists but was not
// created by chaosgate: wiping it for a clean slate could destroy someone's
// work, so the caller must pick another one.
type UnmanagedNamespaceError struct{ Namespace string }

func (e *UnmanagedNamespaceError) Error() string {
	return fmt.Sprintf("--namespace %s: the namespace exists and was not created by chaosgate (no %s=chaosgate label); chaosgate deletes and recreates its namespace for a clean slate, so choose another one", e.Namespace, ManagedByLabel)
}

// DigestAnnotation on a namespace chaosgate created holds the digest of the
// workload a run deployed into it; it is set only once that run ended
// cleanly (every fault reverted), and cleared when the next run begins.
const DigestAnnotation = "chaosgate.dev/workload-digest"

// ResetNamespace gives a run a clean slate: objects an earlier run left (a
// PDB, an HPA, pods of another version) must not leak into this one. A
// namespace chaosgate created earlier is deleted and created again; one it
// did not create is refused. Its pods are force-deleted until it is gone
// so that a workload that ignores SIGTERM does not hold the deletion for
// its grace period.
//
// A namespace whose last run ended cleanly with the same workload (same
// digest) is kept, as deleting a namespace takes the namespace controller
// about ten seconds here: only its pods are deleted, so that crash-looping
// pods, their back-off and their placement after a node fault go, and each
// suite applies the workload again and waits for it to roll out, the reset
// suites already rely on between each other. The digest is cleared until
// this run ends cleanly (MarkNamespace). It reports whether the namespace
// was kept.
func ResetNamespace(ctx context.Context, cs kubernetes.Interface, namespace, digest string, timeout time.Duration) (kept bool, err error) {
	if namespace == "kube-system" || namespace == "default" || namespace == "kube-public" || namespace == "kube-node-lease" {
		return false, &UnmanagedNamespaceError{Namespace: namespace}
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	zero := int64(0)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return false, fmt.Errorf("get namespace %s: %w", namespace, err)
	case ns.Labels[ManagedByLabel] != fieldManager:
		return false, &UnmanagedNamespaceError{Namespace: namespace}
	case digest != "" && ns.Annotations[DigestAnnotation] == digest && ns.DeletionTimestamp == nil:
		if err := MarkNamespace(ctx, cs, namespace, ""); err != nil {
			return false, err
		}
		if err := cs.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil {
			return false, fmt.Errorf("delete pods in %s: %w", namespace, err)
		}
		return true, nil
	default:
		if err := cs.CoreV1().Namespaces().Delete(ctx, namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("delete namespace %s: %w", namespace, err)
		}
		// Pods are force-deleted while the namespace terminates, not only
		// before: a ReplicaSet the namespace controller has not reached yet
		// replaces a force-deleted pod at once, and the controller would
		// then wait out that pod's graceful shutdown (13.7s measured here
		// with the sample's 5s drain delay).
		err := wait.For(func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			if err := cs.CoreV1().Pods(namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("delete pods in %s: %w", namespace, err)
			}
			return false, nil
		}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(500*time.Millisecond), wait.WithImmediate())
		if err != nil {
			return false, fmt.Errorf("namespace %s still terminating after %s: %w", namespace, timeout, err)
		}
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{ManagedByLabel: fieldManager}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	return false, nil
}

// MarkNamespace records the digest of the workload a run deployed into
// namespace, once that run ended cleanly ("" clears it).
func MarkNamespace(ctx context.Context, cs kubernetes.Interface, namespace, digest string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{DigestAnnotation: digest}}})
	if err != nil {
		return err
	}
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, namespace, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("mark namespace %s: %w", namespace, err)
	}
	return nil
}

// DeployDigest identifies what a run deploys: the workload's objects
// (Digest), the version of chaosgate deploying them, and the IDs of the
// images loaded for it, since a rebuilt image under the same tag is another
// workload.
func (w *Workload) DeployDigest(version string, imageIDs map[string]string) string {
	h := sha256.New()
	h.Write([]byte(w.Digest()))
	fmt.Fprintf(h, "\nchaosgate %s", version)
	names := make([]string, 0, len(imageIDs))
	for n := range imageIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "\n%s=%s", n, imageIDs[n])
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// ApplyError is a workload object the API server refused: a schema or
// validation error in the user's manifest, named by its file position.
type ApplyError struct {
	Pos, Kind, Name string
	Err             error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s: %s %s: %v", e.Pos, e.Kind, e.Name, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// ApplyOptions say how to apply a workload.
type ApplyOptions struct {
	// DryRun has the API server validate every object (schema, admission)
	// and persist nothing.
	DryRun bool
	// AllowClusterScoped lets objects that are not namespaced (a
	// ClusterRole, a CRD, a Namespace) through; they are applied cluster-wide.
	AllowClusterScoped bool
}

// Apply applies the workload into namespace with server-side apply, so
// applying it again restores whatever a suite changed (an image, an
// environment variable). The gate dry-runs it before it touches anything,
// so a bad manifest is an input error. Cluster-scoped objects are refused
// unless allowed: a workload under test must not change the cluster for
// everyone else.
func Apply(ctx context.Context, rc *rest.Config, w *Workload, namespace string, o ApplyOptions) error {
	if namespace == "kube-system" {
		return errors.New("refusing to deploy a workload into kube-system")
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
	for _, obj0 := range w.Objects {
		gvk := obj0.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return &ApplyError{Pos: obj0.Pos, Kind: gvk.Kind, Name: obj0.GetName(), Err: fmt.Errorf("not served by this cluster: %w", err)}
		}
		obj := obj0.DeepCopy()
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		switch {
		case m.Scope.Name() == meta.RESTScopeNameNamespace:
			obj.SetNamespace(namespace)
			ri = dyn.Resource(m.Resource).Namespace(namespace)
		case !o.AllowClusterScoped:
			return &ApplyError{Pos: obj0.Pos, Kind: gvk.Kind, Name: obj0.GetName(),
				Err: errors.New("cluster-scoped objects would change the cluster for everyone; refused unless --allow-cluster-scoped")}
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return err
		}
		force := true
		opts := metav1.PatchOptions{FieldManager: fieldManager, Force: &force}
		if o.DryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		if _, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts); err != nil {
			if apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) {
				return &ApplyError{Pos: obj0.Pos, Kind: gvk.Kind, Name: obj.GetName(), Err: err}
			}
			return fmt.Errorf("%s: apply %s %s: %w", obj0.Pos, gvk.Kind, obj.GetName(), err)
		}
	}
	return nil
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
		ObjectMeta: metav1.ObjectMeta{Name: ExposedServiceName, Namespace: namespace, Labels: map[string]string{ManagedByLabel: fieldManager}},
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
	case err == nil && existing.Labels[ManagedByLabel] != fieldManager:
		return &ForeignServiceError{Namespace: namespace}
	case err == nil:
		existing.Spec.Selector, existing.Spec.Ports, existing.Spec.Type = svc.Spec.Selector, svc.Spec.Ports, svc.Spec.Type
		_, err = cs.CoreV1().Services(namespace).Update(ctx, existing, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("expose target on node port %d: %w", nodePort, err)
	}
	return nil
}

// ForeignServiceError is a Service named ExposedServiceName that chaosgate
// did not create: it is left alone, and the run cannot expose its target.
type ForeignServiceError struct{ Namespace string }

func (e *ForeignServiceError) Error() string {
	return fmt.Sprintf("expose target: a Service %s/%s exists that chaosgate did not create; it is left alone (rename it, or run in another namespace)", e.Namespace, ExposedServiceName)
}

// Unexpose deletes the gate's NodePort Service from namespace, if the gate
// created it (a Service of that name without the gate's label stays).
func Unexpose(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, ExposedServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if svc.Labels[ManagedByLabel] != fieldManager {
		return nil
	}
	err = cs.CoreV1().Services(namespace).Delete(ctx, ExposedServiceName, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &svc.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
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
