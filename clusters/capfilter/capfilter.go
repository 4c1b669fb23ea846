// Package capfilter removes Linux capabilities that the host cannot grant
// from OCI runtime specs before runc sees them.
//
// Some sandboxes (Firecracker VMs, nested containers) run root without every
// capability in its bounding set. Docker's --privileged asks runc for all
// capabilities it knows, and runc then fails with "unable to apply caps:
// operation not permitted". kind runs every node privileged, so on such hosts
// a runtime wrapper that drops the unavailable capabilities is needed.
package capfilter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// capNames lists capability names by number, as in linux/capability.h.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// Set is a set of capability numbers, as the kernel reports them in
// /proc/<pid>/status.
type Set uint64

// Has reports whether the named capability (e.g. "CAP_SYS_ADMIN") is in s.
// Names the table does not know are reported as present, so the wrapper never
// removes what it does not understand.
func (s Set) Has(name string) bool {
	for i, n := range capNames {
		if n == name {
			return s&(1<<uint(i)) != 0
		}
	}
	return true
}

// Missing returns the known capabilities that are not in s, by name.
func (s Set) Missing() []string {
	var out []string
	for i, n := range capNames {
		if s&(1<<uint(i)) == 0 {
			out = append(out, n)
		}
	}
	return out
}

// Complete reports whether s holds every capability this package knows.
func (s Set) Complete() bool {
	return bits.OnesCount64(uint64(s)&(1<<uint(len(capNames))-1)) == len(capNames)
}

// ParseStatus reads the CapBnd line of a /proc/<pid>/status file.
func ParseStatus(r io.Reader) (Set, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CapBnd %q: %w", line, err)
		}
		return Set(v), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no CapBnd line in status")
}

// BoundingSet returns the bounding set of the calling process.
func BoundingSet() (Set, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return ParseStatus(f)
}

// capKinds are the capability lists of an OCI process spec.
var capKinds = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// FilterProcess rewrites the "capabilities" object of an OCI process spec
// (a JSON object) so that it holds only capabilities in allowed. All other
// fields are kept byte for byte. changed reports whether anything was removed.
func FilterProcess(process []byte, allowed Set) (out []byte, changed bool, err error) {
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(process, &proc); err != nil {
		return nil, false, fmt.Errorf("decode process spec: %w", err)
	}
	raw, ok := proc["capabilities"]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return process, false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, false, fmt.Errorf("decode capabilities: %w", err)
	}
	for _, kind := range capKinds {
		listRaw, ok := caps[kind]
		if !ok {
			continue
		}
		var list []string
		if err := json.Unmarshal(listRaw, &list); err != nil {
			return nil, false, fmt.Errorf("decode capabilities.%s: %w", kind, err)
		}
		kept := make([]string, 0, len(list))
		for _, c := range list {
			if allowed.Has(c) {
				kept = append(kept, c)
			}
		}
		if len(kept) == len(list) {
			continue
		}
		changed = true
		if caps[kind], err = json.Marshal(kept); err != nil {
			return nil, false, err
		}
	}
	if !changed {
		return process, false, nil
	}
	if proc["capabilities"], err = json.Marshal(caps); err != nil {
		return nil, false, err
	}
	out, err = json.Marshal(proc)
	return out, true, err
}

// FilterConfig does what FilterProcess does for a whole OCI bundle config
// (config.json), whose process spec sits under "process".
func FilterConfig(config []byte, allowed Set) ([]byte, bool, error) {
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(config, &cfg); err != nil {
		return nil, false, fmt.Errorf("decode bundle config: %w", err)
	}
	proc, ok := cfg["process"]
	if !ok {
		return config, false, nil
	}
	newProc, changed, err := FilterProcess(proc, allowed)
	if err != nil || !changed {
		return config, false, err
	}
	cfg["process"] = newProc
	out, err := json.Marshal(cfg)
	return out, true, err
}

// runcGlobalValueFlags are runc's global flags that take a separate value.
var runcGlobalValueFlags = map[string]bool{
	"--root": true, "--log": true, "--log-format": true, "--criu": true,
}

// Target says which spec file a runc invocation reads capabilities from.
type Target struct {
	// Path is the file to rewrite; empty when the command needs nothing.
	Path string
	// Process is true when Path holds a bare process spec (runc exec
	// --process), false for a bundle's config.json.
	Process bool
}

// TargetFor finds the spec file a runc command line will read. cwd is the
// directory runc runs in (the default bundle).
func TargetFor(args []string, cwd string) Target {
	cmd, rest := splitCommand(args)
	switch cmd {
	case "create", "run":
		bundle := flagValue(rest, "--bundle", "-b")
		if bundle == "" {
			bundle = cwd
		}
		return Target{Path: filepath.Join(bundle, "config.json")}
	case "exec":
		if p := flagValue(rest, "--process", "-p"); p != "" {
			return Target{Path: p, Process: true}
		}
	}
	return Target{}
}

// splitCommand skips runc's global flags and returns the subcommand and the
// arguments after it.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		if !strings.Contains(a, "=") && runcGlobalValueFlags[a] {
			i++
		}
	}
	return "", nil
}

// flagValue returns the value of a flag given as "--name v", "--name=v",
// "-n v" or "-n=v"; empty when absent.
func flagValue(args []string, long, short string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, name := range []string{long, short} {
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
		}
	}
	return ""
}

// Rewrite filters the capabilities in the spec file t names, in place.
func Rewrite(t Target, allowed Set) (bool, error) {
	if t.Path == "" {
		return false, nil
	}
	data, err := os.ReadFile(t.Path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", t.Path, err)
	}
	var out []byte
	var changed bool
	if t.Process {
		out, changed, err = FilterProcess(data, allowed)
	} else {
		out, changed, err = FilterConfig(data, allowed)
	}
	if err != nil || !changed {
		return false, err
	}
	st, err := os.Stat(t.Path)
	if err != nil {
		return false, err
	}
	tmp := t.Path + ".capfilter"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, t.Path); err != nil {
		return false, fmt.Errorf("replace %s: %w", t.Path, err)
	}
	return true, nil
}
