// Package agents sends load from inside the cluster: the agents (package
// load/agent) are the pods of one Kubernetes Job, each sending its share
// of the rate. The gate starts them at one agreed time through the API
// server's pod proxy, follows their logs and merges every result into one
// timeline. Kubernetes schedules, runs, bounds and cleans up the agents;
// nothing here is a cluster of its own.
package agents

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosgate/chaosgate/load"
	"github.com/chaosgate/chaosgate/load/agent"
)

// startLead is how far ahead the gate sets the common start: time for the
// start to reach every agent through the API server.
const startLead = time.Second

// retryBackoff is the first wait before a log stream is opened again.
var retryBackoff = 500 * time.Millisecond

// conn reaches the agents: their control endpoint and their output.
type conn interface {
	get(ctx context.Context, namespace, pod, path string, params map[string]string) error
	logs(ctx context.Context, namespace, pod string) (io.ReadCloser, error)
}

// apiConn goes through the API server: the pod proxy for control, the
// pods' logs for output. Nothing but the API server is reached from here.
type apiConn struct{ cs kubernetes.Interface }

func (a apiConn) get(ctx context.Context, namespace, pod, path string, params map[string]string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := a.cs.CoreV1().Pods(namespace).ProxyGet("http", pod, strconv.Itoa(agent.Port), path, params).DoRaw(ctx)
	return err
}

func (a apiConn) logs(ctx context.Context, namespace, pod string) (io.ReadCloser, error) {
	return a.cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: true}).Stream(ctx)
}

// Run is one load run by agents.
type Run struct {
	cs   kubernetes.Interface
	spec Spec
	conn conn
	// pods by agent index
	pods []string
	at   time.Time
}

// Start creates the agents' Job, waits until every agent answers and
// starts them all at one time, StartAt. On error nothing is left running.
func Start(ctx context.Context, cs kubernetes.Interface, spec Spec) (*Run, error) {
	return start(ctx, cs, spec, apiConn{cs})
}

func start(ctx context.Context, cs kubernetes.Interface, spec Spec, c conn) (*Run, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	r := &Run{cs: cs, spec: spec, conn: c}
	if _, err := cs.BatchV1().Jobs(spec.Namespace).Create(ctx, spec.Job(), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create load agents' job %s/%s: %w", spec.Namespace, spec.Name, err)
	}
	fail := func(err error) (*Run, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return nil, errors.Join(err, r.Delete(dctx))
	}
	if err := r.waitReady(ctx); err != nil {
		return fail(err)
	}
	at := time.Now().Add(startLead)
	for i, pod := range r.pods {
		if err := c.get(ctx, spec.Namespace, pod, "/start", map[string]string{"at": at.Format(time.RFC3339Nano)}); err != nil {
			return fail(fmt.Errorf("start load agent %d (pod %s): %w", i, pod, err))
		}
	}
	r.at = at
	return r, nil
}

// StartAt is when every agent starts its load.
func (r *Run) StartAt() time.Time { return r.at }

// Pods are the agents' pods, by index.
func (r *Run) Pods() []string { return r.pods }

// waitReady waits until every agent's pod runs and answers.
func (r *Run) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.spec.startTimeout())
	defer cancel()
	ready := map[string]bool{}
	var last string
	for {
		pods, err := r.cs.CoreV1().Pods(r.spec.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + r.spec.Name})
		if err == nil {
			byIndex := make([]string, r.spec.Agents)
			n := 0
			for i := range pods.Items {
				p := &pods.Items[i]
				if err := stuck(p); err != nil {
					return err
				}
				idx, err := strconv.Atoi(p.Annotations[batchIndexAnnotation])
				if err != nil || idx < 0 || idx >= r.spec.Agents || p.DeletionTimestamp != nil {
					continue
				}
				if p.Status.Phase != corev1.PodRunning {
					last = fmt.Sprintf("pod %s is %s", p.Name, p.Status.Phase)
					continue
				}
				if !ready[p.Name] {
					if err := r.conn.get(ctx, r.spec.Namespace, p.Name, "/ready", nil); err != nil {
						last = fmt.Sprintf("pod %s does not answer yet: %v", p.Name, err)
						continue
					}
					ready[p.Name] = true
				}
				byIndex[idx] = p.Name
				n++
			}
			if n == r.spec.Agents {
				r.pods = byIndex
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			if last == "" {
				last = "no pod yet"
			}
			return fmt.Errorf("load agents of job %s/%s not ready within %s: %s", r.spec.Namespace, r.spec.Name, r.spec.startTimeout(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// batchIndexAnnotation holds an Indexed Job pod's index.
const batchIndexAnnotation = "batch.kubernetes.io/job-completion-index"

// stuck says why an agent's pod will never run, when it can tell.
func stuck(p *corev1.Pod) error {
	if p.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("load agent pod %s failed before the start: %s %s", p.Name, p.Status.Reason, p.Status.Message)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImageNeverPull", "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
				return fmt.Errorf("load agent pod %s cannot start: %s: %s", p.Name, w.Reason, w.Message)
			}
		}
	}
	return nil
}

// Stream follows every agent's output into rec until every agent has
// written its last line, and checks that none was lost. When ctx ends, the
// agents are told to stop.
func (r *Run) Stream(ctx context.Context, rec *load.Recorder) error {
	if r.at.IsZero() {
		return errors.New("load agents were not started")
	}
	// no agent outlives its load by more than its last request's timeout;
	// the watchdog only guards against a stream that never ends
	wctx, cancel := context.WithDeadline(ctx, r.at.Add(r.spec.Load.Duration+r.spec.Load.RequestTimeout()+time.Minute))
	defer cancel()
	stopAgents := context.AfterFunc(wctx, func() { r.stop(context.WithoutCancel(ctx)) })
	defer stopAgents()
	errs := make([]error, len(r.pods))
	var wg sync.WaitGroup
	for i, pod := range r.pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.follow(wctx, i, pod, rec)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if wctx.Err() != nil {
		return fmt.Errorf("load agents still running %s after their load should have ended", time.Minute)
	}
	return errors.Join(errs...)
}

// stop asks every agent to end its load (best effort: the Job's deadline
// and deletion end them anyway).
func (r *Run) stop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, pod := range r.pods {
		_ = r.conn.get(ctx, r.spec.Namespace, pod, "/stop", nil)
	}
}

