package clusters

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKindLoggerTimesEachStep(t *testing.T) {
	clock := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	l := &kindLogger{w: &out, now: func() time.Time { return clock }}
	steps := []struct {
		msg     string
		advance time.Duration
	}{
		{" • Preparing nodes 📦  ...\n", 4200 * time.Millisecond},
		{" ✓ Preparing nodes 📦\n", 0},
		{"Creating cluster \"x\" ...", 0},
		{" • Starting control-plane 🕹️  ...\n", 17960 * time.Millisecond},
		{" ✗ Starting control-plane 🕹️\n", 0},
		{" ✓ no step running\n", 0},
	}
	for _, s := range steps {
		l.V(0).Infof("%s", s.msg)
		clock = clock.Add(s.advance)
	}
	l.V(1).Info("debug lines are not shown")
	want := "" +
		" • Preparing nodes 📦  ...\n" +
		" ✓ Preparing nodes 📦 (4.2s)\n" +
		" Creating cluster \"x\" ...\n" +
		" • Starting control-plane 🕹️  ...\n" +
		" ✗ Starting control-plane 🕹️ (18s)\n" +
		" ✓ no step running\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestExportedLogs(t *testing.T) {
	dir := t.TempDir()
	if got := exportedLogs(dir, nil); got != "node logs exported to "+dir {
		t.Errorf("no error: %q", got)
	}
	partial := errors.New(`command "docker exec --privileged x-worker crictl images" failed with error: exit status 126`)
	if got := exportedLogs(dir, partial); !strings.HasPrefix(got, "exporting node logs to "+dir+" also failed") {
		t.Errorf("empty folder: %q", got)
	}
	// kind writes its own files even when every node's part failed
	if err := os.WriteFile(filepath.Join(dir, "kind-version.txt"), []byte("v0.30.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := exportedLogs(dir, partial); !strings.HasPrefix(got, "exporting node logs to "+dir+" also failed") {
		t.Errorf("no journal: %q", got)
	}
	if err := os.MkdirAll(filepath.Join(dir, "x-worker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x-worker", "journal.log"), []byte("-- Journal begins --"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := exportedLogs(dir, partial); !strings.HasPrefix(got, "node logs exported to "+dir+", some parts missing: ") || !strings.Contains(got, "crictl images") {
		t.Errorf("partial export: %q", got)
	}
}
