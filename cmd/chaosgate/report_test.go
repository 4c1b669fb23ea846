package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const runsDir = "../../reports/testdata/runs"

// copyRun copies a sample run folder so the command may write into it.
func copyRun(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(runsDir, name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReportRender(t *testing.T) {
	a, b := copyRun(t, "self-healing-pass"), copyRun(t, "drain-pdb-blocked")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"report", "render", a, b}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, dir := range []string{a, b} {
		for _, f := range []string{"report.html", "summary.md"} {
			p := filepath.Join(dir, f)
			if st, err := os.Stat(p); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", p, err)
			}
			if !strings.Contains(stdout.String(), "wrote "+p) {
				t.Errorf("output does not name %s:\n%s", p, stdout.String())
			}
		}
	}
}

// Bad input exits 2 and names the file or folder at fault.
func TestReportBadInput(t *testing.T) {
	empty := t.TempDir()
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "report.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := copyRun(t, "self-healing-pass")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "Usage"},
		{[]string{"report", "publish"}, `unknown command "publish"`},
		{[]string{"report", "render"}, "no run folder"},
		{[]string{"report", "render", "/does/not/exist"}, "/does/not/exist: report folder"},
		{[]string{"report", "render", empty}, filepath.Join(empty, "report.json") + ": missing"},
		{[]string{"report", "render", broken}, filepath.Join(broken, "report.json") + ": not a chaosgate report"},
		{[]string{"report", "trend"}, "no run folder"},
		{[]string{"report", "trend", good, "/does/not/exist"}, "/does/not/exist"},
		{[]string{"report", "trend", "--max-p99-increase", "lots", good}, "want a percentage"},
		{[]string{"report", "trend", "--max-availability-drop", "-1", good}, "want percentage points"},
		{[]string{"report", "trend", "--max-failed-checks-increase", "-1", good}, "must not be negative"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", c.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: message %q lacks %q", c.args, stderr.String(), c.want)
		}
	}
}

func TestReportTrend(t *testing.T) {
	// oldest to newest: two node-failure passes, then the colocated variant
	// that fails; the self-healing run has its own baseline
	pass, fail, sh := copyRun(t, "node-failure-pass"), copyRun(t, "node-failure-colocated-fail"), copyRun(t, "self-healing-pass")
	out := filepath.Join(t.TempDir(), "trend.html")
	cases := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--out", out, sh, pass, fail}, exitOK, []string{"REGRESSED: 20261126-192215", "node-failure: availability 19.300%", "node-failure: 2 failed check(s)"}},
		{[]string{"--out", out, "--fail-on-regression", sh, pass, fail}, exitSLO, []string{"REGRESSED", "p99 1031.9ms, median of 1 earlier run(s) 151.8ms"}},
		// given in any order: runs are sorted by start time
		{[]string{"--out", out, "--fail-on-regression", fail, pass, sh}, exitSLO, []string{"REGRESSED: 20261126-192215"}},
		{[]string{"--out", out, "--fail-on-regression", sh, pass}, exitOK, []string{"no regression: 20261126-191925"}},
		{[]string{"--out", out, "--fail-on-regression", "--max-availability-drop", "100", "--max-p99-increase", "1000%", "--max-recovery-increase", "100", "--max-failed-checks-increase", "2", pass, fail}, exitOK, []string{"no regression"}},
		{[]string{"--out", out, "--fail-on-regression", fail}, exitOK, []string{"one run: nothing earlier to compare with"}},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"report", "trend"}, c.args...), &stdout, &stderr)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", c.args, code, c.code, stdout.String(), stderr.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", c.args, w, stdout.String())
			}
		}
		page, err := os.ReadFile(out)
		if err != nil || !bytes.Contains(page, []byte("chaosgate trend")) {
			t.Errorf("%v: trend page: %v", c.args, err)
		}
	}
}

func TestReportTrendUnwritable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"report", "trend", "--out", "/does/not/exist/trend.html", copyRun(t, "self-healing-pass")}, &stdout, &stderr)
	if code != exitInfra || !strings.Contains(stderr.String(), "/does/not/exist/trend.html") {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
}

func TestPercentFlags(t *testing.T) {
	var p percent
	for in, want := range map[string]float64{"20%": 0.2, "20": 0.2, " 7.5% ": 0.075, "0": 0} {
		if err := p.Set(in); err != nil || float64(p) != want {
			t.Errorf("percent %q: %v %v", in, float64(p), err)
		}
	}
	var pt points
	if err := pt.Set("0.1"); err != nil || float64(pt) != 0.1 {
		t.Errorf("points: %v %v", float64(pt), err)
	}
	if p.Set("-5%") == nil || pt.Set("x") == nil {
		t.Error("bad values accepted")
	}
}
