//go:build e2e

package suites_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/chaosgate/chaosgate/reports"
)

// The gate is exercised as users run it: the chaosgate binary, its exit
// code and its report folder. A gate is only as good as its sensitivity, so
// the same suite must fail against deliberately broken variants of the
// sample workload and pass against the healthy one.
func TestGate(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "chaosgate gate")
}

var bin string

var _ = BeforeSuite(func() {
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		Fail("Docker is not usable, so the gate's end-to-end specs cannot run: " + strings.TrimSpace(string(out)) +
			"\nStart it with clusters/scripts/ensure-docker.sh (make test does).")
	}
	bin = filepath.Join(GinkgoT().TempDir(), "chaosgate")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/chaosgate").CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
})

type gateResult struct {
	code   int
	output string
	report reports.Report
	dir    string
}

func runGate(args ...string) gateResult {
	dir := filepath.Join(GinkgoT().TempDir(), "report")
	cmd := exec.Command(bin, append([]string{"run", "--report-dir", dir}, args...)...)
	cmd.Dir = ".." // the repository root, where the sample app's source is
	out, err := cmd.CombinedOutput()
	GinkgoWriter.Write(out)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	r := gateResult{code: code, output: string(out), dir: dir}
	if data, err := os.ReadFile(filepath.Join(dir, "report.json")); err == nil {
		Expect(json.Unmarshal(data, &r.report)).To(Succeed())
	}
	return r
}

func check(r reports.Report, id string) reports.Check {
	for _, s := range r.Scenarios {
		for _, c := range s.Checks {
			if c.ID == id {
				return c
			}
		}
	}
	Fail("no check " + id)
	return reports.Check{}
}

var _ = Describe("chaosgate run", Label("e2e", "gate"), Ordered, func() {
	It("rejects bad input with exit 2 before touching the cluster", func() {
		for _, args := range [][]string{
			{"--workload", "/does/not/exist"},
			{"--rate", "0"},
			{"--suites", "nope"},
			{"--kill-count", "1", "--kill-percent", "50"},
			{"--ports", "80-90"},
			{"--workload", "suites/workloads/sample", "--target-service", "missing"},
		} {
			r := runGate(args...)
			Expect(r.code).To(Equal(2), "args %v: %s", args, r.output)
			Expect(r.output).To(ContainSubstring("Nothing was deployed or injected"), "args %v", args)
		}
	})

	It("passes the healthy sample workload and writes the report folder", func() {
		r := runGate()
		Expect(r.code).To(Equal(0), r.output)
		Expect(r.report.Run.Status).To(Equal(reports.StatusPassed))
		for _, f := range []string{"report.json", "junit.xml", "summary.md", "events.jsonl", "results-self-healing.jsonl"} {
			st, err := os.Stat(filepath.Join(r.dir, f))
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Size()).To(BeNumerically(">", 0), f)
		}
		sc := r.report.Scenarios[0]
		Expect(sc.Faults).To(HaveLen(5))
		Expect(sc.Recoveries).To(HaveLen(5))
		// one JUnit test case per SLO check
		data, err := os.ReadFile(filepath.Join(r.dir, "junit.xml"))
		Expect(err).NotTo(HaveOccurred())
		var ju struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		}
		Expect(xml.Unmarshal(data, &ju)).To(Succeed())
		Expect(ju.Tests).To(Equal(len(sc.Checks)))
		Expect(ju.Failures).To(Equal(0))
		AddReportEntry("healthy sample", r.output[strings.LastIndex(r.output, "Report:"):])
	})

	It("fails a single-replica variant on availability (exit 1)", func() {
		r := runGate("--workload", "suites/workloads/broken-single-replica")
		Expect(r.code).To(Equal(1), r.output)
		Expect(r.report.Run.Status).To(Equal(reports.StatusFailed))
		Expect(check(r.report, "availability").Passed).To(BeFalse())
		Expect(r.output).To(ContainSubstring("FAILED: SLO breached: self-healing: availability"))
	})

	It("fails a variant without readiness probe, slow start and no graceful shutdown (exit 1)", func() {
		r := runGate("--workload", "suites/workloads/broken-no-readiness")
		Expect(r.code).To(Equal(1), r.output)
		Expect(check(r.report, "availability").Passed).To(BeFalse())
		Expect(r.output).To(ContainSubstring("FAILED: SLO breached: self-healing: availability"))
	})
})
