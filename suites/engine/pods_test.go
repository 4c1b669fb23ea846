package engine

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosgate/chaosgate/faults"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// history builds a pod history from (seconds, pod, ready, terminating,
// gone) rows with 3 desired replicas from t0.
func history(rows ...change) *PodHistory {
	h := &PodHistory{Desired: []DesiredChange{{At: t0, Desired: 3}}}
	for _, r := range rows {
		h.Pods = append(h.Pods, PodChange{At: at(r.s), PodState: PodState{UID: types.UID(r.pod), Name: r.pod, Node: r.node,
			Ready: r.ready, Terminating: r.term, Gone: r.gone}})
	}
	return h
}

type change struct {
	s                 float64
	pod, node         string
	ready, term, gone bool
}

func serving(s float64, pod, node string) change {
	return change{s: s, pod: pod, node: node, ready: true}
}

func TestRecoveredAt(t *testing.T) {
	base := []change{serving(0, "a", "w1"), serving(0, "b", "w2"), serving(0, "c", "w3")}
	cases := []struct {
		name    string
		rows    []change
		issued  float64
		victims []string
		want    float64 // -1: never
	}{
		{
			name: "replacement ready 2.5s after the kill",
			rows: append(base, change{s: 10.05, pod: "a", node: "w1", ready: true, term: true},
				change{s: 10.1, pod: "d", node: "w1"}, serving(12.5, "d", "w1")),
			issued: 10, victims: []string{"a"}, want: 2.5,
		},
		{
			// the watch shows the victim terminating only after the
			// replacement is ready: still not instant, the victim counts
			// as lost from the kill on
			name: "victim seen going late",
			rows: append(base, change{s: 10.1, pod: "d", node: "w1"}, serving(11, "d", "w1"),
				change{s: 11.5, pod: "a", node: "w1", ready: true, term: true}),
			issued: 10, victims: []string{"a"}, want: 1,
		},
		{
			name:   "replacement crash-loops",
			rows:   append(base, change{s: 10.05, pod: "a", node: "w1", term: true}, change{s: 10.1, pod: "d", node: "w1"}),
			issued: 10, victims: []string{"a"}, want: -1,
		},
		{
			name: "two victims, the second replacement is the last",
			rows: append(base, change{s: 10.1, pod: "e", node: "w2"}, change{s: 10.1, pod: "f", node: "w3"},
				serving(11, "e", "w2"), serving(14, "f", "w3")),
			issued: 10, victims: []string{"b", "c"}, want: 4,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := history(c.rows...)
			v := map[types.UID]bool{}
			for _, p := range c.victims {
				v[types.UID(p)] = true
			}
			got, ok := h.RecoveredAt(at(c.issued), v)
			if c.want < 0 {
				if ok {
					t.Fatalf("recovered at %s, want never", got.Sub(t0))
				}
				return
			}
			if !ok || got.Sub(at(c.issued)) != time.Duration(c.want*float64(time.Second)) {
				t.Fatalf("recovered %v after %s, want %gs", ok, got.Sub(at(c.issued)), c.want)
			}
		})
	}
}

func TestReplicaSeriesAndPodsOn(t *testing.T) {
	h := history(serving(0, "a", "w1"), serving(0, "b", "w2"), serving(0, "c", "w1"),
		change{s: 5, pod: "a", node: "w1", ready: true, term: true}, change{s: 5.1, pod: "d", node: "w2"},
		change{s: 5.2, pod: "a", node: "w1", term: true, gone: true}, serving(7, "d", "w2"))
	got := h.ReplicaSeries()
	want := []ReplicaPoint{{At: at(0), Serving: 3, Desired: 3}, {At: at(5), Serving: 2, Desired: 3}, {At: at(7), Serving: 3, Desired: 3}}
	if len(got) != len(want) {
		t.Fatalf("series %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("point %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if on := h.PodsOn("w1", at(1)); len(on) != 2 {
		t.Fatalf("pods on w1: %v", on)
	}
}

func TestRevisionSeries(t *testing.T) {
	h := history()
	add := func(s float64, pod, rev string, ready, term bool) {
		h.Pods = append(h.Pods, PodChange{At: at(s), PodState: PodState{UID: types.UID(pod), Name: pod, Revision: rev, Ready: ready, Terminating: term}})
	}
	add(0, "a", "old", true, false)
	add(0, "b", "old", true, false)
	add(10, "c", "new", false, false)
	add(12, "c", "new", true, false)
	add(12.1, "a", "old", true, true)
	got := h.RevisionSeries()
	want := []RevisionPoint{{at(0), "old", 2}, {at(10), "new", 0}, {at(12), "new", 1}, {at(12.1), "old", 1}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("point %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// A stopped kubelet or a partition leaves the pods running: the target is
// whole again when they serve after the revert, not "never" for want of
// replacements that their toleration never asked for.
func TestRecoveryOfFaultsThePodsOutlive(t *testing.T) {
	// a on w1 stops being Ready at 30s (NotReady node), Ready again at 52s
	h := history(serving(0, "a", "w1"), serving(0, "b", "w2"), serving(0, "c", "w3"),
		change{s: 30, pod: "a", node: "w1"}, serving(52, "a", "w1"))
	ev := faults.Event{ID: "k", Kind: "kubelet-stop", Issued: at(10), InEffect: at(30), RevertIssued: at(45), Reverted: at(50),
		Targets: []faults.Target{{Kind: "node", Name: "w1"}}}
	rr := recoveries(h, []faults.Event{ev})
	if len(rr) != 1 || !rr[0].Recovered || !rr[0].At.Equal(at(52)) {
		t.Fatalf("kubelet stop: %+v", rr)
	}
	// not reverted yet: not recovered
	ev.RevertIssued, ev.Reverted = time.Time{}, time.Time{}
	if rr := recoveries(h, []faults.Event{ev}); rr[0].Recovered {
		t.Fatalf("recovered before the revert: %+v", rr)
	}
	// a pod kill still excludes its victim
	kill := faults.Event{ID: "p", Kind: "pod-kill", Issued: at(10), InEffect: at(11), Targets: []faults.Target{{Kind: "pod", Name: "a", UID: "a"}}}
	if rr := recoveries(h, []faults.Event{kill}); rr[0].Recovered {
		t.Fatalf("a killed pod cannot count as its own replacement: %+v", rr)
	}
}
