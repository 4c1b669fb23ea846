//go:build chromium

package reports

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/report-screenshot.png from the page the test checks")

// readmeSample is the run the README's screenshot shows: a failure, so the
// verdict, the error budget and an outage across every chart are visible.
const readmeSample = "node-failure-colocated-fail"

// TestChromiumReport checks the HTML report as a person sees it: each page
// is opened in headless Chromium (Debian's package), driven over the
// DevTools protocol on a pipe (--remote-debugging-pipe: no port, no
// websocket). Run with
//
//	go test -tags chromium -count=1 ./reports/ -run Chromium -v -artifacts
//
// (make test-report); -update-screenshot also writes the README's
// docs/report-screenshot.png.
func TestChromiumReport(t *testing.T) {
	b := launchChromium(t)
	type pageCase struct {
		name string
		r    Report
	}
	var cases []pageCase
	for _, name := range sampleRuns {
		cases = append(cases, pageCase{name, readSample(t, name)})
	}
	cases = append(cases, pageCase{"synthetic-10m-1000rps", syntheticReport(600, 1000)}, pageCase{"synthetic-2h-thinned", syntheticReport(7200, 100)},
		pageCase{"setup-failed", setupFailedReport()})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			// the folder as a run writes it
			if err := WriteFolder(dir, c.r); err != nil {
				t.Fatal(err)
			}
			p := b.open(t, filepath.Join(dir, "report.html"))
			p.assertClean(t)
			p.assertZoomSync(t)
			want := 0
			for i, s := range c.r.Scenarios {
				exp := buildChartScenario(fmt.Sprintf("s%d", i), s)
				got := p.charts[s.Name]
				if len(s.Timeline.Windows) == 0 {
					// no load ran: nothing to chart
					if _, ok := got["traffic"]; ok {
						t.Errorf("%s: a traffic chart without windows", s.Name)
					}
					continue
				}
				checkChart(t, s.Name, "traffic", got, len(exp.Windows.T))
				checkChart(t, s.Name, "latency", got, len(exp.Windows.T))
				want += 2
				if n := len(s.Timeline.Windows); n <= chartPointBudget && got["traffic"].Points != n {
					t.Errorf("%s: traffic chart holds %d points, the run has %d windows", s.Name, got["traffic"].Points, n)
				}
				if got["traffic"].Source != len(s.Timeline.Windows) {
					t.Errorf("%s: traffic chart drawn from %d windows, the run has %d", s.Name, got["traffic"].Source, len(s.Timeline.Windows))
				}
				if got["traffic"].FaultsDrawn != len(s.Faults) {
					t.Errorf("%s: %d faults drawn, the run has %d", s.Name, got["traffic"].FaultsDrawn, len(s.Faults))
				}
				if got["traffic"].Series["success rate"] == 0 || got["latency"].Series["p99"] == 0 {
					t.Errorf("%s: empty series: %+v %+v", s.Name, got["traffic"].Series, got["latency"].Series)
				}
				if len(s.Replicas) > 0 {
					checkChart(t, s.Name, "replicas", got, len(exp.Replicas.T))
					if got["replicas"].Source != len(s.Replicas) || got["replicas"].Recoveries != len(exp.Recoveries) {
						t.Errorf("%s: replicas chart %+v, the run has %d replica points, %d recoveries", s.Name, got["replicas"], len(s.Replicas), len(exp.Recoveries))
					}
					want++
				}
				if len(s.Usage) > 0 || len(s.PodRates) > 0 {
					checkChart(t, s.Name, "usage", got, len(exp.Usage.T))
					if got["usage"].Source != len(s.Usage)+len(s.PodRates) || got["usage"].Series["CPU (millicores)"] == 0 || got["usage"].Series["requests/s counted by pods"] == 0 {
						t.Errorf("%s: usage chart %+v, the run has %d usage samples, %d pod rates", s.Name, got["usage"], len(s.Usage), len(s.PodRates))
					}
					want++
				}
				if len(s.Nodes) > 0 {
					checkChart(t, s.Name, "nodes", got, len(exp.Nodes.T))
					if got["nodes"].Nodes != len(exp.Nodes.Names) || got["nodes"].Source != len(s.Nodes) || got["nodes"].States == 0 {
						t.Errorf("%s: nodes chart %+v, the run has %d nodes, %d node points", s.Name, got["nodes"], len(exp.Nodes.Names), len(s.Nodes))
					}
					want++
				}
			}
			if p.canvases != want {
				t.Errorf("%d chart canvases on the page, want %d", p.canvases, want)
			}
			p.keepScreenshot(t, "report.png")
			if *updateScreenshot && c.name == readmeSample {
				p.writeREADMEScreenshot(t, filepath.Join("..", "docs", "report-screenshot.png"))
			}
		})
	}

	t.Run("trend", func(t *testing.T) {
		var runs []TrendRun
		for _, name := range sampleRuns {
			runs = append(runs, TrendRunOf(sampleDir(name), readSample(t, name)))
		}
		SortRuns(runs)
		path := filepath.Join(t.TempDir(), "trend.html")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteTrendHTML(f, runs, Regressions(runs, DefaultTolerance), filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		p := b.open(t, path)
		p.assertClean(t)
		for _, s := range []string{"self-healing", "node-failure", "drain"} {
			for _, chart := range []string{"availability", "recovery", "p99", "failedChecks"} {
				checkChart(t, s, chart, p.charts[s], len(runs))
			}
		}
		p.keepScreenshot(t, "trend.png")
	})

	// A control for the harness itself: a page that fetches something and
	// logs an error must be caught, or a clean result above means nothing.
	t.Run("harness-catches-requests-and-errors", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.html")
		page := `<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><img src="http://127.0.0.1:9/x.png"><script>console.error("boom"); window.chaosgateReady = true;</script></body></html>`
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		p := b.open(t, path)
		if !slicesContainsPrefix(p.errors, "console.error: boom") {
			t.Errorf("console error not caught: %v", p.errors)
		}
		if !slicesContainsPrefix(p.requests, "http://127.0.0.1:9/x.png") {
			t.Errorf("request not caught: %v", p.requests)
		}
	})
}

