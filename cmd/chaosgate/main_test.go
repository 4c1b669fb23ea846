package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Bad input must exit 2 with a message naming the problem, before any
// cluster, image or fault is touched: the report folder is not even
// created.
func TestRunRejectsBadInput(t *testing.T) {
	// should validation ever miss a case, fail fast instead of reaching a
	// real Docker or cluster from a unit test
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
	bad := writeFile(t, "not-a-folder.yaml", "kind: Deployment\n")
	emptyDir := t.TempDir()
	noService := t.TempDir()
	writeIn(t, noService, "d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n")
	noConfig := t.TempDir()
	writeIn(t, noConfig, "d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n")
	writeIn(t, noConfig, "s.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--suites", "config-rollout", "--workload", noConfig}, "d.yaml:1) reads no ConfigMap of the workload"},
		{[]string{"--suites", "config-rollout", "--config-set", "a/b=1"}, "--config-set a/b=1: not a ConfigMap key"},
		{[]string{"--suites", "config-rollout", "--config-set", "k= v"}, "must not be empty or start or end with a space"},
		{[]string{"--suites", "config-rollout", "--slo-max-config-served", "5m"}, "--slo-max-config-served 5m0s: must be positive and at most 1m2s"},
		{[]string{"--suites", "config-rollout", "--config-map", "nope"}, "--config-map nope: not a ConfigMap of the workload (it declares sampleapp-config)"},
		{[]string{"--suites", "config-rollout", "--config-probe-path", "config"}, "--config-probe-path"},
		{[]string{"--suites", "config-rollout", "--config-set", "novalue"}, "want NAME=VALUE"},
		{[]string{"--suites", "config-rollout", "--config-set", "k="}, "the value must not be empty"},
		{[]string{"--workload", "../../suites/workloads/broken-stale-config", "--suites", "config-rollout"}, "reads 2 ConfigMaps of the workload (sampleapp-config, sampleapp-config-previous): name one with --config-map"},
		{[]string{"--rate", "0"}, "--rate 0"},
		{[]string{"--duration", "5s"}, "--duration 5s"},
		{[]string{"--kill-count", "2", "--kill-percent", "50"}, "set exactly one"},
		{[]string{"--kills", "20"}, "the last kill"},
		{[]string{"--slo-availability", "120"}, "--slo-availability"},
		{[]string{"--suites", "chaos-monkey"}, `unknown suite "chaos-monkey"`},
		{[]string{"--label-filter", "suite:self-healing &&"}, "--label-filter"},
		{[]string{"--path", "nope"}, "--path"},
		{[]string{"--kill-count", "5"}, "has only 3 replica(s)"},
		{[]string{"--method", "BREW"}, "--method"},
		{[]string{"--ports", "30099-30080"}, "--ports"},
		{[]string{"--workers", "0"}, "--workers 0"},
		{[]string{"--namespace", "kube-system"}, "--namespace"},
		{[]string{"--workload", "/does/not/exist"}, "no such file"},
		{[]string{"--workload", bad}, "must be a folder"},
		{[]string{"--workload", emptyDir}, "no .yaml"},
		{[]string{"--workload", noService}, "no Service"},
		{[]string{"--workload", "../../suites/workloads/sample", "--target-port", "9999"}, "no port 9999"},
		{[]string{"--load-image", "two words"}, "--load-image"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"extra-arg"}, "unexpected arguments"},
	}
	for _, c := range cases {
		reportDir := filepath.Join(t.TempDir(), "report")
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"run", "--report-dir", reportDir}, c.args...), &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2\n%s", c.args, code, stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: message %q lacks %q", c.args, stderr.String(), c.want)
		}
		if _, err := os.Stat(reportDir); err == nil {
			t.Errorf("%v: report folder created although input was invalid", c.args)
		}
	}
}

// runChild runs the command in a child process (the test binary itself):
// Ginkgo allows one spec tree per process, and --list builds one.
func runChild(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), "CHAOSGATE_CHILD_ARGS="+strings.Join(args, "\x1f"),
		"DOCKER_HOST=unix:///nonexistent/docker.sock", "KUBECONFIG=/nonexistent/kubeconfig")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestChildProcess is the child of runChild.
func TestChildProcess(t *testing.T) {
	args := os.Getenv("CHAOSGATE_CHILD_ARGS")
	if args == "" {
		t.Skip("only runs as the child of runChild")
	}
	os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
}

// --list walks the spec tree as a Ginkgo dry run: no cluster, no Docker.
func TestRunListNeedsNoCluster(t *testing.T) {
	code, out, errOut := runChild(t, "run", "--list", "--label-filter", "!check:latency-p99")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"self-healing — self-healing under pod kills", "suite:self-healing, scenario:self-healing, disruptive, fault:pod-kill",
		"• keeps availability at or above 99.5% [check:availability]", "  keeps p99 latency of successful requests within 500ms [check:latency-p99]",
		"node-failure — node failure", "• replaces the lost pods elsewhere within the time its tolerations allow [check:replacement-ready]",
		"drain — drain:", "kubelet-stop —", "network-partition —", "container-kill —", "check(s) selected (• above) by (!check:latency-p99)",
		"config-rollout — configuration rollout under load", "• serves the changed configuration from every pod within 1m0s of the change [check:config-served]"} {
		if !strings.Contains(out, want) {
			t.Errorf("--list output lacks %q:\n%s", want, out)
		}
	}
}

