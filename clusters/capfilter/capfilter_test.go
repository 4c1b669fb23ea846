package capfilter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// This machine's bounding set: everything but CAP_SYS_RESOURCE (24).
const sandboxCapBnd = 0x000001fffeffffff

func TestParseStatus(t *testing.T) {
	s, err := ParseStatus(strings.NewReader("Name:\tbash\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s != sandboxCapBnd {
		t.Fatalf("got %x", uint64(s))
	}
	if s.Has("CAP_SYS_RESOURCE") || !s.Has("CAP_SYS_ADMIN") || s.Complete() {
		t.Fatalf("wrong membership for %x", uint64(s))
	}
	if got := s.Missing(); !reflect.DeepEqual(got, []string{"CAP_SYS_RESOURCE"}) {
		t.Fatalf("missing = %v", got)
	}
	if !Set(1<<41 - 1).Complete() {
		t.Fatal("full set not complete")
	}
	if _, err := ParseStatus(strings.NewReader("Name: x\n")); err == nil {
		t.Fatal("want error without CapBnd")
	}
	if _, err := ParseStatus(strings.NewReader("CapBnd:\tzz\n")); err == nil {
		t.Fatal("want error for bad hex")
	}
}

func TestUnknownCapabilityIsKept(t *testing.T) {
	if !Set(0).Has("CAP_FUTURE_THING") {
		t.Fatal("unknown names must be treated as present")
	}
}

func TestFilterProcess(t *testing.T) {
	in := `{"terminal":false,"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"],"permitted":["CAP_CHOWN"]},"cwd":"/"}`
	out, changed, err := FilterProcess([]byte(in), sandboxCapBnd)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	var got struct {
		Terminal     bool                `json:"terminal"`
		Cwd          string              `json:"cwd"`
		Capabilities map[string][]string `json:"capabilities"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"bounding": {"CAP_CHOWN"}, "effective": {}, "permitted": {"CAP_CHOWN"}}
	if !reflect.DeepEqual(got.Capabilities, want) || got.Cwd != "/" {
		t.Fatalf("got %+v", got)
	}
	// nothing to remove: bytes unchanged
	same := `{"capabilities":{"bounding":["CAP_CHOWN"]}}`
	out, changed, err = FilterProcess([]byte(same), sandboxCapBnd)
	if err != nil || changed || string(out) != same {
		t.Fatalf("unexpected rewrite: %s %v %v", out, changed, err)
	}
	if _, _, err := FilterProcess([]byte(`{"capabilities":{"bounding":"x"}}`), sandboxCapBnd); err == nil {
		t.Fatal("want error for malformed list")
	}
}

func TestTargetFor(t *testing.T) {
	cases := []struct {
		args []string
		want Target
	}{
		{[]string{"--root", "/run/runc", "--log", "/l.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "p", "id"}, Target{Path: "/b/config.json"}},
		{[]string{"run", "-b=/x", "id"}, Target{Path: "/x/config.json"}},
		{[]string{"create", "id"}, Target{Path: "/cwd/config.json"}},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, Target{Path: "/tmp/p.json", Process: true}},
		{[]string{"exec", "-p", "/tmp/q.json", "id"}, Target{Path: "/tmp/q.json", Process: true}},
		{[]string{"exec", "id", "sh"}, Target{}},
		{[]string{"--root", "/r", "start", "id"}, Target{}},
		{[]string{"--version"}, Target{}},
	}
	for _, c := range cases {
		if got := TargetFor(c.args, "/cwd"); got != c.want {
			t.Errorf("TargetFor(%v) = %+v, want %+v", c.args, got, c.want)
		}
	}
}

func TestRewriteBundle(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"ociVersion":"1.0.2","process":{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := Rewrite(Target{Path: cfg}, sandboxCapBnd)
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	data, _ := os.ReadFile(cfg)
	if strings.Contains(string(data), "CAP_SYS_RESOURCE") || !strings.Contains(string(data), "CAP_KILL") || !strings.Contains(string(data), `"ociVersion":"1.0.2"`) {
		t.Fatalf("bad rewrite: %s", data)
	}
	st, _ := os.Stat(cfg)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode changed to %v", st.Mode())
	}
	// idempotent
	if changed, err := Rewrite(Target{Path: cfg}, sandboxCapBnd); err != nil || changed {
		t.Fatalf("second rewrite changed=%v err=%v", changed, err)
	}
	if _, err := Rewrite(Target{Path: filepath.Join(dir, "missing.json")}, sandboxCapBnd); err == nil {
		t.Fatal("want error for missing file")
	}
}
