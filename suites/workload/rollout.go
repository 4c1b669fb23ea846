package workload

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// Desired returns a Deployment's desired replicas (1 when unset, as the API
// defaults it).
func Desired(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// DeploymentComplete is the rollout-complete condition `kubectl rollout
// status` uses: every desired replica updated, ready and available, and no
// old replicas left.
func DeploymentComplete(d *appsv1.Deployment) bool {
	n := Desired(d)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n &&
		s.ReadyReplicas == n && s.AvailableReplicas == n
}

// ProgressDeadlineExceeded reports whether the Deployment controller gave up
// on the current rollout.
func ProgressDeadlineExceeded(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

// RolloutError says why a Deployment did not complete: which pods of the
// new ReplicaSet are not Ready and the last reason the cluster gave.
type RolloutError struct {
	Namespace, Name string
	// Deadline is true when the Deployment reported ProgressDeadlineExceeded
	// (the wait stopped early); otherwise the wait timed out.
	Deadline  bool
	Timeout   time.Duration
	Diagnosis string
}

func (e *RolloutError) Error() string {
	why := fmt.Sprintf("not complete within %s", e.Timeout)
	if e.Deadline {
		why = "stopped progressing (ProgressDeadlineExceeded)"
	}
	return fmt.Sprintf("deployment %s/%s %s: %s", e.Namespace, e.Name, why, e.Diagnosis)
}

// WaitDeploymentComplete waits until the Deployment has rolled out. It stops
// early when the Deployment reports ProgressDeadlineExceeded, and when it
// gives up it says why: the new ReplicaSet's pods that are not Ready, with
// their waiting reasons and their last probe failures.
func WaitDeploymentComplete(ctx context.Context, cs kubernetes.Interface, namespace, name string, timeout time.Duration) error {
	var last *appsv1.Deployment
	deadline := false
	err := wait.For(func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil // transient: keep waiting until the timeout
		}
		last = d
		if DeploymentComplete(d) {
			return true, nil
		}
		if d.Status.ObservedGeneration >= d.Generation && ProgressDeadlineExceeded(d) {
			deadline = true
			return true, nil
		}
		return false, nil
	}, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(500*time.Millisecond), wait.WithImmediate())
	if err == nil && !deadline {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	diag := "the Deployment was never readable"
	if last != nil {
		diag = DiagnoseRollout(dctx, cs, last)
	}
	return &RolloutError{Namespace: namespace, Name: name, Deadline: deadline, Timeout: timeout, Diagnosis: diag}
}

// DiagnoseRollout describes why a Deployment is not complete, in one line:
// its replica counts, the new ReplicaSet, each of its pods that is not
// Ready with the reason (waiting reason, last termination, latest warning
// event such as a failed readiness probe), and how many old pods still
// serve.
func DiagnoseRollout(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) string {
	s := d.Status
	parts := []string{fmt.Sprintf("ready %d/%d, updated %d, available %d", s.ReadyReplicas, Desired(d), s.UpdatedReplicas, s.AvailableReplicas)}
	newRS, oldReady, err := newReplicaSet(ctx, cs, d)
	if err != nil {
		return strings.Join(append(parts, "replica sets: "+err.Error()), "; ")
	}
	if newRS == nil {
		return strings.Join(append(parts, "no ReplicaSet for the current template yet"), "; ")
	}
	parts = append(parts, fmt.Sprintf("new ReplicaSet %s has %d/%d Ready", newRS.Name, newRS.Status.ReadyReplicas, desiredRS(newRS)))
	sel := labels.SelectorFromSet(labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: newRS.Labels[appsv1.DefaultDeploymentUniqueLabelKey]})
	pods, err := cs.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err == nil {
		shown := 0
		for _, p := range pods.Items {
			if PodReady(&p) || p.DeletionTimestamp != nil {
				continue
			}
			if shown == 3 {
				parts = append(parts, "…")
				break
			}
			shown++
			parts = append(parts, fmt.Sprintf("pod %s not Ready: %s", p.Name, podTrouble(ctx, cs, &p)))
		}
	}
	if oldReady > 0 {
		parts = append(parts, fmt.Sprintf("%d Ready pod(s) of older ReplicaSets still serve", oldReady))
	}
	return strings.Join(parts, "; ")
}

// newReplicaSet returns the Deployment's ReplicaSet with the highest
// revision, and the Ready pods of the others.
func newReplicaSet(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) (*appsv1.ReplicaSet, int32, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, 0, err
	}
	list, err := cs.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, 0, err
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			owned = append(owned, rs)
		}
	}
	if len(owned) == 0 {
		return nil, 0, nil
	}
	sort.Slice(owned, func(i, j int) bool { return Revision(&owned[i]) > Revision(&owned[j]) })
	var oldReady int32
	for _, rs := range owned[1:] {
		oldReady += rs.Status.ReadyReplicas
	}
	return &owned[0], oldReady, nil
}

// Revision is a ReplicaSet's revision annotation (0 when missing).
func Revision(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
	return n
}

func desiredRS(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// PodReady reports whether the pod's Ready condition is true.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podTrouble is the most telling reason a pod is not Ready.
func podTrouble(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) string {
	var why []string
	for _, c := range p.Status.ContainerStatuses {
		switch {
		case c.State.Waiting != nil:
			w := c.State.Waiting.Reason
			if m := c.State.Waiting.Message; m != "" {
				w += " (" + firstLine(m) + ")"
			}
			why = append(why, fmt.Sprintf("container %s waiting: %s", c.Name, w))
		case c.State.Terminated != nil:
			why = append(why, fmt.Sprintf("container %s terminated: %s, exit code %d", c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode))
		}
		if c.RestartCount > 0 && c.LastTerminationState.Terminated != nil {
			t := c.LastTerminationState.Terminated
			why = append(why, fmt.Sprintf("restarted %d time(s), last exit code %d (%s)", c.RestartCount, t.ExitCode, t.Reason))
		}
	}
	if ev := lastWarning(ctx, cs, p); ev != "" {
		why = append(why, ev)
	}
	if len(why) == 0 {
		if p.Status.Phase == corev1.PodPending {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
					return "unschedulable: " + firstLine(c.Message)
				}
			}
		}
		return "phase " + string(p.Status.Phase)
	}
	return strings.Join(why, ", ")
}

// lastWarning returns the pod's most recent Warning event ("Unhealthy:
// Readiness probe failed: HTTP probe failed with statuscode: 412 (x57)").
func lastWarning(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod) string {
	evs, err := cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=Pod,involvedObject.name=" + p.Name,
	})
	if err != nil {
		return ""
	}
	var best *corev1.Event
	for i := range evs.Items {
		e := &evs.Items[i]
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.UID != p.UID {
			continue
		}
		if best == nil || eventTime(e).After(eventTime(best)) {
			best = e
		}
	}
	if best == nil {
		return ""
	}
	s := best.Reason + ": " + firstLine(best.Message)
	if n := best.Count; n > 1 {
		s += fmt.Sprintf(" (x%d)", n)
	} else if best.Series != nil && best.Series.Count > 1 {
		s += fmt.Sprintf(" (x%d)", best.Series.Count)
	}
	return s
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil:
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// IsRolloutError reports whether err says the workload itself did not roll
// out (as opposed to the cluster or the API failing).
func IsRolloutError(err error) bool {
	var re *RolloutError
	return errors.As(err, &re)
}