func slicesContainsPrefix(ss []string, prefix string) bool {
	return slices.ContainsFunc(ss, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// chartRecord is what the page records of each chart (window.chaosgateCharts).
type chartRecord struct {
	Points      int            `json:"points"`
	Series      map[string]int `json:"series"`
	Draws       int            `json:"draws"`
	Source      int            `json:"source"`
	Faults      int            `json:"faults"`
	FaultsDrawn int            `json:"faultsDrawn"`
	Recoveries  int            `json:"recoveries"`
	Nodes       int            `json:"nodes"`
	States      int            `json:"states"`
	// X is the chart's time axis range, [min, max].
	X []float64 `json:"x"`
}

func checkChart(t *testing.T, scenario, name string, charts map[string]chartRecord, points int) {
	t.Helper()
	c, ok := charts[name]
	switch {
	case !ok:
		t.Errorf("%s: no %s chart on the page", scenario, name)
	case c.Draws == 0:
		t.Errorf("%s: %s chart never drawn", scenario, name)
	case c.Points != points:
		t.Errorf("%s: %s chart holds %d points, want %d", scenario, name, c.Points, points)
	}
}

// page is what one report looked like in the browser.
type page struct {
	url        string
	charts     map[string]map[string]chartRecord
	canvases   int
	errors     []string
	requests   []string
	screenshot []byte
	// readme is the top of the page down to the first scenario's charts,
	// taken with -update-screenshot.
	readme []byte
	// chartsBottom is where the first scenario's charts end, in CSS px.
	chartsBottom float64
	// zoomed and reset are the charts after a drag over the middle of the
	// first traffic chart, and after a double-click on it.
	zoomScenario  string
	zoomed, reset map[string]map[string]chartRecord
}

// assertClean fails on console errors and on any request but the page.
func (p *page) assertClean(t *testing.T) {
	t.Helper()
	for _, e := range p.errors {
		t.Errorf("console: %s", e)
	}
	for _, r := range p.requests {
		if r != p.url && !strings.HasPrefix(r, "data:") {
			t.Errorf("network request: %s", r)
		}
	}
}

// assertZoomSync checks what a drag and a double-click on the first
// traffic chart did: every chart of that scenario zoomed to the same range,
// then all came back to the whole axis.
func (p *page) assertZoomSync(t *testing.T) {
	t.Helper()
	if p.zoomed == nil {
		return // no traffic chart on the page
	}
	before, zoomed, reset := p.charts[p.zoomScenario], p.zoomed[p.zoomScenario], p.reset[p.zoomScenario]
	full := before["traffic"].X
	if len(zoomed) < 2 {
		t.Fatalf("%s: charts after the drag: %v", p.zoomScenario, zoomed)
	}
	t.Logf("%s: dragged on the traffic chart: every chart shows %v of %v, then %v after a double-click",
		p.zoomScenario, zoomed["traffic"].X, full, reset["traffic"].X)
	for name, c := range zoomed {
		z := c.X
		if len(z) != 2 || len(full) != 2 || !(z[1]-z[0] < (full[1]-full[0])*0.6) {
			t.Errorf("%s: %s chart did not zoom with the traffic chart: %v (whole axis %v)", p.zoomScenario, name, z, full)
			continue
		}
		if tz := zoomed["traffic"].X; z[0] != tz[0] || z[1] != tz[1] {
			t.Errorf("%s: %s chart zoomed to %v, traffic chart to %v", p.zoomScenario, name, z, tz)
		}
		if r := reset[name].X; len(r) != 2 || r[0] != full[0] || r[1] != full[1] {
			t.Errorf("%s: %s chart after double-click shows %v, want the whole axis %v", p.zoomScenario, name, r, full)
		}
	}
}

// keepScreenshot writes the page's screenshot to the test's artifact
// folder (kept with go test -artifacts) and checks it shows something.
func (p *page) keepScreenshot(t *testing.T, name string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(p.screenshot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	colors := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if b.Dx() < 1000 || b.Dy() < 600 || len(colors) < 20 {
		t.Errorf("screenshot %dx%d with %d colours: the page looks empty", b.Dx(), b.Dy(), len(colors))
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, p.screenshot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%dx%d)", path, b.Dx(), b.Dy())
}

// writeREADMEScreenshot writes the top of the page (verdict, checks and the
// first scenario's charts) for the README.
func (p *page) writeREADMEScreenshot(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, p.readme, 0o644); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(path)
	t.Logf("README screenshot: %s", abs)
}

// browser is one headless Chromium, spoken to over --remote-debugging-pipe:
// JSON messages separated by NUL bytes, written to its fd 3 and read from
// its fd 4.
type browser struct {
	cmd    *exec.Cmd
	toPipe *os.File
	stderr *bytes.Buffer

	mu      sync.Mutex
	nextID  int
	pending map[int]chan cdpMessage
	events  map[string][]cdpMessage // by session
	readErr error
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// chromiumBinary finds Chromium; its absence fails the test, never skips it.
func chromiumBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: the HTML report test needs Debian's chromium package " +
		"(apt-get install -y chromium; make test-report installs it) or CHROMIUM=/path/to/chromium")
	return ""
}

func launchChromium(t *testing.T) *browser {
	t.Helper()
	bin := chromiumBinary(t)
	inR, inW, err := os.Pipe() // we write, Chromium reads on fd 3
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe() // Chromium writes on fd 4, we read
	if err != nil {
		t.Fatal(err)
	}
	// The flags this machine needs as root with no network: without the
	// background-networking ones Chromium keeps trying to reach Google.
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
		"--disable-extensions", "--mute-audio", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "about:blank")
	b := &browser{cmd: cmd, toPipe: inW, stderr: &bytes.Buffer{}, pending: map[int]chan cdpMessage{}, events: map[string][]cdpMessage{}}
	cmd.Stderr = b.stderr
	cmd.ExtraFiles = []*os.File{inR, outW}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	inR.Close()
	outW.Close()
	go b.read(outR)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.call(ctx, "", "Browser.close", nil, nil)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		inW.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, "", "Browser.getVersion", nil, &v); err != nil {
		t.Fatalf("chromium did not answer on the DevTools pipe: %v\n%s", err, b.stderr)
	}
	t.Logf("browser: %s", v.Product)
	return b
}

