package agents

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosgate/chaosgate/load"
)

func init() { retryBackoff = 10 * time.Millisecond }

func spec(agents int) Spec {
	return Spec{Namespace: "shop", Name: "chaosgate-load-1", Image: "chaosgate.local/loadagent:v1", Agents: agents,
		Load: load.Options{Target: "http://web.shop.svc:80/", Rate: 100, Duration: 30 * time.Second}, StartTimeout: 5 * time.Second}
}

func TestSpecValidate(t *testing.T) {
	if err := spec(2).Validate(); err != nil {
		t.Fatal(err)
	}
	for want, mod := range map[string]func(*Spec){
		"agents 0":                 func(s *Spec) { s.Agents = 0 },
		"agents 51":                func(s *Spec) { s.Agents = 51 },
		"per agent":                func(s *Spec) { s.Load.Rate = 1 },
		"Service's DNS name":       func(s *Spec) { s.Load.Target = "http://127.0.0.1:30080/" },
		"job name":                 func(s *Spec) { s.Name = "Load_1" },
		"namespace":                func(s *Spec) { s.Namespace = "" },
		"agent image":              func(s *Spec) { s.Image = "" },
		"duration 3h0m0s":          func(s *Spec) { s.Load.Duration = 3 * time.Hour },
		"at most 50 characters":    func(s *Spec) { s.Name = strings.Repeat("a", 51) },
		"must be 1-100000 request": func(s *Spec) { s.Load.Rate = 200_000 },
		"CPU limit":                func(s *Spec) { s.CPULimit = "lots" },
		"CPU limit ":               func(s *Spec) { s.CPULimit = "-1" },
	} {
		s := spec(2)
		mod(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), strings.TrimSpace(want)) {
			t.Errorf("%s: err %v", want, err)
		}
	}
}

func TestJobRunsEachAgentOnceWithinADeadline(t *testing.T) {
	s := spec(3)
	s.Load.RampTo = 300
	s.Load.KeepAlive = true
	j := s.Job()
	js := j.Spec
	if *js.Parallelism != 3 || *js.Completions != 3 || *js.CompletionMode != batchv1.IndexedCompletion || *js.BackoffLimit != 0 {
		t.Fatalf("job spec %+v", js)
	}
	// start budget + load + a request timeout + a minute
	if *js.ActiveDeadlineSeconds != 5+30+2+60 || js.TTLSecondsAfterFinished == nil {
		t.Fatalf("deadline %d", *js.ActiveDeadlineSeconds)
	}
	pod := js.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || *pod.AutomountServiceAccountToken {
		t.Fatalf("pod spec %+v", pod)
	}
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--target http://web.shop.svc:80/", "--rate 100", "--ramp-to 300", "--duration 30s", "--agents 3", "--keep-alive", "--start-within 5s"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	if c.SecurityContext == nil || !*c.SecurityContext.RunAsNonRoot || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Fatal("agent container must run unprivileged")
	}
	if !slices.ContainsFunc(pod.Tolerations, func(t corev1.Toleration) bool { return t.Key == controlPlaneRole }) {
		t.Fatal("agents must be able to run on the control plane, away from faulted workers")
	}
	if _, capped := c.Resources.Limits[corev1.ResourceCPU]; capped {
		t.Fatal("no CPU limit asked, none set")
	}
	s.CPULimit = "20m"
	res := s.Job().Spec.Template.Spec.Containers[0].Resources
	if res.Limits.Cpu().MilliValue() != 20 || res.Requests.Cpu().MilliValue() != 20 {
		t.Fatalf("CPU limit 20m: limits %v, requests %v (a request above the limit is invalid)", res.Limits, res.Requests)
	}
	if j.Labels[NameLabel] != Name || pod.Containers[0].Ports[0].ContainerPort != 8080 {
		t.Fatalf("labels %v, ports %v", j.Labels, c.Ports)
	}
}

// fakeConn stands in for the pod proxy and the logs.
type fakeConn struct {
	mu    sync.Mutex
	calls []string
	// logs returns each pod's successive log streams
	logs_   map[string][]string
	refuse  map[string]error
	stopped chan string
}

func (f *fakeConn) get(_ context.Context, _, pod, path string, params map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, pod+path)
	if f.stopped != nil && path == "/stop" {
		f.stopped <- pod
	}
	return f.refuse[pod+path]
}

func (f *fakeConn) logs(ctx context.Context, _, pod string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	streams := f.logs_[pod]
	if len(streams) == 0 {
		// a stream that stays open until the gate gives up
		r, w := io.Pipe()
		context.AfterFunc(ctx, func() { w.CloseWithError(ctx.Err()) })
		return r, nil
	}
	f.logs_[pod] = streams[1:]
	return io.NopCloser(strings.NewReader(streams[0])), nil
}

func agentPod(name string, index int, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
			Labels:      map[string]string{"batch.kubernetes.io/job-name": "chaosgate-load-1"},
			Annotations: map[string]string{batchIndexAnnotation: fmt.Sprint(index)}},
		Spec:   corev1.PodSpec{NodeName: "chaosgate-control-plane"},
		Status: corev1.PodStatus{Phase: phase},
	}
}

// output is an agent's log: n results from at, then its Done line
// claiming total.
func output(at time.Time, n, total int, index int) string {
	var b strings.Builder
	b.WriteString(`{"time":"x","level":"INFO","msg":"agent log line"}` + "\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"seq":%d,"start":"%s","latency_us":1500,"code":200}`+"\n", i, at.Add(time.Duration(i)*10*time.Millisecond).Format(time.RFC3339Nano))
	}
	if total >= 0 {
		fmt.Fprintf(&b, `{"done":{"index":%d,"total":%d,"ok":%d,"late_us":120}}`+"\n", index, total, total)
	}
	return b.String()
}

func TestStartWaitsForEveryAgentThenStartsThemTogether(t *testing.T) {
	cs := fake.NewClientset(agentPod("a-0", 0, corev1.PodRunning), agentPod("a-1", 1, corev1.PodRunning))
	at := time.Now()
	c := &fakeConn{logs_: map[string][]string{
		// agent 0's stream breaks after 3 results and is read again
		"a-0": {output(at, 3, -1, 0), output(at, 5, 5, 0)},
		"a-1": {output(at, 4, 4, 1)},
	}}
	ctx := context.Background()
	r, err := start(ctx, cs, spec(2), c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.BatchV1().Jobs("shop").Get(ctx, "chaosgate-load-1", metav1.GetOptions{}); err != nil {
		t.Fatalf("job not created: %v", err)
	}
	if !slices.Equal(r.Pods(), []string{"a-0", "a-1"}) || time.Until(r.StartAt()) <= 0 {
		t.Fatalf("pods %v, start %s", r.Pods(), r.StartAt())
	}
	if !slices.Contains(c.calls, "a-0/ready") || !slices.Contains(c.calls, "a-1/start") {
		t.Fatalf("calls %v", c.calls)
	}
	rec := load.NewRecorder(io.Discard, at)
	if err := r.Stream(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// 5 + 4, the 3 lines read twice counted once
	if total, ok := rec.Counts(); total != 9 || ok != 9 {
		t.Fatalf("recorded %d (%d ok)", total, ok)
	}
	if got := r.Placement(ctx); got != "2 on chaosgate-control-plane" {
		t.Fatalf("placement %q", got)
	}
	if err := r.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.BatchV1().Jobs("shop").Get(ctx, "chaosgate-load-1", metav1.GetOptions{}); err == nil {
		t.Fatal("job left behind")
	}
}

func TestStreamFailsWhenResultsAreLostOrAnAgentDies(t *testing.T) {
	at := time.Now()
	for name, c := range map[string]struct {
		logs  []string
		phase corev1.PodPhase
		want  string
	}{
		"lines lost":            {[]string{output(at, 3, 5, 0)}, corev1.PodSucceeded, "3 results read of the 5 it sent"},
		"agent died":            {[]string{output(at, 2, -1, 0) + `{"level":"ERROR","msg":"load agent failed","err":"boom"}` + "\n"}, corev1.PodFailed, "boom"},
		"stream keeps breaking": {[]string{"", "", "", "", ""}, corev1.PodRunning, "broke 5 times"},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(agentPod("a-0", 0, corev1.PodRunning))
			conn := &fakeConn{logs_: map[string][]string{"a-0": c.logs}}
			r, err := start(context.Background(), cs, spec(1), conn)
			if err != nil {
				t.Fatal(err)
			}
			p := agentPod("a-0", 0, c.phase)
			if _, err := cs.CoreV1().Pods("shop").UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			err = r.Stream(context.Background(), load.NewRecorder(io.Discard, at))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestStreamStopsTheAgentsWhenCancelled(t *testing.T) {
	cs := fake.NewClientset(agentPod("a-0", 0, corev1.PodRunning))
	c := &fakeConn{logs_: map[string][]string{}, stopped: make(chan string, 1)}
	r, err := start(context.Background(), cs, spec(1), c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if err := r.Stream(ctx, load.NewRecorder(io.Discard, time.Now())); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
	select {
	case pod := <-c.stopped:
		if pod != "a-0" {
			t.Fatalf("stopped %s", pod)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agents not told to stop")
	}
}

func TestStartFailsFastOnAnAgentThatCannotRunAndLeavesNothing(t *testing.T) {
	p := agentPod("a-0", 0, corev1.PodPending)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image chaosgate.local/loadagent:v1 is not present"}}}}
	cs := fake.NewClientset(p)
	began := time.Now()
	_, err := start(context.Background(), cs, spec(1), &fakeConn{})
	if err == nil || !strings.Contains(err.Error(), "ErrImageNeverPull") || time.Since(began) > 2*time.Second {
		t.Fatalf("err %v after %s", err, time.Since(began))
	}
	if jobs, _ := cs.BatchV1().Jobs("shop").List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Fatal("job left behind")
	}
}

func TestStartTimesOutNamingWhatItWaitedFor(t *testing.T) {
	cs := fake.NewClientset(agentPod("a-0", 0, corev1.PodRunning))
	s := spec(1)
	s.StartTimeout = 700 * time.Millisecond
	_, err := start(context.Background(), cs, s, &fakeConn{refuse: map[string]error{"a-0/ready": errors.New("connection refused")}})
	if err == nil || !strings.Contains(err.Error(), "not ready within 700ms") || !strings.Contains(err.Error(), "does not answer yet") {
		t.Fatalf("err %v", err)
	}
}

// Agent Jobs a run left are found by their labels; another Job in the
// namespace (the team's) stays.
func TestDeleteLeftoversTakesOnlyAgentJobs(t *testing.T) {
	theirs := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "shop"}}
	cs := fake.NewClientset(spec(1).Job(), theirs)
	if err := DeleteLeftovers(context.Background(), cs, "shop"); err != nil {
		t.Fatal(err)
	}
	jobs, _ := cs.BatchV1().Jobs("shop").List(context.Background(), metav1.ListOptions{})
	if len(jobs.Items) != 1 || jobs.Items[0].Name != "nightly" {
		t.Fatalf("jobs left: %v", jobs.Items)
	}
}
