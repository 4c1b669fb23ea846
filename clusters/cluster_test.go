package clusters

import (
	"bytes"
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