func (b *browser) read(r *os.File) {
	br := bufio.NewReader(r)
	for {
		data, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = fmt.Errorf("devtools pipe: %w", err)
			for id, ch := range b.pending {
				close(ch)
				delete(b.pending, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(data[:len(data)-1], &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.pending[m.ID]; ok {
				ch <- m
				delete(b.pending, m.ID)
			}
		} else {
			b.events[m.SessionID] = append(b.events[m.SessionID], m)
		}
		b.mu.Unlock()
	}
}

// call sends a command and decodes its result into out (when not nil).
func (b *browser) call(ctx context.Context, session, method string, params, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return b.readErr
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.toPipe.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s: browser went away", method)
		}
		if m.Error != nil {
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (b *browser) sessionEvents(session string) []cdpMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]cdpMessage(nil), b.events[session]...)
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func (b *browser) eval(ctx context.Context, session, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.ExceptionDetails != nil {
		return fmt.Errorf("%s: %s", expr, res.ExceptionDetails.Text)
	}
	return json.Unmarshal(res.Result.Value, out)
}

// open loads a file in a new tab, waits until its charts are drawn, and
// returns what the page holds, what it logged and requested, and a
// screenshot of the whole page.
func (b *browser) open(t *testing.T, path string) *page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	p := &page{url: "file://" + abs}
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = b.call(cctx, "", "Target.closeTarget", map[string]any{"targetId": target.TargetID}, nil)
	}()
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		t.Fatal(err)
	}
	s := att.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Network.enable", "Page.enable"} {
		if err := b.call(ctx, s, m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		t.Fatal(err)
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, s, "Page.navigate", map[string]any{"url": p.url}, &nav); err != nil || nav.ErrorText != "" {
		t.Fatalf("navigate to %s: %v %s", p.url, err, nav.ErrorText)
	}
	// drawn: the page sets chaosgateReady once uPlot has drawn every chart
	for {
		var ready bool
		if err := b.eval(ctx, s, "window.chaosgateReady === true && document.readyState === 'complete'", &ready); err != nil {
			t.Fatal(err)
		}
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: charts never ready: %v", path, collectErrors(b.sessionEvents(s)))
		case <-time.After(50 * time.Millisecond):
		}
	}
	var chartsJSON string
	if err := b.eval(ctx, s, "JSON.stringify(window.chaosgateCharts || {})", &chartsJSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(chartsJSON), &p.charts); err != nil {
		t.Fatalf("window.chaosgateCharts: %v", err)
	}
	if err := b.eval(ctx, s, "document.querySelectorAll('.uplot canvas').length", &p.canvases); err != nil {
		t.Fatal(err)
	}
	if err := b.eval(ctx, s, "(function(){var c=document.querySelector('.charts');return c?c.getBoundingClientRect().bottom+window.scrollY:0})()", &p.chartsBottom); err != nil {
		t.Fatal(err)
	}
	var metrics struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	if err := b.call(ctx, s, "Page.getLayoutMetrics", nil, &metrics); err != nil {
		t.Fatal(err)
	}
	shot := func(height float64) []byte {
		var res struct {
			Data string `json:"data"`
		}
		if err := b.call(ctx, s, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true,
			"clip": map[string]any{"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}}, &res); err != nil {
			t.Fatal(err)
		}
		data, err := base64.StdEncoding.DecodeString(res.Data)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	p.screenshot = shot(metrics.CSSContentSize.Height)
	if *updateScreenshot && p.chartsBottom > 0 {
		p.readme = shot(min(p.chartsBottom+16, metrics.CSSContentSize.Height))
	}
	b.zoomAndReset(ctx, t, s, p)
	// let late console messages and requests arrive
	time.Sleep(200 * time.Millisecond)
	events := b.sessionEvents(s)
	p.errors = collectErrors(events)
	for _, e := range events {
		if e.Method != "Network.requestWillBeSent" {
			continue
		}
		var r struct {
			Request struct {
				URL string `json:"url"`
			} `json:"request"`
		}
		if json.Unmarshal(e.Params, &r) == nil {
			p.requests = append(p.requests, r.Request.URL)
		}
	}
	return p
}

// zoomAndReset drags the mouse over the middle third of the first traffic
// chart, as a person zooms, then double-clicks it, and keeps what the
// charts recorded after each.
func (b *browser) zoomAndReset(ctx context.Context, t *testing.T, s string, p *page) {
	t.Helper()
	var box struct {
		Scenario   string
		X, Y, W, H float64
	}
	const find = `(function(){var o=document.querySelector('[data-chart="traffic"] .u-over');if(!o)return null;
		o.scrollIntoView();var r=o.getBoundingClientRect();
		return {Scenario: o.closest('section').querySelector('h2').firstChild.textContent.trim(), X:r.left, Y:r.top, W:r.width, H:r.height}})()`
	var raw json.RawMessage
	if err := b.eval(ctx, s, find, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw) == "null" {
		return
	}
	if err := json.Unmarshal(raw, &box); err != nil {
		t.Fatal(err)
	}
	mouse := func(typ string, x float64, clicks int) {
		params := map[string]any{"type": typ, "x": x, "y": box.Y + box.H/2, "button": "left", "clickCount": clicks}
		if typ == "mouseMoved" {
			params["buttons"] = 1
		}
		if err := b.call(ctx, s, "Input.dispatchMouseEvent", params, nil); err != nil {
			t.Fatal(err)
		}
	}
	read := func() map[string]map[string]chartRecord {
		var js string
		if err := b.eval(ctx, s, "JSON.stringify(window.chaosgateCharts)", &js); err != nil {
			t.Fatal(err)
		}
		var all map[string]map[string]chartRecord
		if err := json.Unmarshal([]byte(js), &all); err != nil {
			t.Fatal(err)
		}
		return all
	}
	from, to := box.X+box.W/3, box.X+2*box.W/3
	mouse("mouseMoved", from, 0)
	mouse("mousePressed", from, 1)
	for x := from; x <= to; x += box.W / 30 {
		mouse("mouseMoved", x, 0)
	}
	mouse("mouseReleased", to, 1)
	p.zoomScenario, p.zoomed = box.Scenario, read()
	mouse("mousePressed", to, 1)
	mouse("mouseReleased", to, 1)
	mouse("mousePressed", to, 2)
	mouse("mouseReleased", to, 2)
	p.reset = read()
}

// collectErrors lists uncaught exceptions, console.error/assert calls and
// browser log entries at level error.
func collectErrors(events []cdpMessage) []string {
	var out []string
	for _, e := range events {
		switch e.Method {
		case "Runtime.exceptionThrown":
			var x struct {
				ExceptionDetails struct {
					Text      string `json:"text"`
					Exception struct {
						Description string `json:"description"`
					} `json:"exception"`
				} `json:"exceptionDetails"`
			}
			_ = json.Unmarshal(e.Params, &x)
			out = append(out, "exception: "+x.ExceptionDetails.Text+" "+x.ExceptionDetails.Exception.Description)
		case "Runtime.consoleAPICalled":
			var x struct {
				Type string `json:"type"`
				Args []struct {
					Value       any    `json:"value"`
					Description string `json:"description"`
				} `json:"args"`
			}
			_ = json.Unmarshal(e.Params, &x)
			if x.Type != "error" && x.Type != "assert" {
				continue
			}
			var parts []string
			for _, a := range x.Args {
				if a.Value != nil {
					parts = append(parts, fmt.Sprint(a.Value))
				} else {
					parts = append(parts, a.Description)
				}
			}
			out = append(out, "console."+x.Type+": "+strings.Join(parts, " "))
		case "Log.entryAdded":
			var x struct {
				Entry struct {
					Level, Text, URL string
				} `json:"entry"`
			}
			_ = json.Unmarshal(e.Params, &x)
			if x.Entry.Level == "error" {
				out = append(out, "log: "+x.Entry.Text+" "+x.Entry.URL)
			}
		}
	}
	return out
}
