package live

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chaosgate/chaosgate/load"
)

func sample() Status {
	return Status{
		Scenario: "gameday", Elapsed: 72 * time.Second, Planned: 210 * time.Second,
		Next: "drain-worker", NextAt: 90 * time.Second,
		Faults: []Fault{{Kind: "node-shutdown", Target: "node/chaosgate-worker2", Since: 40 * time.Second, State: "in effect"}},
		Recent: load.Recent{Total: 500, OK: 450, P99: 45 * time.Millisecond}, RecentSpan: 10 * time.Second,
		Overall: load.Recent{Total: 3600, OK: 3500, P99: 123456 * time.Microsecond},
		Serving: 2, Desired: 3,
		Nodes: []Node{{"chaosgate-control-plane", "Ready"}, {"chaosgate-worker", "Ready"}, {"chaosgate-worker2", "NotReady"}},
	}
}

func TestLineSaysEverythingOnOneLine(t *testing.T) {
	got := Line(sample())
	want := "scenario gameday: 72s of 3m30s, 3600 requests, 97.22% ok, 100 failed, p99 123ms (last 10s: 90.00% ok, p99 45ms), 2/3 replicas serving, 1 fault(s): node-shutdown node/chaosgate-worker2 (in effect), nodes: chaosgate-worker2 NotReady; next: drain-worker at 90s"
	if got != want {
		t.Errorf("Line:\n got %s\nwant %s", got, want)
	}
	s := sample()
	s.Started, s.Faults, s.Nodes = true, nil, nil
	if got := Line(s); !strings.HasSuffix(got, "0 fault(s); step drain-worker since 90s") {
		t.Errorf("Line of a started step: %s", got)
	}
}

func TestLinesLabelEachPartOfTheState(t *testing.T) {
	got := strings.Join(panelLines(sample()), "\n")
	want := `chaosgate · gameday · 1m12s of 3m30s
next      drain-worker at 1m30s (in 18s)
faults    node-shutdown node/chaosgate-worker2 at 40s, in effect
last 10s   90.00% ok of 500 (50 failed), p99 45ms
overall    97.22% ok of 3600 (100 failed), p99 123ms
replicas  2/3 serving
nodes     chaosgate-control-plane Ready · chaosgate-worker Ready · chaosgate-worker2 NotReady`
	if got != want {
		t.Errorf("Lines:\n%s\nwant\n%s", got, want)
	}
	s := Status{Scenario: "x", RecentSpan: 10 * time.Second}
	if got := strings.Join(panelLines(s), "\n"); !strings.Contains(got, "next      no step left") || !strings.Contains(got, "faults    none") || !strings.Contains(got, "overall   no requests") {
		t.Errorf("Lines of an idle run:\n%s", got)
	}
}

// screen is the little of a VT100 the panel uses: text, \n, \r, cursor up
// (ESC[nA), erase to the end of the screen (ESC[J) and of the line
// (ESC[K), and attributes (ESC[...m, ignored). It fails on anything else,
// so the panel cannot start relying on more without the test knowing.
type screen struct {
	t     *testing.T
	lines [][]rune
	row   int
	col   int
}

var csi = regexp.MustCompile(`^\x1b\[([0-9;]*)([A-Za-z])`)

func (s *screen) feed(out string) {
	for len(out) > 0 {
		if m := csi.FindStringSubmatch(out[:min(len(out), 16)]); out[0] == '\x1b' && m != nil {
			n, _ := strconv.Atoi(m[1])
			switch m[2] {
			case "A":
				s.row = max(0, s.row-max(n, 1))
			case "J":
				s.line()
				s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
				s.lines = s.lines[:s.row+1]
			case "K":
				s.line()
				s.lines[s.row] = s.lines[s.row][:min(s.col, len(s.lines[s.row]))]
			case "m":
			default:
				s.t.Fatalf("escape %q is not one the panel should use", m[0])
			}
			out = out[len(m[0]):]
			continue
		}
		r, size := utf8.DecodeRuneInString(out)
		out = out[size:]
		switch r {
		case '\n':
			s.row++
			s.col = 0
		case '\r':
			s.col = 0
		case '\x1b':
			s.t.Fatalf("unknown escape in %q", out)
		default:
			s.line()
			for len(s.lines[s.row]) <= s.col {
				s.lines[s.row] = append(s.lines[s.row], ' ')
			}
			s.lines[s.row][s.col] = r
			s.col++
		}
	}
}

