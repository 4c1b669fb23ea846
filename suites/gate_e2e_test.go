//go:build e2e

package suites_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"

	"github.com/chaosgate/chaosgate/clusters"
	"github.com/chaosgate/chaosgate/suites"
)

// The gate's specs run under `go test` too, with Ginkgo's own flags
// (-ginkgo.label-filter, -ginkgo.v, -ginkgo.junit-report, ...) and the
// gate's parameters as -chaosgate.NAME (-chaosgate.duration=30s,
// -chaosgate.kills=2, ...), e.g.
//
//	go test -tags e2e ./suites/ -run TestSpecs -ginkgo.v -ginkgo.label-filter='check:availability' -chaosgate.duration=30s
var (
	params    = suites.DefaultParams()
	workloadF = flag.String("chaosgate.workload", "sample", "workload folder, sample or bundled:NAME")
	cluster   = flag.String("chaosgate.name", clusters.DefaultName, "kind cluster name")
	namespace = flag.String("chaosgate.namespace", "chaosgate-gotest", "namespace for the workload")
	reportDir = flag.String("chaosgate.report-dir", "", "report folder (default: a temporary one)")
)

func init() {
	fs := flag.NewFlagSet("chaosgate", flag.ContinueOnError)
	params.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) { flag.Var(f.Value, "chaosgate."+f.Name, f.Usage) })
}

func TestSpecs(t *testing.T) {
	dir := *reportDir
	if dir == "" {
		dir = t.TempDir()
	}
	src, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	suiteConfig, reporterConfig := GinkgoConfiguration()
	reg, err := suites.Register(context.Background(), suites.Options{
		Cluster:  clusters.UpOptions{Config: clusters.Config{Name: *cluster}, Progress: os.Stderr},
		Workload: *workloadF, Namespace: *namespace, ReportDir: dir, SourceDir: src, Params: params, Progress: os.Stderr,
		// only what -ginkgo.label-filter selects is validated
		LabelFilter: suiteConfig.LabelFilter,
	})
	if err != nil {
		t.Fatal(err)
	}
	RunSpecs(t, "chaosgate resilience gate (go test)", suiteConfig, reporterConfig)
	res := reg.Result()
	t.Logf("verdict: exit %d, %s; report in %s", res.Verdict.Code, res.Verdict.Status, dir)
}
