package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/load"
)

// nodeFailureRun builds a 120s run at 100 req/s: worker w1 (pod a) shuts
// down at 10s and is NotReady at 55s; the API drops a from the Service at
// 55.5s; requests routed to a fail (one in three) until 56.5s; afterwards
// failAfter more fail in a row from 60s. The pod is evicted at 75s and
// its replacement serves at replacedAt (0: never). The node is restarted
// at 100s and Ready at 104s.
func nodeFailureRun(failAfter int, replacedAt float64) *Observation {
	tl := load.NewTimeline(t0)
	failing := 0
	for i := 0; i < 12000; i++ {
		ms := i * 10
		sec := float64(ms) / 1000
		code := uint16(200)
		switch {
		case sec >= 10 && sec < 56.5 && i%3 == 0:
			code = 0
		case sec >= 60 && failing < failAfter:
			code, failing = 0, failing+1
		}
		msg := ""
		if code == 0 {
			msg = "timeout"
		}
		tl.Add(t0.Add(time.Duration(ms)*time.Millisecond), 2*time.Millisecond, code, msg)
	}
	rows := []change{serving(-1, "a", "w1"), serving(-1, "b", "w2"), serving(-1, "c", "w3"),
		{s: 55.2, pod: "a", node: "w1"}, {s: 75, pod: "a", node: "w1", term: true}, {s: 75.1, pod: "d", node: "w2"}}
	if replacedAt > 0 {
		rows = append(rows, serving(replacedAt, "d", "w2"))
	}
	h := history(rows...)
	h.Desired[0].At = at(-1)
	ev := faults.Event{ID: "n1", Kind: "node-shutdown", Issued: at(10), InEffect: at(55), RevertIssued: at(100), Reverted: at(104),
		Targets: []faults.Target{{Kind: "node", Name: "w1"}, {Kind: "pod", Name: "a", UID: "a", Node: "w1"}}}
	eps := []EndpointChange{{At: at(-1), Pod: "a", Ready: true}, {At: at(-1), Pod: "b", Ready: true}, {At: at(-1), Pod: "c", Ready: true},
		{At: at(55.5), Pod: types.UID("a"), Ready: false}}
	obs := &Observation{Origin: t0, End: at(120), Timeline: tl, TargetRate: 100, Planned: 1, Faults: []faults.Event{ev}, Pods: h, Endpoints: eps}
	obs.Summary = tl.Summarize()
	obs.Recoveries = recoveries(h, obs.Faults)
	return obs
}

func nodeChecks(tol time.Duration) []Check {
	return []Check{NodeNotReadyWithin(70 * time.Second), EndpointsRemovedWithin(20 * time.Second), AvailabilityAfterEndpointsMoved(99.5),
		ReplacementsReadyWithin(tol, 30*time.Second), NodeRejoinWithin(60 * time.Second)}
}

func TestNodeChecksOnAHealthyRun(t *testing.T) {
	got := evalAll(nodeFailureRun(0, 78), nodeChecks(20*time.Second)...)
	want := map[string]float64{CheckNodeNotReady: 45, CheckEndpointsRemoved: 1.5, CheckAvailabilityAfter: 100, CheckReplacementReady: 68, CheckNodeRejoin: 4}
	for id, v := range want {
		c := got[id]
		if !c.Passed || c.Measured == nil || *c.Measured < v-0.02 || *c.Measured > v+0.02 {
			t.Errorf("%s: %s, want %g", id, c.Message(), v)
		}
	}
	if got[CheckNodeNotReady].Scope != "cluster" || got[CheckAvailabilityAfter].Scope != "" {
		t.Fatal("detection is the cluster's business, availability afterwards the workload's")
	}
	if !strings.Contains(got[CheckReplacementReady].Detail, "evicted 20.0s after NotReady") {
		t.Fatalf("detail: %s", got[CheckReplacementReady].Detail)
	}
}

