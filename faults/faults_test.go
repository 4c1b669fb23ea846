package faults

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func pod(ns, name string, lbl map[string]string, phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbl, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "w1"},
		Status:     corev1.PodStatus{Phase: phase},
	}
}

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

func TestPodKillDeletesOnlyRunningMatchingPods(t *testing.T) {
	app := map[string]string{"app": "web"}
	terminating := pod("d", "web-old", app, corev1.PodRunning)
	now := metav1.Now()
	terminating.DeletionTimestamp = &now
	cs := fake.NewSimpleClientset(
		pod("d", "web-a", app, corev1.PodRunning),
		pod("d", "web-b", app, corev1.PodRunning),
		pod("d", "web-pending", app, corev1.PodPending),
		terminating,
		pod("d", "db", map[string]string{"app": "db"}, corev1.PodRunning),
		pod("other", "web-x", app, corev1.PodRunning),
	)
	pk := &PodKill{Client: cs, Namespace: "d", Selector: "app=web", Percent: 100, Rand: rand.New(rand.NewPCG(1, 1))}
	inj, err := pk.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(inj.Targets(), ","); got != "d/web-a@w1,d/web-b@w1" && got != "d/web-b@w1,d/web-a@w1" {
		t.Fatalf("targets = %s", got)
	}
	if err := inj.Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := inj.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	left := strings.Join(podNames(t, cs, "d"), ",")
	if strings.Contains(left, "web-a") || strings.Contains(left, "web-b") || !strings.Contains(left, "db") || !strings.Contains(left, "web-pending") {
		t.Fatalf("pods left: %s", left)
	}
	if got := podNames(t, cs, "other"); len(got) != 1 {
		t.Fatalf("other namespace touched: %v", got)
	}
	// no candidates: a clear error, nothing deleted
	if _, err := (&PodKill{Client: cs, Namespace: "d", Selector: "app=none", Count: 1}).Plan(context.Background()); err == nil {
		t.Fatal("want error when nothing matches")
	}
}

func TestPodKillVerifyTimesOutWhilePodRuns(t *testing.T) {
	cs := fake.NewSimpleClientset(pod("d", "web-a", map[string]string{"app": "web"}, corev1.PodRunning))
	inj := &podKillInjection{client: cs, ns: "d", Pods: []podRef{{Name: "web-a", UID: "uid-web-a"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := inj.Verify(ctx); err == nil {
		t.Fatal("a pod that was never deleted must not verify")
	}
}

// fakeDocker tracks container states.
type fakeDocker struct {
	mu      sync.Mutex
	running map[string]bool
	calls   []string
}

func (f *fakeDocker) Stop(_ context.Context, c string, kill bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+c)
	f.running[c] = false
	return nil
}

func (f *fakeDocker) Start(_ context.Context, c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "start "+c)
	f.running[c] = true
	return nil
}

func (f *fakeDocker) Running(_ context.Context, c string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[c], nil
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
	d := &fakeDocker{running: map[string]bool{"c-worker": true, "c-worker2": true}}
	j := Journal{Dir: t.TempDir()}
	var seen []Event
	in := &Injector{Journal: j, RunID: "r1", Cluster: "c", Observe: func(e Event) { seen = append(seen, e) }}
	ns := &NodeStop{Docker: &journalCheckingDocker{fakeDocker: d, j: j, t: t}, Candidates: []string{"c-worker", "c-worker2"}, Count: 1, Rand: rand.New(rand.NewPCG(3, 3))}
	id, err := in.Inject(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	evs := in.Events()
	if len(evs) != 1 || !evs[0].TookEffect() || evs[0].Issued.After(evs[0].InEffect) {
		t.Fatalf("event = %+v", evs)
	}
	victim := evs[0].Targets[0]
	if d.running[victim] {
		t.Fatal("victim still running")
	}
	// simulate a crash: a new process finds the journal and recovers
	done, err := Journal{Dir: j.Dir}.Recover(context.Background(), Reverters(d))
	if err != nil || len(done) != 1 || done[0].ID != id {
		t.Fatalf("recover = %+v, %v", done, err)
	}
	if !d.running[victim] {
		t.Fatal("recover did not start the node again")
	}
	if left, _ := j.Entries(); len(left) != 0 {
		t.Fatalf("journal not emptied: %v", left)
	}
	// the original process reverting afterwards is harmless (idempotent)
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) < 3 {
		t.Fatalf("observer saw %d updates", len(seen))
	}
}

// journalCheckingDocker fails the test if a node is stopped before the
// journal holds the fault.
type journalCheckingDocker struct {
	*fakeDocker
	j Journal
	t *testing.T
}

func (d *journalCheckingDocker) Stop(ctx context.Context, c string, kill bool) error {
	entries, _ := d.j.Entries()
	if len(entries) != 1 {
		d.t.Errorf("stop before journal entry (entries=%d)", len(entries))
	}
	return d.fakeDocker.Stop(ctx, c, kill)
}

func TestRecoverReportsUnknownKindsAndKeepsThem(t *testing.T) {
	j := Journal{Dir: t.TempDir()}
	_ = j.Add(Entry{ID: "x-1", Kind: "mystery", Created: time.Now()})
	_ = os.WriteFile(filepath.Join(j.Dir, "broken.json"), []byte("{"), 0o644)
	done, err := j.Recover(context.Background(), Reverters(&fakeDocker{running: map[string]bool{}}))
	if len(done) != 0 || err == nil || !strings.Contains(err.Error(), "mystery") || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("done=%v err=%v", done, err)
	}
	if left, _ := j.Entries(); len(left) != 1 {
		t.Fatal("an entry that could not be reverted must stay in the journal")
	}
}

