package suites

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/faults"
	"github.com/chaosgate/chaosgate/reports"
)

func validOptions(t *testing.T) GateOptions {
	return GateOptions{
		Cluster:     clusters.UpOptions{Config: clusters.Config{Name: "gate-test"}},
		Workload:    SampleWorkload,
		Namespace:   "chaosgate",
		Suites:      []string{SuiteSelfHealing},
		ReportDir:   filepath.Join(t.TempDir(), "report"),
		JournalDir:  t.TempDir(),
		SelfHealing: DefaultSelfHealing(),
		Progress:    io.Discard,
	}
}

func TestPrepareGateRejectsBadInput(t *testing.T) {
	cases := map[string]func(*GateOptions){
		"--namespace":   func(o *GateOptions) { o.Namespace = "kube-system" },
		"no suite":      func(o *GateOptions) { o.Suites = nil },
		"--rate":        func(o *GateOptions) { o.SelfHealing.Load.Rate = -5 },
		"name":          func(o *GateOptions) { o.Cluster.Name = "UPPER" },
		"--report-dir":  func(o *GateOptions) { o.ReportDir = "" },
		"--load-image":  func(o *GateOptions) { o.LoadImages = []string{""} },
		"--workload":    func(o *GateOptions) { o.Workload = "/nonexistent" },
		"--target-port": func(o *GateOptions) { o.TargetPort = 1234 },
	}
	for want, mod := range cases {
		o := validOptions(t)
		mod(&o)
		_, err := Gate(context.Background(), o)
		var ie *InputError
		if err == nil || !strings.Contains(err.Error(), want) || !errors.As(err, &ie) {
			t.Errorf("%s: err = %v", want, err)
		}
		if _, serr := os.Stat(o.ReportDir); o.ReportDir != "" && serr == nil {
			t.Errorf("%s: report folder written for invalid input", want)
		}
	}
}

// A fault left active by a crashed run must be recovered before a new run:
// the gate stops before touching the cluster and says how.
func TestGateRefusesWhileJournalHoldsFaults(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	o := validOptions(t)
	j := faults.Journal{Dir: o.JournalDir}
	if err := j.Add(faults.Entry{ID: "old-node-stop-1", Kind: "node-stop", Description: "stop 1 worker node(s)", Cluster: "gate-test", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	rep, err := Gate(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Run.Status != reports.StatusError || !strings.Contains(rep.Run.Error, "chaosgate recover") {
		t.Fatalf("run = %+v", rep.Run)
	}
	data, err := os.ReadFile(filepath.Join(o.ReportDir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk reports.Report
	if err := json.Unmarshal(data, &onDisk); err != nil || onDisk.Run.Status != reports.StatusError {
		t.Fatalf("report on disk: %v %+v", err, onDisk.Run)
	}
}