func TestNodeChecksFailWhatTheyMust(t *testing.T) {
	// nothing serves after the endpoints moved for 5s: the workload's fault
	got := evalAll(nodeFailureRun(500, 0), nodeChecks(20*time.Second)...)
	if c := got[CheckAvailabilityAfter]; c.Passed || *c.Measured > 99 {
		t.Fatalf("availability after: %s", c.Message())
	}
	if c := got[CheckReplacementReady]; c.Passed || c.MeasuredValue() != "never" {
		t.Fatalf("replacement: %s", c.Message())
	}
	// the failures right after the API change are the proxies catching up,
	// at most ProxyLag; the cluster's detection still passes
	if c := got[CheckEndpointsRemoved]; !c.Passed || *c.Measured > 6.5 {
		t.Fatalf("endpoints: %s", c.Message())
	}
	// the default 300s toleration reaches past a 120s run: not judged
	got = evalAll(nodeFailureRun(0, 0), ReplacementsReadyWithin(300*time.Second, 30*time.Second))
	if c := got[CheckReplacementReady]; !c.Skipped || !strings.Contains(c.Detail, "eviction would come at 355s") {
		t.Fatalf("300s toleration: %s", c.Message())
	}
	// pods that tolerate the loss for ever are never replaced
	got = evalAll(nodeFailureRun(0, 0), ReplacementsReadyWithin(math.MaxInt64, 30*time.Second))
	if c := got[CheckReplacementReady]; !c.Skipped || !strings.Contains(c.Detail, "for ever") {
		t.Fatalf("infinite toleration: %s", c.Message())
	}
	// replicas that can only run on the lost node (a required affinity
	// keeps them together) come back when it does, within the bound: that
	// is no replacement elsewhere
	o := nodeFailureRun(0, 0)
	o.Pods.Pods = append(o.Pods.Pods, PodChange{At: at(102), PodState: PodState{UID: "d", Name: "d", Node: "w1", Ready: true}})
	if c := evalAll(o, ReplacementsReadyWithin(20*time.Second, 30*time.Second))[CheckReplacementReady]; c.Passed || c.MeasuredValue() != "never elsewhere" ||
		!strings.Contains(c.Detail, "only with pods on w1 once it was restarted (at 90.0s)") {
		t.Fatalf("back only with the node: %s", c.Message())
	}
	// a run that ended early, right after the replacement and the node's
	// return, is judged: the 300s toleration run above is not
	o = nodeFailureRun(0, 78)
	o.Faults[0].RevertIssued, o.Faults[0].Reverted, o.End = at(79), at(83), at(88)
	if c := evalAll(o, ReplacementsReadyWithin(20*time.Second, 30*time.Second))[CheckReplacementReady]; !c.Passed || c.Skipped || *c.Measured != 68 {
		t.Fatalf("early end after the replacement: %s", c.Message())
	}
	// pods back only with the node, the run ending soon after (it ends
	// early once the target is whole): still never elsewhere
	o = nodeFailureRun(0, 0)
	o.Pods.Pods = append(o.Pods.Pods, PodChange{At: at(102), PodState: PodState{UID: "d", Name: "d", Node: "w1", Ready: true}})
	o.End = at(104)
	if c := evalAll(o, ReplacementsReadyWithin(20*time.Second, 30*time.Second))[CheckReplacementReady]; c.Passed || c.MeasuredValue() != "never elsewhere" {
		t.Fatalf("back only with the node, short run: %s", c.Message())
	}
	// an early end right after the node's return with nothing serving
	// again is a run too short to see a replacement: not judged
	o = nodeFailureRun(0, 0)
	o.Faults[0].RevertIssued, o.Faults[0].Reverted, o.End = at(79), at(83), at(88)
	if c := evalAll(o, ReplacementsReadyWithin(20*time.Second, 30*time.Second))[CheckReplacementReady]; !c.Skipped || !strings.Contains(c.Detail, "after this run's end") {
		t.Fatalf("short run, never replaced: %s", c.Message())
	}
	// a node back before the eviction brings the same pods back
	o = nodeFailureRun(0, 78)
	o.Faults[0].RevertIssued = at(60)
	if c := evalAll(o, ReplacementsReadyWithin(20*time.Second, 30*time.Second))[CheckReplacementReady]; !c.Skipped || !strings.Contains(c.Detail, "before the pods' eviction") {
		t.Fatalf("node back before eviction: %s", c.Message())
	}
	// no target pod on the lost node: nothing had to move
	o = nodeFailureRun(0, 78)
	o.Faults[0].Targets = []faults.Target{{Kind: "node", Name: "w9"}}
	got = evalAll(o, EndpointsRemovedWithin(20*time.Second), AvailabilityAfterEndpointsMoved(99.5), ReplacementsReadyWithin(20*time.Second, 30*time.Second))
	if !got[CheckEndpointsRemoved].Skipped || !got[CheckAvailabilityAfter].Skipped || !got[CheckReplacementReady].Skipped {
		t.Fatalf("no victims: %+v", got)
	}
	// a node that never went NotReady
	o = nodeFailureRun(0, 78)
	o.Faults[0].InEffect, o.Faults[0].Stage, o.Faults[0].Error = time.Time{}, faults.StageVerify, "not observed in effect"
	if c := evalAll(o, NodeNotReadyWithin(70*time.Second))[CheckNodeNotReady]; c.Passed || c.MeasuredValue() != "never" {
		t.Fatalf("never NotReady: %s", c.Message())
	}
	// slow rejoin
	o = nodeFailureRun(0, 78)
	o.Faults[0].Reverted = at(190)
	if c := evalAll(o, NodeRejoinWithin(60*time.Second))[CheckNodeRejoin]; c.Passed || *c.Measured != 90 {
		t.Fatalf("rejoin: %s", c.Message())
	}
}