func TestScheduleRunsAndRevertsEachInjection(t *testing.T) {
	d := &fakeDocker{running: map[string]bool{"c-worker": true}}
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r"}
	s := Schedule{Fault: &NodeStop{Docker: d, Candidates: []string{"c-worker"}, Count: 1}, Every: 20 * time.Millisecond, Times: 3, Hold: 5 * time.Millisecond}
	ids, err := s.Run(context.Background(), in)
	if err != nil || len(ids) != 3 {
		t.Fatalf("ids=%v err=%v", ids, err)
	}
	if got := strings.Join(d.calls, ","); got != "stop c-worker,start c-worker,stop c-worker,start c-worker,stop c-worker,start c-worker" {
		t.Fatalf("calls = %s", got)
	}
	for _, e := range in.Events() {
		if e.Reverted.IsZero() || e.Reverted.Before(e.InEffect) {
			t.Fatalf("event %+v", e)
		}
	}
}

func TestScheduleCancelLeavesActiveFaultForRevertAll(t *testing.T) {
	d := &fakeDocker{running: map[string]bool{"c-worker": true}}
	in := &Injector{Journal: Journal{Dir: t.TempDir()}, RunID: "r"}
	ctx, cancel := context.WithCancel(context.Background())
	s := Schedule{Fault: &NodeStop{Docker: d, Candidates: []string{"c-worker"}, Count: 1}, Times: 1, Hold: time.Hour}
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := s.Run(ctx, in)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d.running["c-worker"] {
		t.Fatal("node should still be stopped before RevertAll")
	}
	if err := in.RevertAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !d.running["c-worker"] {
		t.Fatal("RevertAll did not start the node")
	}
	if left, _ := in.Journal.Entries(); len(left) != 0 {
		t.Fatal("journal not emptied")
	}
}

func TestScheduleValidate(t *testing.T) {
	f := &NodeStop{}
	for _, s := range []Schedule{{}, {Fault: f, Times: 0}, {Fault: f, Times: 2}, {Fault: f, Times: 2, Every: time.Second, Hold: time.Second}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v must be invalid", s)
		}
	}
}

func TestNodeStopRefusesControlPlane(t *testing.T) {
	n := &NodeStop{Candidates: []string{"c-control-plane"}, Count: 1}
	if err := n.Validate(); err == nil {
		t.Fatal("control plane must be refused")
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