func (s *screen) line() {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, nil)
	}
}

func (s *screen) text() string {
	var out []string
	for _, l := range s.lines {
		out = append(out, strings.TrimRight(string(l), " "))
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}

// What a person sees: log lines scroll above the panel, the panel is
// drawn once at the bottom however often it is redrawn, a half-written log
// line waits for its end, no panel line is wider than the terminal, and
// once hidden the panel is gone.
func TestPanelKeepsLogLinesAboveOneBlock(t *testing.T) {
	var out bytes.Buffer
	width := 60
	p := newPanel(&out, func() int { return width })
	fmt.Fprintln(p, "starting")
	s := sample()
	p.Show(s)
	fmt.Fprint(p, "[gameday] fault in effect ")
	s.Elapsed += time.Second
	p.Show(s)
	fmt.Fprintln(p, "id=1")
	s.Elapsed += time.Second
	s.Overall.Total += 100
	s.Overall.OK += 100
	p.Show(s)
	fmt.Fprintln(p, "[gameday] step drain-worker")

	scr := &screen{t: t}
	scr.feed(out.String())
	lines := strings.Split(scr.text(), "\n")
	if lines[0] != "starting" || lines[1] != "[gameday] fault in effect id=1" || lines[2] != "[gameday] step drain-worker" {
		t.Fatalf("log lines not in order above the panel:\n%s", scr.text())
	}
	panel := lines[3:]
	if len(panel) != len(panelLines(s)) {
		t.Fatalf("the panel is drawn %d lines, want %d:\n%s", len(panel), len(panelLines(s)), scr.text())
	}
	if !strings.HasPrefix(panel[0], "chaosgate · gameday · 1m14s of 3m30s") {
		t.Errorf("the panel shows an old status: %q", panel[0])
	}
	for _, l := range panel {
		if n := len([]rune(l)); n >= width {
			t.Errorf("panel line of %d runes on a %d-column terminal: %q", n, width, l)
		}
	}
	if !strings.HasSuffix(panel[len(panel)-1], "…") {
		t.Errorf("the nodes line should be cut to the width: %q", panel[len(panel)-1])
	}

	fmt.Fprint(p, "a line cut short")
	p.Hide()
	fmt.Fprintln(p, "")
	fmt.Fprintln(p, "Report: chaosgate-reports/x")
	scr = &screen{t: t}
	scr.feed(out.String())
	if got := scr.text(); !strings.HasSuffix(got, "[gameday] step drain-worker\na line cut short\nReport: chaosgate-reports/x") {
		t.Errorf("after Hide the panel should be gone:\n%s", got)
	}
}

// Log lines and status updates come from different goroutines.
func TestPanelIsSafeForConcurrentUse(t *testing.T) {
	var out bytes.Buffer
	p := newPanel(&out, func() int { return 200 })
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if g == 0 {
					s := sample()
					s.Elapsed = time.Duration(i) * time.Second
					p.Show(s)
				} else {
					fmt.Fprintf(p, "writer %d line %d\n", g, i)
				}
			}
		}()
	}
	wg.Wait()
	p.Hide()
	scr := &screen{t: t}
	scr.feed(out.String())
	lines := strings.Split(scr.text(), "\n")
	if len(lines) != 150 {
		t.Fatalf("want the 150 log lines and no panel left, got %d lines:\n%s", len(lines), scr.text())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "writer ") {
			t.Fatalf("a line mixes log and panel: %q", l)
		}
	}
}

func TestCutCountsRunes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"a · b · c", 5, "a · …"},
		{"abc", 0, ""},
		{"abc", 1, "…"},
	} {
		if got := cut(tc.s, tc.n); got != tc.want {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
