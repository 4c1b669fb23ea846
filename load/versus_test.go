package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// BenchmarkVersusVegetaCLI runs our generator (every result recorded, a new
// connection per request from spread source addresses, as the gate runs
// it) and vegeta's own CLI, the version go.mod names, against the same
// local server, one after the other, at 1,000, 3,000 and 5,000 req/s;
// vegeta with keep-alive off (our connection model) and on. It prints one
// table: achieved rate against the target, p50 and p99, and our p99 over
// vegeta's. Our run at 5,000 req/s is repeated to show how steady its p99
// is. Run it with -benchtime=1x (make bench).
func BenchmarkVersusVegetaCLI(b *testing.B) {
	vegeta := buildVegetaCLI(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	const d = 5 * time.Second
	for b.Loop() {
		var rows []versusRow
		for _, rate := range []int{1000, 3000, 5000} {
			row := versusRow{rate: rate}
			repeats := 1
			if rate == 5000 {
				repeats = 3
			}
			for range repeats {
				rec := NewRecorder(io.Discard, time.Now())
				if err := Run(context.Background(), Options{Target: srv.URL + "/", Rate: rate, Duration: d, SpreadSources: true}, rec); err != nil {
					b.Fatal(err)
				}
				s := rec.Timeline().Summarize()
				row.ours = append(row.ours, figures{achieved: s.AchievedRate, ok: s.Availability, p50: s.Latency.P50, p99: s.Latency.P99})
			}
			for _, keepAlive := range []bool{false, true} {
				f, err := vegetaAttack(vegeta, srv.URL+"/", rate, d, keepAlive)
				if err != nil {
					b.Fatal(err)
				}
				if keepAlive {
					row.vegetaKeepAlive = f
				} else {
					row.vegeta = f
				}
			}
			rows = append(rows, row)
			b.ReportMetric(row.ours[0].achieved/float64(rate)*100, "%rate-ours@"+strconv.Itoa(rate))
			b.ReportMetric(row.vegeta.achieved/float64(rate)*100, "%rate-vegeta@"+strconv.Itoa(rate))
		}
		printVersus(os.Stdout, rows)
	}
}

type figures struct {
	achieved float64 // req/s
	ok       float64 // share 0-1
	p50, p99 time.Duration
}

type versusRow struct {
	rate                    int
	ours                    []figures
	vegeta, vegetaKeepAlive figures
}

func printVersus(w io.Writer, rows []versusRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target req/s\tours achieved\tours p50\tours p99\tvegeta achieved\tvegeta p50\tvegeta p99\tp99 ours/vegeta\tvegeta keep-alive achieved\tkeep-alive p99\t")
	pct := func(f figures, rate int) string { return fmt.Sprintf("%.1f%%", f.achieved/float64(rate)*100) }
	for _, r := range rows {
		o := r.ours[0]
		p99s := make([]string, len(r.ours))
		for i, f := range r.ours {
			p99s[i] = f.p99.Round(10 * time.Microsecond).String()
		}
		ratio := "-"
		if r.vegeta.p99 > 0 {
			ratio = fmt.Sprintf("%.2f", float64(o.p99)/float64(r.vegeta.p99))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.rate, pct(o, r.rate), o.p50.Round(10*time.Microsecond), strings.Join(p99s, " / "),
			pct(r.vegeta, r.rate), r.vegeta.p50.Round(10*time.Microsecond), r.vegeta.p99.Round(10*time.Microsecond), ratio,
			pct(r.vegetaKeepAlive, r.rate), r.vegetaKeepAlive.p99.Round(10*time.Microsecond))
	}
	tw.Flush()
}

// buildVegetaCLI installs vegeta's CLI, at the version of the library in
// go.mod, into a temporary folder.
func buildVegetaCLI(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/tsenart/vegeta/v12").Output()
	if err != nil {
		b.Fatalf("vegeta's version from go.mod: %v", err)
	}
	version := strings.TrimSpace(string(out))
	dir := b.TempDir()
	cmd := exec.Command("go", "install", "github.com/tsenart/vegeta/v12@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go install vegeta %s: %v\n%s", version, err, out)
	}
	return filepath.Join(dir, "vegeta")
}

// vegetaAttack runs `vegeta attack | vegeta report -type=json` and reads
// the achieved rate and latencies of its report.
func vegetaAttack(bin, target string, rate int, d time.Duration, keepAlive bool) (figures, error) {
	attack := exec.Command(bin, "attack", "-rate", strconv.Itoa(rate), "-duration", d.String(), "-keepalive="+strconv.FormatBool(keepAlive), "-timeout", "2s")
	attack.Stdin = strings.NewReader("GET " + target + "\n")
	var results, stderr bytes.Buffer
	attack.Stdout, attack.Stderr = &results, &stderr
	if err := attack.Run(); err != nil {
		return figures{}, fmt.Errorf("vegeta attack: %w: %s", err, stderr.String())
	}
	report := exec.Command(bin, "report", "-type", "json")
	report.Stdin = &results
	out, err := report.Output()
	if err != nil {
		return figures{}, fmt.Errorf("vegeta report: %w", err)
	}
	var r struct {
		Rate      float64 `json:"rate"`
		Success   float64 `json:"success"`
		Latencies struct {
			P50 time.Duration `json:"50th"`
			P99 time.Duration `json:"99th"`
		} `json:"latencies"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return figures{}, fmt.Errorf("vegeta report %s: %w", out, err)
	}
	return figures{achieved: r.Rate, ok: r.Success, p50: r.Latencies.P50, p99: r.Latencies.P99}, nil
}

func TestPrintVersus(t *testing.T) {
	var sb strings.Builder
	printVersus(&sb, []versusRow{{rate: 1000, ours: []figures{{achieved: 999, p50: time.Millisecond, p99: 4 * time.Millisecond}},
		vegeta: figures{achieved: 990, p99: 2 * time.Millisecond}, vegetaKeepAlive: figures{achieved: 1000, p99: time.Millisecond}}})
	if !strings.Contains(sb.String(), "99.9%") || !strings.Contains(sb.String(), "2.00") {
		t.Fatalf("table:\n%s", sb.String())
	}
}
