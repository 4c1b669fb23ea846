package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(ns, name string, lbl map[string]string, phase corev1.PodPhase) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl, UID: types.UID("uid-" + name),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "uid-rs", Controller: ptr(true)}}},
		Spec:   corev1.PodSpec{NodeName: "w1", Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: phase},
	}
	if phase == corev1.PodRunning {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func podNames(t *testing.T, cs *fake.Clientset, ns string) []string {
	t.Helper()
	l, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Name)
	}
	return out
}

func TestPodKillValidate(t *testing.T) {
	cases := []struct {
		p    PodKill
		want string
	}{
		{PodKill{Namespace: "", Selector: "app=x", Count: 1}, "namespace"},
		{PodKill{Namespace: "kube-system", Selector: "app=x", Count: 1}, "kube-system"},
		{PodKill{Namespace: "d", Selector: "", Count: 1}, "must not be empty"},
		{PodKill{Namespace: "d", Selector: "app in (", Count: 1}, "selector"},
		{PodKill{Namespace: "d", Selector: "app=x"}, "exactly one"},
		{PodKill{Namespace: "d", Selector: "app=x", Count: 1, Percent: 10}, "exactly one"},
		{PodKill{Namespace: "d", Selector: "app=x", Percent: 101}, "percent"},
	}
	for _, c := range cases {
		if err := c.p.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.p, err, c.want)
		}
	}
	ok := PodKill{Namespace: "kube-system", Selector: "k8s-app=kube-dns", Count: 1, AllowKubeSystem: true}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPodKillVictimCount(t *testing.T) {
	cases := []struct {
		count, percent, n, want int
	}{
		{1, 0, 3, 1}, {5, 0, 3, 3}, {0, 50, 3, 2}, {0, 34, 3, 2}, {0, 33, 3, 1}, {0, 100, 4, 4}, {0, 1, 1, 1},
	}
	for _, c := range cases {
		p := PodKill{Count: c.count, Percent: c.percent}
		if got := p.victims(c.n); got != c.want {
			t.Errorf("count=%d percent=%d n=%d: %d, want %d", c.count, c.percent, c.n, got, c.want)
		}
	}
}

func targetNames(ts []Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return strings.Join(out, ",")
}

func TestPodKillKillsOnlyReadyMatchingPods(t *testing.T) {
	app := map[string]string{"app": "web"}
	terminating := pod("d", "web-old", app, corev1.PodRunning)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	notReady := pod("d", "web-crashlooping", app, corev1.PodRunning)
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	cs := fake.NewSimpleClientset(
		pod("d", "web-a", app, corev1.PodRunning),
		pod("d", "web-b", app, corev1.PodRunning),
		pod("d", "web-pending", app, corev1.PodPending),
		terminating, notReady,
		pod("d", "db", map[string]string{"app": "db"}, corev1.PodRunning),
		pod("other", "web-x", app, corev1.PodRunning),
	)
	pk := &PodKill{Client: cs, Namespace: "d", Selector: "app=web", Percent: 100, Rand: rand.New(rand.NewPCG(1, 1))}
	inj, err := pk.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := targetNames(inj.Targets()); got != "pod d/web-a@w1,pod d/web-b@w1" && got != "pod d/web-b@w1,pod d/web-a@w1" {
		t.Fatalf("targets = %s", got)
	}
	if err := inj.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// the fake clientset removes deleted pods at once, as the API server
	// does once the kubelet has confirmed the containers stopped
	if err := inj.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if left := strings.Join(podNames(t, cs, "d"), ","); left != "db,web-crashlooping,web-old,web-pending" {
		t.Fatalf("pods left: %s", left)
	}
	if got := podNames(t, cs, "other"); len(got) != 1 {
		t.Fatalf("other namespace touched: %v", got)
	}
	// with not-Ready pods allowed, the crash-looping one is a candidate
	pk = &PodKill{Client: cs, Namespace: "d", Selector: "app=web", Count: 5, IncludeNotReady: true}
	if inj, err := pk.Plan(context.Background()); err != nil || targetNames(inj.Targets()) != "pod d/web-crashlooping@w1" {
		t.Fatalf("include not ready: %v %v", err, inj)
	}
	// nothing serves any more: a finding, not a crash
	_, err = (&PodKill{Client: cs, Namespace: "d", Selector: "app=web", Count: 1}).Plan(context.Background())
	if !IsNoTarget(err) || !strings.Contains(err.Error(), "no Ready pod") {
		t.Fatalf("want a NoTargetError, got %v", err)
	}
}

func TestPodKillVerifyNeedsTheContainersToStop(t *testing.T) {
	running := pod("d", "web-a", map[string]string{"app": "web"}, corev1.PodRunning)
	now := metav1.Now()
	running.DeletionTimestamp = &now // deleted, but the app ignores SIGTERM
	cs := fake.NewSimpleClientset(running)
	inj := &podKillInjection{client: cs, Namespace: "d", Selector: "app=web", Pods: []podRef{{Name: "web-a", UID: "uid-web-a", Owner: "uid-rs"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := inj.Verify(ctx); err == nil || !strings.Contains(err.Error(), "containers still running") {
		t.Fatalf("a terminating pod whose containers run must not count as killed: %v", err)
	}
	stopped := running.DeepCopy()
	stopped.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}
	if _, err := cs.CoreV1().Pods("d").UpdateStatus(context.Background(), stopped, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := inj.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPodKillForcedVerifiesByReplacement(t *testing.T) {
	app := map[string]string{"app": "web"}
	cs := fake.NewSimpleClientset(pod("d", "web-a", app, corev1.PodRunning), pod("d", "web-b", app, corev1.PodRunning))
	pk := &PodKill{Client: cs, Namespace: "d", Selector: "app=web", Count: 1, Force: true, Rand: rand.New(rand.NewPCG(1, 2))}
	inj, err := pk.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := inj.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := inj.Verify(ctx); err == nil || !strings.Contains(err.Error(), "no replacement") {
		t.Fatalf("gone without replacement must not verify: %v", err)
	}
	if _, err := cs.CoreV1().Pods("d").Create(context.Background(), pod("d", "web-c", app, corev1.PodPending), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := inj.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// deleting a pod that is gone already killed nothing: an apply error
	if err := inj.Apply(context.Background()); err == nil {
		t.Fatal("a second delete of the same pod must fail")
	}
}

func TestJournalRoundTrip(t *testing.T) {
	j := Journal{Dir: t.TempDir()}
	e := Entry{ID: "run1-node-stop-1", Kind: "node-stop", Created: time.Now(), State: json.RawMessage(`{"nodes":["w2"]}`)}
	if err := j.Add(e); err != nil {
		t.Fatal(err)
	}
	got, err := j.Entries()
	if err != nil || len(got) != 1 || got[0].ID != e.ID || string(got[0].State) != `{"nodes":["w2"]}` {
		t.Fatalf("entries = %+v, %v", got, err)
	}
	if err := j.Remove(e.ID); err != nil {
		t.Fatal(err)
	}
	if err := j.Remove(e.ID); err != nil {
		t.Fatal("removing twice must be fine:", err)
	}
	if got, _ := j.Entries(); len(got) != 0 {
		t.Fatalf("entries after remove = %v", got)
	}
	if err := j.Add(Entry{ID: "../escape"}); err == nil {
		t.Fatal("ids with path separators must be refused")
	}
}

func TestInjectorJournalsBeforeApplyAndRecoverReverts(t *testing.T) {
	k := newFakeKind(t, "c-worker", "c-worker2")
	k.addPod(pod("d", "web-a", map[string]string{"app": "web"}, corev1.PodRunning)) // on w1, not a worker of this cluster
	j := Journal{Dir: t.TempDir()}
	var mu sync.Mutex
	var seen []Event
	in := &Injector{Journal: j, RunID: "r1", Cluster: "c", VerifyTimeout: 5 * time.Second,
		Observe: func(e Event) { mu.Lock(); seen = append(seen, e); mu.Unlock() }}
	ns := &NodeShutdown{Docker: &journalCheckingDocker{fakeKind: k, j: j}, Client: k.cs, Node: "c-worker2"}
	id, err := in.Inject(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := in.AwaitEffect(context.Background(), id); !ok || err != nil {
		t.Fatalf("not in effect: %v %+v", err, in.Events())
	}
	evs := in.Events()
	if len(evs) != 1 || evs[0].Issued.After(evs[0].InEffect) || evs[0].Targets[0].Name != "c-worker2" {
		t.Fatalf("event = %+v", evs)
	}
	if k.ready("c-worker2") == corev1.ConditionTrue || k.running["c-worker2"] {
		t.Fatal("node still up")
	}
	// simulate a crash: a new process finds the journal and recovers
	done, err := Journal{Dir: j.Dir}.Recover(context.Background(), Reverters(k, k.cs), nil)
	if err != nil || len(done) != 1 || done[0].Entry.ID != id || done[0].Discarded {
		t.Fatalf("recover = %+v, %v", done, err)
	}
	if !k.running["c-worker2"] || k.ready("c-worker2") != corev1.ConditionTrue {
		t.Fatal("recover did not bring the node back Ready")
	}
	if left, _ := j.Entries(); len(left) != 0 {
		t.Fatalf("journal not emptied: %v", left)
	}
	// the original process reverting afterwards is harmless (idempotent)
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 {
		t.Fatalf("observer saw %d updates", len(seen))
	}
}

// journalCheckingDocker fails the test if a node is stopped before the
// journal holds the fault.
type journalCheckingDocker struct {
	*fakeKind
	j Journal
}

func (d *journalCheckingDocker) Stop(ctx context.Context, c string, kill bool) error {
	entries, _ := d.j.Entries()
	if len(entries) != 1 {
		d.t.Errorf("stop before journal entry (entries=%d)", len(entries))
	}
	return d.fakeKind.Stop(ctx, c, kill)
}

func TestRecoverScopesKeepsAndDiscards(t *testing.T) {
	k := newFakeKind(t, "c-worker")
	j := Journal{Dir: t.TempDir()}
	state := json.RawMessage(`{"node":"c-worker"}`)
	gone := json.RawMessage(`{"node":"old-worker"}`)
	k.gone["old-worker"] = true
	now := time.Now()
	_ = j.Add(Entry{ID: "x-1", Kind: "mystery", Cluster: "c", Created: now})
	_ = j.Add(Entry{ID: "x-2", Kind: "node-shutdown", Cluster: "other", Created: now.Add(time.Second), State: state})
	_ = j.Add(Entry{ID: "x-3", Kind: "node-shutdown", Cluster: "c", Created: now.Add(2 * time.Second), State: gone})
	_ = os.WriteFile(filepath.Join(j.Dir, "broken.json"), []byte("{"), 0o644)
	done, err := j.Recover(context.Background(), Reverters(k, k.cs), func(e Entry) bool { return e.Cluster == "c" })
	if err == nil || !strings.Contains(err.Error(), "mystery") || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("err=%v", err)
	}
	// the gone target is discarded, the other cluster's entry untouched,
	// the unknown kind kept
	if len(done) != 1 || done[0].Entry.ID != "x-3" || !done[0].Discarded || !strings.Contains(done[0].Reason, "no longer exists") {
		t.Fatalf("done=%+v", done)
	}
	left, _ := j.Entries()
	var ids []string
	for _, e := range left {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "x-1,x-2" {
		t.Fatalf("left %v", ids)
	}
	if calls := strings.Join(k.calls, ","); strings.Contains(calls, "c-worker") {
		t.Fatalf("another cluster's node was touched: %s", calls)
	}
	if dropped, _ := j.Discard(func(e Entry) bool { return e.Cluster == "other" }); len(dropped) != 1 || dropped[0].ID != "x-2" {
		t.Fatalf("discard %+v", dropped)
	}
}

func TestScheduleRunsAndRevertsEachInjection(t *testing.T) {
	k := newFakeKind(t, "c-worker")
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	s := Schedule{Fault: &NodeShutdown{Docker: k, Client: k.cs, Node: "c-worker"}, Every: 20 * time.Millisecond, Times: 3, Hold: 5 * time.Millisecond}
	ids, err := s.Run(context.Background(), in, time.Now())
	if err != nil || len(ids) != 3 {
		t.Fatalf("ids=%v err=%v", ids, err)
	}
	var stopStart []string
	for _, c := range k.calls {
		if strings.HasPrefix(c, "stop") || strings.HasPrefix(c, "start") {
			stopStart = append(stopStart, c)
		}
	}
	if got := strings.Join(stopStart, ","); got != "stop c-worker,start c-worker,stop c-worker,start c-worker,stop c-worker,start c-worker" {
		t.Fatalf("calls = %s", got)
	}
	for _, e := range in.Events() {
		if !e.TookEffect() || e.Reverted.IsZero() || e.Reverted.Before(e.InEffect) {
			t.Fatalf("event %+v", e)
		}
	}
}

func TestScheduleCancelLeavesActiveFaultForRevertAll(t *testing.T) {
	k := newFakeKind(t, "c-worker")
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r"}
	ctx, cancel := context.WithCancel(context.Background())
	s := Schedule{Fault: &NodeShutdown{Docker: k, Client: k.cs, Node: "c-worker"}, Times: 1, Hold: time.Hour}
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := s.Run(ctx, in, time.Now())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if k.running["c-worker"] {
		t.Fatal("node should still be stopped before RevertAll")
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !k.running["c-worker"] || k.ready("c-worker") != corev1.ConditionTrue {
		t.Fatal("RevertAll did not bring the node back")
	}
	if left, _ := in.Journal.Entries(); len(left) != 0 {
		t.Fatal("journal not emptied")
	}
}

func TestScheduleReleaseEndsTheHoldEarly(t *testing.T) {
	k := newFakeKind(t, "c-worker")
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: 5 * time.Second}
	asked := 0
	// released on the third question: the hour-long hold ends after two
	// 250ms polls
	s := Schedule{Fault: &NodeShutdown{Docker: k, Client: k.cs, Node: "c-worker"}, Times: 1, Hold: time.Hour,
		Release: func() bool { asked++; return asked == 3 }}
	start := time.Now()
	ids, err := s.Run(context.Background(), in, start)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ids=%v err=%v", ids, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the hold was not released: %s", took)
	}
	if asked != 3 {
		t.Fatalf("release asked %d times, want 3", asked)
	}
	if ev := in.Events()[0]; ev.Reverted.IsZero() || !k.running["c-worker"] {
		t.Fatalf("not reverted after the release: %+v", ev)
	}
}

func TestScheduleValidate(t *testing.T) {
	f := &NodeShutdown{}
	for _, s := range []Schedule{{}, {Fault: f, Times: 0}, {Fault: f, Times: 2}, {Fault: f, Times: 2, Every: time.Second, Hold: time.Second}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v must be invalid", s)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	kind := fake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{ProviderID: "kind://docker/c/n"}})
	if err := CheckTarget(context.Background(), kind, "kind-c", ""); err != nil {
		t.Fatal(err)
	}
	prod := fake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-0-1"}, Spec: corev1.NodeSpec{ProviderID: "aws:///eu-west-1a/i-123"}})
	err := CheckTarget(context.Background(), prod, "prod", "")
	if err == nil || !strings.Contains(err.Error(), "--allow-context prod") {
		t.Fatalf("err = %v", err)
	}
	if err := CheckTarget(context.Background(), prod, "prod", "staging"); err == nil {
		t.Fatal("allowing another context must not allow this one")
	}
	if err := CheckTarget(context.Background(), prod, "prod", "prod"); err != nil {
		t.Fatal(err)
	}
}

// panicky is a fault whose verification panics.
type panicky struct{ reverted *int }

func (p panicky) Kind() string                            { return "panicky" }
func (p panicky) Describe() string                        { return "panics in Verify" }
func (p panicky) Plan(context.Context) (Injection, error) { return p, nil }
func (p panicky) Targets() []Target                       { return []Target{{Kind: "node", Name: "n1"}} }
func (p panicky) State() (json.RawMessage, error)         { return json.RawMessage(`{}`), nil }
func (p panicky) Apply(context.Context) error             { return nil }
func (p panicky) Verify(context.Context) error            { panic("boom") }
func (p panicky) Revert(context.Context) error            { *p.reverted++; return nil }

// noTarget is a fault that finds nothing to hit.
type noTarget struct{}

func (noTarget) Kind() string     { return "pod-kill" }
func (noTarget) Describe() string { return "kill nothing" }
func (noTarget) Plan(context.Context) (Injection, error) {
	return nil, &NoTargetError{Reason: "no Ready pod"}
}

func TestInjectorRecordsFindingsAndSurvivesPanics(t *testing.T) {
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: time.Second}
	id, err := in.Inject(context.Background(), noTarget{})
	if err != nil || id == "" {
		t.Fatalf("a fault with nothing to hit is a finding, not an error: %q %v", id, err)
	}
	reverted := 0
	pid, err := in.Inject(context.Background(), panicky{&reverted})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := in.AwaitEffect(context.Background(), pid); ok || err != nil {
		t.Fatalf("a panicking verification took effect: %v %v", ok, err)
	}
	evs := in.Events()
	if len(evs) != 2 || evs[0].Stage != StagePlan || evs[0].Applied() || evs[0].Issued.IsZero() ||
		evs[1].Stage != StageVerify || !strings.Contains(evs[1].Error, "panicked: boom") || !evs[1].Applied() {
		t.Fatalf("events = %+v", evs)
	}
	if err := in.RevertAll(context.Background()); err != nil || reverted != 1 || in.Active() != 0 {
		t.Fatalf("revert after panic: %v, reverted %d, active %d", err, reverted, in.Active())
	}
}

func TestRevertAllGoesNewestFirst(t *testing.T) {
	k := newFakeKind(t, "w1", "w2", "w3")
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r"}
	for _, n := range []string{"w1", "w2", "w3"} {
		if _, err := in.Inject(context.Background(), &NodeShutdown{Docker: k, Client: k.cs, Node: n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	var starts []string
	for _, c := range k.calls {
		if n, ok := strings.CutPrefix(c, "start "); ok {
			starts = append(starts, n)
		}
	}
	if got := strings.Join(starts, ","); got != "w3,w2,w1" {
		t.Fatalf("revert order %s", got)
	}
}

// Schedules of several faults run concurrently against one injector, the
// way a scenario runs them; -race checks the event bookkeeping.
func TestConcurrentSchedules(t *testing.T) {
	app := map[string]string{"app": "web"}
	var objs []runtime.Object
	for i := 0; i < 12; i++ {
		objs = append(objs, pod("d", fmt.Sprintf("web-%02d", i), app, corev1.PodRunning))
	}
	cs := fake.NewSimpleClientset(objs...)
	k := newFakeKind(t, "w1", "w2")
	var mu sync.Mutex
	seen := 0
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: time.Second,
		Observe: func(Event) { mu.Lock(); seen++; mu.Unlock() }}
	origin := time.Now()
	var wg sync.WaitGroup
	for _, s := range []Schedule{
		{Fault: &PodKill{Client: cs, Namespace: "d", Selector: "app=web", Count: 1}, Every: 5 * time.Millisecond, Times: 10},
		{Fault: &NodeShutdown{Docker: k, Client: k.cs, Node: "w1"}, Every: 20 * time.Millisecond, Times: 3, Hold: time.Millisecond},
		{Fault: &NodeShutdown{Docker: k, Client: k.cs, Node: "w2"}, Every: 20 * time.Millisecond, Times: 3, Start: 3 * time.Millisecond},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Run(context.Background(), in, origin); err != nil {
				t.Error(err)
			}
		}()
	}
	// readers while the schedules write
	for i := 0; i < 20; i++ {
		_ = in.Events()
		_ = in.Active()
		time.Sleep(time.Millisecond)
	}
	wg.Wait()
	if err := in.WaitVerified(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := in.Events()
	if len(evs) != 16 || in.Active() != 0 {
		t.Fatalf("%d events, %d active", len(evs), in.Active())
	}
	for _, e := range evs {
		if e.Kind == "node-shutdown" && (!e.TookEffect() || e.Reverted.IsZero()) {
			t.Fatalf("node shutdown %+v", e)
		}
	}
	if !k.running["w1"] || !k.running["w2"] {
		t.Fatal("a node was left stopped")
	}
}

// A joined error is a finding only when all of it is: a real failure
// among refused evictions stays a failure of the tool.
func TestIsFinding(t *testing.T) {
	finding := &FindingError{Err: errors.New("eviction refused by a PodDisruptionBudget")}
	failure := errors.New("docker: Cannot connect to the Docker daemon")
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"a finding", finding, true},
		{"nothing to hit", &NoTargetError{Reason: "no Ready pod"}, true},
		{"wrapped finding", fmt.Errorf("drain w1: %w", finding), true},
		{"plain failure", failure, false},
		{"findings only", errors.Join(finding, &FindingError{Err: errors.New("pod gone")}), true},
		{"a failure among findings", errors.Join(finding, failure), false},
		{"wrapped mix", fmt.Errorf("drain: %w", errors.Join(finding, failure)), false},
	} {
		if got := IsFinding(c.err); got != c.want {
			t.Errorf("%s: IsFinding = %v, want %v", c.name, got, c.want)
		}
	}
}

// slowToShow is a fault whose effect never shows: Verify waits for its
// context.
type slowToShow struct{ panicky }

func (s slowToShow) Plan(context.Context) (Injection, error) { return s, nil }
func (slowToShow) Verify(ctx context.Context) error          { <-ctx.Done(); return ctx.Err() }

// A verification a revert stops is not a verification that timed out: the
// event says which (an abort reverts faults before their effect shows).
func TestInjectorSaysWhenARevertStoppedTheVerification(t *testing.T) {
	reverted := 0
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r", VerifyTimeout: time.Minute}
	id, err := in.Inject(context.Background(), slowToShow{panicky{&reverted}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := in.Revert(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if ok, _ := in.AwaitEffect(context.Background(), id); ok {
		t.Fatal("took effect")
	}
	e := in.Events()[0]
	if !strings.Contains(e.Error, "verification was stopped after") || strings.Contains(e.Error, "within 1m0s") {
		t.Fatalf("error %q", e.Error)
	}
}
