package live

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"unicode/utf8"

	"golang.org/x/term"
)

// Panel draws the status as a block of lines at the bottom of a terminal,
// redrawn in place; everything else written through it (log lines,
// progress) scrolls above the block. It is safe for concurrent use.
type Panel struct {
	mu    sync.Mutex
	w     io.Writer
	width func() int
	// drawn is how many lines of the block are on the screen; shown is
	// the status they show (nil: hidden)
	drawn   int
	shown   *Status
	pending []byte // a written line not yet ended
	bold    bool
}

// newPanel draws on w, whose width (in columns) width tells; lines are cut
// to it, so none wraps and the block can be found again to redraw it.
func newPanel(w io.Writer, width func() int) *Panel {
	return &Panel{w: w, width: width}
}

// Terminal returns a panel on f when f is a terminal, and false otherwise
// (a pipe, a file, a CI log: plain lines are the right output there).
// TERM=dumb counts as no terminal (the panel moves the cursor); NO_COLOR
// leaves the heading plain.
func Terminal(f *os.File) (*Panel, bool) {
	fd := int(f.Fd())
	if !term.IsTerminal(fd) || os.Getenv("TERM") == "dumb" {
		return nil, false
	}
	p := newPanel(f, func() int {
		if w, _, err := term.GetSize(fd); err == nil && w > 0 {
			return w
		}
		return 80
	})
	p.bold = os.Getenv("NO_COLOR") == ""
	return p, true
}

// Write writes p above the block. A line is written once it is complete.
func (p *Panel) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = append(p.pending, b...)
	i := bytes.LastIndexByte(p.pending, '\n')
	if i < 0 {
		return len(b), nil
	}
	var out bytes.Buffer
	p.erase(&out)
	out.Write(p.pending[:i+1])
	p.pending = append(p.pending[:0], p.pending[i+1:]...)
	p.draw(&out)
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Show redraws the block with s.
func (p *Panel) Show(s Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown = &s
	var out bytes.Buffer
	p.erase(&out)
	p.draw(&out)
	_, _ = p.w.Write(out.Bytes())
}

// Hide removes the block, and writes a line left unended; the next Show
// draws the block again.
func (p *Panel) Hide() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shown = nil
	var out bytes.Buffer
	p.erase(&out)
	out.Write(p.pending)
	p.pending = p.pending[:0]
	_, _ = p.w.Write(out.Bytes())
}

// erase moves the cursor to the block's first line and clears to the end
// of the screen.
func (p *Panel) erase(out *bytes.Buffer) {
	if p.drawn > 0 {
		fmt.Fprintf(out, "\x1b[%dA\r\x1b[J", p.drawn)
	}
	p.drawn = 0
}

func (p *Panel) draw(out *bytes.Buffer) {
	if p.shown == nil {
		return
	}
	width := p.width()
	lines := panelLines(*p.shown)
	for i, l := range lines {
		l = cut(l, width-1)
		if i == 0 && p.bold {
			l = "\x1b[1m" + l + "\x1b[0m"
		}
		out.WriteString(l + "\n")
	}
	p.drawn = len(lines)
}

// cut shortens s to at most n runes, marking the cut with an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
