package suites

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/suites/engine"
	"github.com/chaosgate/chaosgate/suites/workload"
)

func workloadTarget() engine.Target {
	return engine.Target{URL: "http://127.0.0.1:30080/", ServiceURL: "http://web.shop.svc:80/"}
}

// expectErr checks err against want: no error when want is empty, else an
// error that contains it.
func expectErr(t *testing.T, args []string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%v: %v", args, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%v: err = %v, want %q", args, err, want)
	}
}

// paramsFromFlags parses args as the command line does.
func paramsFromFlags(t *testing.T, args ...string) Params {
	t.Helper()
	p := DefaultParams()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	p.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServiceDiscoveryValidation(t *testing.T) {
	w, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{"--discovery-kills", "0", "--discovery-rollout-at", "5s", "--duration", "25s"}, ""},
		{[]string{"--discovery-agents", "0"}, "--discovery-agents 0"},
		{[]string{"--discovery-agents", "51"}, "--discovery-agents 51"},
		{[]string{"--rate", "3", "--discovery-agents", "4"}, "below one request per second per agent"},
		{[]string{"--discovery-kills", "3", "--discovery-kill-interval", "10s"}, "must come before the rollout at 18s"},
		{[]string{"--discovery-kill-interval", "0s"}, "at least 1s apart"},
		{[]string{"--discovery-rollout-at", "45s"}, "must leave at least 20s"},
		{[]string{"--discovery-max-failed", "-1"}, "must not be negative"},
	} {
		p := paramsFromFlags(t, c.args...)
		err := serviceDiscovery.Validate(p, w, func(string) bool { return true })
		expectErr(t, c.args, err, c.want)
	}
}

// The suite's load comes from agents; kills come before the rollout, and
// none at all is a rollout alone.
func TestServiceDiscoveryScenario(t *testing.T) {
	w, err := workload.LoadWorkload("sample", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sc := serviceDiscovery.Scenarios(paramsFromFlags(t), w)[0]
	if sc.Load.Agents != 2 || len(sc.Steps) != 2 || sc.Planned() != 3 {
		t.Fatalf("agents %d, steps %+v", sc.Load.Agents, sc.Steps)
	}
	if k, r := sc.Steps[0], sc.Steps[1]; k.At != 8*time.Second || k.Every != 6*time.Second || r.At != 18*time.Second {
		t.Fatalf("schedule: kills at %s every %s, rollout at %s", k.At, k.Every, r.At)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	opts := sc.LoadOptions(workloadTarget())
	if !opts.InCluster || opts.Target != "http://web.shop.svc:80/" || opts.SpreadSources {
		t.Fatalf("load options %+v", opts)
	}
	sc = serviceDiscovery.Scenarios(paramsFromFlags(t, "--discovery-kills", "0"), w)[0]
	if len(sc.Steps) != 1 || sc.Planned() != 1 {
		t.Fatalf("without kills: %+v", sc.Steps)
	}
	ids := map[string]bool{}
	for _, c := range sc.Checks {
		ids[c.ID] = true
	}
	for _, id := range []string{"failed-requests", "faults-took-effect", "rollout-complete", "load-rate"} {
		if !ids[id] {
			t.Errorf("check %s missing", id)
		}
	}
}