// follow reads one agent's output into rec. A log stream that breaks
// before the agent's Done line is opened again from the start, skipping
// the results already recorded (the log keeps its order).
func (r *Run) follow(ctx context.Context, index int, pod string, rec *load.Recorder) error {
	recorded := 0
	var other []string // the agent's own messages, for errors
	for attempt := 1; ; attempt++ {
		rc, err := r.conn.logs(ctx, r.spec.Namespace, pod)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if attempt >= 5 {
				return fmt.Errorf("load agent %d (pod %s): output: %w", index, pod, err)
			}
			time.Sleep(time.Duration(attempt) * retryBackoff)
			continue
		}
		seen := 0
		var done *agent.Done
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case bytes.HasPrefix(line, []byte(`{"seq":`)):
				seen++
				if seen <= recorded {
					continue
				}
				res, err := load.ParseResult(line)
				if err != nil {
					rc.Close()
					return fmt.Errorf("load agent %d (pod %s): %w", index, pod, err)
				}
				rec.Record(res)
				recorded++
			case bytes.HasPrefix(line, []byte(`{"done":`)):
				var d agent.DoneLine
				if err := json.Unmarshal(line, &d); err != nil || d.Done == nil {
					rc.Close()
					return fmt.Errorf("load agent %d (pod %s): bad last line %q", index, pod, line)
				}
				done = d.Done
			default:
				other = append(other, string(line))
				if len(other) > 5 {
					other = other[1:]
				}
			}
		}
		rc.Close()
		switch {
		case done != nil && done.Total != recorded:
			return fmt.Errorf("load agent %d (pod %s): %d results read of the %d it sent: its output lost lines", index, pod, recorded, done.Total)
		case done != nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		}
		// no Done line: the agent failed, or the stream broke
		if p, err := r.cs.CoreV1().Pods(r.spec.Namespace).Get(ctx, pod, metav1.GetOptions{}); err == nil && ended(p) {
			return fmt.Errorf("load agent %d (pod %s) ended without finishing its load: %s", index, pod, orNothing(other))
		} else if apierrors.IsNotFound(err) {
			return fmt.Errorf("load agent %d: pod %s was deleted during the load", index, pod)
		}
		if attempt >= 5 {
			return fmt.Errorf("load agent %d (pod %s): its output stream broke %d times: %s", index, pod, attempt, orNothing(other))
		}
		time.Sleep(time.Duration(attempt) * retryBackoff)
	}
}

// ended reports whether the agent's container has terminated.
func ended(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container && cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

func orNothing(lines []string) string {
	if len(lines) == 0 {
		return "it wrote nothing else"
	}
	return strings.Join(lines, " | ")
}

// Delete removes the Job and, with it, its pods.
func (r *Run) Delete(ctx context.Context) error {
	bg := metav1.DeletePropagationBackground
	err := r.cs.BatchV1().Jobs(r.spec.Namespace).Delete(ctx, r.spec.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete load agents' job %s/%s: %w", r.spec.Namespace, r.spec.Name, err)
	}
	return nil
}

// Placement says where the agents ran: node and agent count.
func (r *Run) Placement(ctx context.Context) string {
	count := map[string]int{}
	for _, pod := range r.pods {
		if p, err := r.cs.CoreV1().Pods(r.spec.Namespace).Get(ctx, pod, metav1.GetOptions{}); err == nil {
			count[p.Spec.NodeName]++
		}
	}
	parts := make([]string, 0, len(count))
	for _, node := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%d on %s", count[node], node))
	}
	return strings.Join(parts, ", ")
}

// DeleteLeftovers removes every load agent Job in namespace (those a run
// that ended badly could not delete), with their pods.
func DeleteLeftovers(ctx context.Context, cs kubernetes.Interface, namespace string) error {
	sel := labels.SelectorFromSet(jobLabels()).String()
	jobs, err := cs.BatchV1().Jobs(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("list load agent jobs in %s: %w", namespace, err)
	}
	bg := metav1.DeletePropagationBackground
	var errs []error
	for _, j := range jobs.Items {
		if err := cs.BatchV1().Jobs(namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete load agent job %s/%s: %w", namespace, j.Name, err))
		}
	}
	return errors.Join(errs...)
}
