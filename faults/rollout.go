package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// RestartAnnotation is what `kubectl rollout restart` sets on the pod
// template.
const RestartAnnotation = "kubectl.kubernetes.io/restartedAt"

// Rollout changes a Deployment's pod template, which rolls it out: by
// default a restart (the annotation `kubectl rollout restart` sets), or a
// new image and/or environment variables for one container. It is in
// effect when the rollout has completed: every replica updated, ready and
// available, no old replica left.
//
// With Bad set, the release is meant to fail (it can never become Ready):
// it is in effect when the failure is detected, by the Deployment's own
// progress deadline (Progressing=False, ProgressDeadlineExceeded) or, first,
// when none of the new pods is Ready after DetectAfter; the revert rolls
// back to the previous template, as `kubectl rollout undo` does, and waits
// until that rollout completes. A good release is not reverted: it is the
// intended state, and the next run's apply restores the workload's own
// template (ReleaseRollout hands back the fields the release took).
type Rollout struct {
	Client     kubernetes.Interface
	Namespace  string
	Deployment string
	// Container to change (default: the first).
	Container string
	Image     string
	Env       map[string]string
	// PullNever sets the container's imagePullPolicy to Never (a tag that is
	// not on the nodes then fails at once, without a registry).
	PullNever bool
	// Bad: the release is expected to fail; DetectAfter bounds the wait for
	// its new pods before it is declared failed (default 60s).
	Bad         bool
	DetectAfter time.Duration
	// RevertTimeout bounds the rollback; default 3 minutes.
	RevertTimeout time.Duration
}

// Kind implements Fault.
func (r *Rollout) Kind() string {
	if r.Bad {
		return "bad-release"
	}
	return "rollout"
}

// SelfHealing implements SelfHealing: a good release has nothing to undo.
func (r *Rollout) SelfHealing() bool { return !r.Bad }

// Describe implements Fault.
func (r *Rollout) Describe() string {
	var what []string
	if r.Image != "" {
		what = append(what, "image "+r.Image)
	}
	keys := make([]string, 0, len(r.Env))
	for k := range r.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		what = append(what, fmt.Sprintf("%s=%s", k, r.Env[k]))
	}
	if len(what) == 0 {
		what = append(what, "a restart")
	}
	s := fmt.Sprintf("roll out %s/%s with %s", r.Namespace, r.Deployment, strings.Join(what, ", "))
	if r.Bad {
		s = fmt.Sprintf("roll out a release of %s/%s that cannot become Ready (%s), then roll back", r.Namespace, r.Deployment, strings.Join(what, ", "))
	}
	return s
}

// Validate checks the parameters before anything is injected.
func (r *Rollout) Validate() error {
	if r.Client == nil || r.Namespace == "" || r.Deployment == "" {
		return errors.New("rollout: a client, a namespace and a Deployment are required")
	}
	if r.Namespace == "kube-system" {
		return errors.New("rollout: refusing to touch kube-system")
	}
	for k := range r.Env {
		if k == "" || strings.ContainsAny(k, "= ") {
			return fmt.Errorf("rollout: environment variable name %q", k)
		}
	}
	return nil
}

// Plan implements Fault: it keeps the current template for the rollback.
func (r *Rollout) Plan(ctx context.Context) (Injection, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(ctx, r.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	c := r.Container
	if c == "" {
		if len(d.Spec.Template.Spec.Containers) == 0 {
			return nil, &NoTargetError{Reason: "the Deployment has no container"}
		}
		c = d.Spec.Template.Spec.Containers[0].Name
	}
	found := false
	for _, x := range d.Spec.Template.Spec.Containers {
		found = found || x.Name == c
	}
	if !found {
		return nil, fmt.Errorf("rollout: Deployment %s has no container %q", r.Deployment, c)
	}
	detect := r.DetectAfter
	if detect <= 0 {
		detect = time.Minute
	}
	return &rolloutInjection{client: r.Client, Namespace: r.Namespace, Deployment: r.Deployment, Container: c, Image: r.Image,
		Env: r.Env, PullNever: r.PullNever, Bad: r.Bad, DetectAfter: detect, RevertTimeout: r.RevertTimeout,
		Previous: d.Spec.Template}, nil
}

type rolloutInjection struct {
	client        kubernetes.Interface
	Namespace     string                 `json:"namespace"`
	Deployment    string                 `json:"deployment"`
	Container     string                 `json:"container"`
	Image         string                 `json:"image,omitempty"`
	Env           map[string]string      `json:"env,omitempty"`
	PullNever     bool                   `json:"pullNever,omitempty"`
	Bad           bool                   `json:"bad,omitempty"`
	DetectAfter   time.Duration          `json:"detectAfter"`
	RevertTimeout time.Duration          `json:"revertTimeout,omitempty"`
	Previous      corev1.PodTemplateSpec `json:"previous"`
	applied       time.Time
}

func (i *rolloutInjection) Targets() []Target {
	return []Target{{Kind: "deployment", Namespace: i.Namespace, Name: i.Deployment}}
}

func (i *rolloutInjection) State() (json.RawMessage, error) { return json.Marshal(i) }

// RolloutFieldManager owns what a good release changes in the template,
// so that ReleaseRollout can hand the template back to the workload.
const RolloutFieldManager = "chaosgate-rollout"

// Apply changes the template. A good release is a server-side apply of
// only the fields it changes, owned by RolloutFieldManager; a bad release
// replaces the template (retrying on conflicts with the controller's own
// writes), and its revert puts the previous one back whole.
func (i *rolloutInjection) Apply(ctx context.Context) error {
	i.applied = time.Now()
	if !i.Bad {
		return i.applyRelease(ctx)
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := i.client.AppsV1().Deployments(i.Namespace).Get(ctx, i.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		t := &d.Spec.Template
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[RestartAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
		for k := range t.Spec.Containers {
			c := &t.Spec.Containers[k]
			if c.Name != i.Container {
				continue
			}
			if i.Image != "" {
				c.Image = i.Image
			}
			if i.PullNever {
				c.ImagePullPolicy = corev1.PullNever
			}
			for name, v := range i.Env {
				set := false
				for e := range c.Env {
					if c.Env[e].Name == name {
						c.Env[e] = corev1.EnvVar{Name: name, Value: v}
						set = true
					}
				}
				if !set {
					c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: v})
				}
			}
		}
		_, err = i.client.AppsV1().Deployments(i.Namespace).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
}

func (i *rolloutInjection) applyRelease(ctx context.Context) error {
	c := corev1ac.Container().WithName(i.Container)
	if i.Image != "" {
		c.WithImage(i.Image)
	}
	names := make([]string, 0, len(i.Env))
	for k := range i.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		c.WithEnv(corev1ac.EnvVar().WithName(k).WithValue(i.Env[k]))
	}
	d := appsv1ac.Deployment(i.Deployment, i.Namespace).WithSpec(appsv1ac.DeploymentSpec().WithTemplate(
		corev1ac.PodTemplateSpec().WithAnnotations(map[string]string{RestartAnnotation: time.Now().UTC().Format(time.RFC3339Nano)}).
			WithSpec(corev1ac.PodSpec().WithContainers(c))))
	_, err := i.client.AppsV1().Deployments(i.Namespace).Apply(ctx, d, metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true})
	return err
}

// ReleaseRollout gives up every field an earlier good release set in the
// Deployment's template (an environment variable, the restart annotation),
// so they go unless the workload's own manifests set them too. Apply the
// workload first: it takes back the fields both set, such as the image.
// It makes a new rollout when the release had changed the template.
func ReleaseRollout(ctx context.Context, cs kubernetes.Interface, namespace, deployment string) error {
	_, err := cs.AppsV1().Deployments(namespace).Apply(ctx, appsv1ac.Deployment(deployment, namespace),
		metav1.ApplyOptions{FieldManager: RolloutFieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("release the fields of earlier rollouts in %s/%s: %w", namespace, deployment, err)
	}
	return nil
}

// Verify waits for the rollout to complete, or, for a bad release, for its
// failure to be detected.
func (i *rolloutInjection) Verify(ctx context.Context) error {
	for {
		d, err := i.client.AppsV1().Deployments(i.Namespace).Get(ctx, i.Deployment, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation {
			switch {
			case !i.Bad && rolloutComplete(d):
				return nil
			case !i.Bad && deadlineExceeded(d):
				return fmt.Errorf("the rollout stopped progressing (ProgressDeadlineExceeded): %s", progressMessage(d))
			case i.Bad && deadlineExceeded(d):
				return nil
			case i.Bad && rolloutComplete(d):
				return errors.New("the release that was meant to fail became Ready")
			case i.Bad && !i.applied.IsZero() && time.Since(i.applied) >= i.DetectAfter && d.Status.UpdatedReplicas > 0:
				// none of the new pods became available in time
				if d.Status.UpdatedReplicas > 0 && newAvailable(d) == 0 {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func rolloutComplete(d *appsv1.Deployment) bool {
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	s := d.Status
	return s.UpdatedReplicas == n && s.Replicas == n && s.ReadyReplicas == n && s.AvailableReplicas == n
}

func deadlineExceeded(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
	}
	return false
}

func progressMessage(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			return c.Message
		}
	}
	return ""
}

// newAvailable approximates the available pods of the new ReplicaSet: the
// Deployment's available replicas beyond what the old ones hold cannot be
// told apart from its status alone, so a bad release is one whose updated
// replicas exist while the available ones do not exceed the old count.
func newAvailable(d *appsv1.Deployment) int32 {
	old := d.Status.Replicas - d.Status.UpdatedReplicas
	return max(d.Status.AvailableReplicas-old, 0)
}

// Revert rolls a bad release back to the template it replaced and waits for
// that rollout to complete. A good release is left as it is.
func (i *rolloutInjection) Revert(ctx context.Context) error {
	if !i.Bad {
		return nil
	}
	timeout := i.RevertTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := i.client.AppsV1().Deployments(i.Namespace).Get(ctx, i.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template = i.Previous
		_, err = i.client.AppsV1().Deployments(i.Namespace).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return &TargetGoneError{Target: "deployment " + i.Namespace + "/" + i.Deployment, Err: err}
	}
	if err != nil {
		return fmt.Errorf("roll back %s: %w", i.Deployment, err)
	}
	for {
		d, err := i.client.AppsV1().Deployments(i.Namespace).Get(ctx, i.Deployment, metav1.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && rolloutComplete(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the rollback of %s did not complete: %w", i.Deployment, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// RevertRollout returns the journal reverter for rollouts: a bad release is
// rolled back, a good one has nothing to undo.
func RevertRollout(cs kubernetes.Interface) Reverter {
	return func(ctx context.Context, e Entry) error {
		var inj rolloutInjection
		if err := json.Unmarshal(e.State, &inj); err != nil || inj.Deployment == "" {
			return fmt.Errorf("decode state %s: %v", e.State, err)
		}
		inj.client = cs
		return inj.Revert(ctx)
	}
}