func TestBudgetAndFailedRequests(t *testing.T) {
	o := observation([][2]int{{10000, 10050}}, []float64{10}, 2*time.Second)
	got := evalAll(o, FailedRequestsAtMost(0))
	if c := got[CheckFailedRequests]; c.Passed || *c.Measured != 5 {
		t.Fatalf("failed requests: %s", c.Message())
	}
	if c := BudgetRespected(3, "web", true).Eval(o); c.Passed || *c.Measured != 2 {
		t.Fatalf("budget 3: %s", c.Message())
	}
	if c := BudgetRespected(2, "web", true).Eval(o); !c.Passed {
		t.Fatalf("budget 2: %s", c.Message())
	}
	if c := BudgetRespected(3, "typo", false).Eval(o); c.Passed || !strings.Contains(c.Detail, "protects nothing") {
		t.Fatalf("budget selecting nothing: %s", c.Message())
	}
	if c := BudgetRespected(0, "", false).Eval(o); !c.Skipped {
		t.Fatalf("no budget: %s", c.Message())
	}
}

func TestEndpointsGone(t *testing.T) {
	ch := []EndpointChange{{At: at(0), Pod: "a", Ready: true}, {At: at(0), Pod: "b", Ready: true}, {At: at(5), Pod: "a", Ready: false},
		{At: at(7), Pod: "b", Ready: false}, {At: at(9), Pod: "a", Ready: true}}
	cases := []struct {
		pods []types.UID
		from float64
		want float64
	}{
		{[]types.UID{"a"}, 1, 5}, {[]types.UID{"a", "b"}, 1, 7}, {[]types.UID{"a"}, 6, 6}, {[]types.UID{"c"}, 1, 1},
	}
	for _, c := range cases {
		set := map[types.UID]bool{}
		for _, p := range c.pods {
			set[p] = true
		}
		got, ok := EndpointsGone(ch, set, at(c.from))
		if !ok || !got.Equal(at(c.want)) {
			t.Errorf("%v from %g: %v %v, want %g", c.pods, c.from, got.Sub(t0), ok, c.want)
		}
	}
	if _, ok := EndpointsGone(ch[:2], map[types.UID]bool{"a": true}, at(1)); ok {
		t.Fatal("a ready endpoint is not gone")
	}
}