// Under "all", a suite the workload gives nothing to test is skipped, with
// the reason, rather than failed.
func TestRunListSkipsWhatTheWorkloadCannotTest(t *testing.T) {
	dir := t.TempDir()
	writeIn(t, dir, "d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: c, image: x}]}\n")
	writeIn(t, dir, "s.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n")
	code, out, errOut := runChild(t, "run", "--list", "--workload", dir)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "config-rollout — skipped: the target Deployment web (") || !strings.Contains(out, "d.yaml:1) reads no ConfigMap of the workload") {
		t.Errorf("--list does not say why config-rollout is skipped:\n%s", out)
	}
	if strings.Contains(out, "[check:config-served]") {
		t.Errorf("--list lists the checks of a skipped suite:\n%s", out)
	}
}

// A label filter that selects no check is bad input, found before
// anything is touched.
func TestRunRefusesAFilterThatSelectsNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	code, _, errOut := runChild(t, "run", "--report-dir", dir, "--label-filter", "suite:nope")
	if code != exitUsage || !strings.Contains(errOut, "select no check") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("report folder created for bad input")
	}
}

// A --run-timeout the selected scenarios cannot fit is refused up front.
func TestRunRefusesATimeoutTooShort(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "report")
	code, _, errOut := runChild(t, "run", "--report-dir", dir, "--run-timeout", "5m")
	if code != exitUsage || !strings.Contains(errOut, "--run-timeout 5m0s cannot fit the selected scenarios") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestUsageAndUnknownCommands(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(nil, &out, &errb); code != exitUsage || !strings.Contains(out.String(), "Usage") {
		t.Fatalf("no args: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != exitUsage {
		t.Fatalf("unknown command: %d", code)
	}
	if code := run([]string{"cluster", "up", "--workers", "11"}, &out, &errb); code != exitUsage {
		t.Fatalf("cluster up --workers 11: %d", code)
	}
	if code := run([]string{"image"}, &out, &errb); code != exitUsage {
		t.Fatalf("image: %d", code)
	}
}

func TestRecoverWithEmptyJournal(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"recover", "--journal", t.TempDir()}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "No active faults") {
		t.Fatalf("recover: %d %q %q", code, out.String(), errb.String())
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	return writeIn(t, t.TempDir(), name, content)
}

func writeIn(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlanValidate(t *testing.T) {
	var out, errb bytes.Buffer
	good := filepath.Join("..", "..", "suites", "plan", "examples", "pod-kill.yaml")
	if code := run([]string{"plan", "validate", good}, &out, &errb); code != exitOK || !strings.Contains(out.String(), "valid: pod-kills") {
		t.Fatalf("good plan: %d %q %q", code, out.String(), errb.String())
	}
	bad := writeFile(t, "bad.yaml", "apiVersion: chaosgate.dev/v1alpha1\nkind: GameDay\nname: x\nlaod: {}\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"plan", "validate", good, bad}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), bad+":4:1: laod: unknown field") {
		t.Fatalf("bad plan: %d %q", code, errb.String())
	}
	if code := run([]string{"plan"}, &out, &errb); code != exitUsage {
		t.Fatalf("no subcommand: %d", code)
	}
}

// openPTY opens a pseudo-terminal pair: what a user's terminal gives the
// process (the replica end) and what the terminal reads (the primary).
func openPTY(t *testing.T) (primary, replica *os.File) {
	t.Helper()
	primary, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { primary.Close() })
	fd := int(primary.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	replica, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Close() })
	return primary, replica
}

// A terminal gets the panel, and logs go through it; a pipe, a file or
// --plain get plain lines.
func TestLiveOutputDrawsAPanelOnlyOnATerminal(t *testing.T) {
	_, tty := openPTY(t)
	t.Setenv("TERM", "xterm")
	before := slog.Default()
	t.Cleanup(func() { slog.SetDefault(before) })
	progress, logger, display := liveOutput(tty, false)
	if display == nil || progress == io.Writer(tty) {
		t.Fatal("a terminal should get the panel")
	}
	if logger == before || slog.Default() != logger {
		t.Error("every log should go through the panel, above it")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]io.Writer{"a pipe": w, "a buffer": &bytes.Buffer{}} {
		if progress, _, display := liveOutput(out, false); display != nil || progress != out {
			t.Errorf("%s should get plain lines", name)
		}
	}
	if _, _, display := liveOutput(tty, true); display != nil {
		t.Error("--plain should get plain lines on a terminal too")
	}
	t.Setenv("TERM", "dumb")
	if _, _, display := liveOutput(tty, false); display != nil {
		t.Error("TERM=dumb cannot move the cursor: plain lines")
	}
}
