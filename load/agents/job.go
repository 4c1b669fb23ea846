package agents

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agent"
)

// MaxAgents bounds the agents of one run.
const MaxAgents = 50

// Labels of every agent Job and pod.
const (
	NameLabel      = "app.kubernetes.io/name"
	Name           = "chaosgate-load-agent"
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = "chaosgate"
)

// container is the agent's container name.
const container = "agent"

// controlPlaneRole marks control-plane nodes: agents prefer them, so faults
// on workers never hit the load itself (kind lets pods tolerate its
// control plane; elsewhere they go wherever the scheduler puts them).
const controlPlaneRole = "node-role.kubernetes.io/control-plane"

// Spec is the load of one run, sent by agents.
type Spec struct {
	Namespace string
	// Name is the Job's; unique per run.
	Name  string
	Image string
	// Agents is how many pods share the load.
	Agents int
	// Load is the whole load; its target is a Service's DNS name.
	Load load.Options
	// StartTimeout bounds how long the agents may take to be ready.
	StartTimeout time.Duration
	// CPULimit caps each agent's CPU (a quantity such as 500m; empty: no
	// cap), for clusters where the load must not crowd out other work.
	CPULimit string
}

func (s Spec) startTimeout() time.Duration {
	if s.StartTimeout <= 0 {
		return 2 * time.Minute
	}
	return s.StartTimeout
}

// Validate checks the spec before anything is created.
func (s Spec) Validate() error {
	var errs []error
	if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("namespace %q: %s", s.Namespace, strings.Join(msgs, "; ")))
	}
	// an Indexed Job's pods are named NAME-INDEX-RANDOM: leave room
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 || len(s.Name) > 50 {
		errs = append(errs, fmt.Errorf("job name %q: want a DNS label of at most 50 characters", s.Name))
	}
	if s.CPULimit != "" {
		if q, err := resource.ParseQuantity(s.CPULimit); err != nil || q.Sign() <= 0 {
			errs = append(errs, fmt.Errorf("agent CPU limit %q: want a positive quantity such as 500m", s.CPULimit))
		}
	}
	if s.Image == "" {
		errs = append(errs, errors.New("agent image: empty"))
	}
	if s.Agents < 1 || s.Agents > MaxAgents {
		errs = append(errs, fmt.Errorf("agents %d: must be 1-%d", s.Agents, MaxAgents))
	}
	if s.Load.Rate < s.Agents {
		errs = append(errs, fmt.Errorf("rate %d: below one request per second per agent (%d agents)", s.Load.Rate, s.Agents))
	}
	o := s.Load
	o.InCluster = true
	if err := o.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// jobLabels mark the agents' Jobs and pods as chaosgate's load agents.
func jobLabels() map[string]string {
	return map[string]string{NameLabel: Name, ManagedByLabel: ManagedBy}
}

// Job is the Kubernetes Job that runs the agents: Indexed, so each pod
// knows its share; never retried (a retried agent would send its share
// twice); bounded by a deadline and removed after it finished, so agents a
// crashed gate left behind end by themselves.
func (s Spec) Job() *batchv1.Job {
	labels := jobLabels()
	n := int32(s.Agents)
	mode := batchv1.IndexedCompletion
	deadline := int64((s.startTimeout() + s.Load.Duration + s.Load.RequestTimeout() + time.Minute).Seconds())
	args := []string{
		"--target", s.Load.Target,
		"--rate", strconv.Itoa(s.Load.Rate),
		"--duration", s.Load.Duration.String(),
		"--timeout", s.Load.RequestTimeout().String(),
		"--agents", strconv.Itoa(s.Agents),
		"--start-within", s.startTimeout().String(),
	}
	if s.Load.RampTo > 0 {
		args = append(args, "--ramp-to", strconv.Itoa(s.Load.RampTo))
	}
	if s.Load.Method != "" {
		args = append(args, "--method", s.Load.Method)
	}
	if s.Load.KeepAlive {
		args = append(args, "--keep-alive")
	}
	limits := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	if q, err := resource.ParseQuantity(s.CPULimit); err == nil && s.CPULimit != "" {
		limits[corev1.ResourceCPU] = q
	}
	requests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
	if q, ok := limits[corev1.ResourceCPU]; ok && q.Cmp(requests[corev1.ResourceCPU]) < 0 {
		requests[corev1.ResourceCPU] = q
	}
	nonRoot, noEscalation, readOnly := true, false, true
	user := int64(65532)
	grace := int64(10)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			Parallelism: &n, Completions: &n, CompletionMode: &mode,
			BackoffLimit:            ptr(int32(0)),
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: ptr(int32(600)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: &grace,
					AutomountServiceAccountToken:  ptr(false),
					EnableServiceLinks:            ptr(false),
					Tolerations:                   []corev1.Toleration{{Key: controlPlaneRole, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
					Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
							Weight:     100,
							Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: controlPlaneRole, Operator: corev1.NodeSelectorOpExists}}},
						}},
					}},
					Containers: []corev1.Container{{
						Name: container, Image: s.Image, ImagePullPolicy: corev1.PullIfNotPresent, Args: args,
						Ports:     []corev1.ContainerPort{{Name: "control", ContainerPort: agent.Port}},
						Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits},
						SecurityContext: &corev1.SecurityContext{
							RunAsNonRoot: &nonRoot, RunAsUser: &user, AllowPrivilegeEscalation: &noEscalation, ReadOnlyRootFilesystem: &readOnly,
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }
