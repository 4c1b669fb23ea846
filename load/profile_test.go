package load

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The profile's schedule: requests due at the rate of each phase, phase
// after phase, and nothing after the last.
func TestPhasePacerSchedulesEachPhase(t *testing.T) {
	pp := PhasePacer{Phases: []Phase{{Rate: 10, Duration: 2 * time.Second}, {Rate: 0, Duration: time.Second}, {Rate: 50, Duration: time.Second}}}
	if hits, d := pp.Total(); hits != 70 || d != 4*time.Second {
		t.Fatalf("total %v over %s", hits, d)
	}
	if pp.Peak() != 50 {
		t.Fatalf("peak %d", pp.Peak())
	}
	// walk the schedule as the attacker does: every request at its time
	var elapsed time.Duration
	var sent uint64
	perSecond := map[int]int{}
	for {
		wait, stop := pp.Pace(elapsed, sent)
		if stop {
			break
		}
		elapsed += wait
		perSecond[int(elapsed/time.Second)]++
		sent++
		if sent > 1000 {
			t.Fatal("the schedule does not end")
		}
	}
	if sent != 70 {
		t.Fatalf("sent %d, want 70", sent)
	}
	// 10/s, 10/s, nothing, 50/s (the last request of a second falls on
	// its end)
	if perSecond[0] != 9 || perSecond[1] != 10 || perSecond[2] != 1 || perSecond[3] != 49 || perSecond[4] != 1 {
		t.Fatalf("requests per second %v", perSecond)
	}
	// behind schedule: no wait
	if wait, _ := pp.Pace(3*time.Second, 5); wait != 0 {
		t.Fatalf("behind schedule, wait %s", wait)
	}
	if r := pp.Rate(3500 * time.Millisecond); r != 50 {
		t.Fatalf("rate in the last phase %v", r)
	}
}

func TestPhasePacerRamps(t *testing.T) {
	// 0 to 100 req/s over 10s: 500 requests, the n-th at sqrt(n/5) s
	pp := PhasePacer{Phases: []Phase{{Rate: 0, RampTo: 100, Duration: 10 * time.Second}}}
	if hits, _ := pp.Total(); hits != 500 {
		t.Fatalf("total %v", hits)
	}
	wait, _ := pp.Pace(0, 124) // the 125th request
	if got, want := wait.Seconds(), math.Sqrt(125.0/5); math.Abs(got-want) > 1e-6 {
		t.Fatalf("125th request at %v s, want %v", got, want)
	}
	if r := pp.Rate(5 * time.Second); r != 50 {
		t.Fatalf("rate halfway %v", r)
	}
}

func TestValidatePhases(t *testing.T) {
	if err := ValidatePhases([]Phase{{Rate: 5, Duration: time.Second}, {Rate: 0, Duration: time.Second}}); err != nil {
		t.Fatal(err)
	}
	for want, ph := range map[string][]Phase{
		"phase 1: duration": {{Rate: 5}},
		"phase 2: rate -1":  {{Rate: 5, Duration: time.Second}, {Rate: -1, Duration: time.Second}},
		"at most 2h0m0s":    {{Rate: 5, Duration: 3 * time.Hour}},
	} {
		if err := ValidatePhases(ph); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v", want, err)
		}
	}
}

// A profile runs through the generator: every scheduled request sent and
// recorded, the steps visible in the timeline.
func TestRunFollowsTheProfile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	o := Options{Target: srv.URL, Timeout: time.Second, Phases: []Phase{{Rate: 20, Duration: time.Second}, {Rate: 100, Duration: time.Second}}}
	if got := o.TargetRate(); got != 60 {
		t.Fatalf("target rate %v", got)
	}
	rec := NewRecorder(io.Discard, time.Now())
	if err := Run(context.Background(), o, rec); err != nil {
		t.Fatal(err)
	}
	tl := rec.Timeline()
	first, _ := tl.Between(0, time.Second)
	second, _ := tl.Between(time.Second, 2*time.Second)
	if total, ok := rec.Counts(); total < 115 || total > 121 || ok != total || first > 22 || second < 95 {
		t.Fatalf("sent %d (%d ok): %d in the first second, %d in the second", total, ok, first, second)
	}
}

func TestTargetRateOver(t *testing.T) {
	step := []Phase{{Rate: 20, Duration: 10 * time.Second}, {Rate: 120, Duration: 10 * time.Second}, {Rate: 20, Duration: 20 * time.Second}}
	for _, tc := range []struct {
		name string
		o    Options
		d    time.Duration
		want float64
	}{
		{"constant, part", Options{Rate: 100, Duration: time.Minute}, 10 * time.Second, 100},
		{"phases, whole run", Options{Rate: 120, Duration: 40 * time.Second, Phases: step}, 40 * time.Second, (200 + 1200 + 400) / 40.0},
		{"phases, past the run: the whole", Options{Rate: 120, Duration: 40 * time.Second, Phases: step}, time.Minute, (200 + 1200 + 400) / 40.0},
		{"phases, into the tail", Options{Rate: 120, Duration: 40 * time.Second, Phases: step}, 30 * time.Second, (200 + 1200 + 200) / 30.0},
		{"phases, inside the step", Options{Rate: 120, Duration: 40 * time.Second, Phases: step}, 15 * time.Second, (200 + 600) / 15.0},
		{"ramp, halfway", Options{Rate: 100, RampTo: 300, Duration: 20 * time.Second}, 10 * time.Second, 150},
		{"ramp, whole", Options{Rate: 100, RampTo: 300, Duration: 20 * time.Second}, 0, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.TargetRateOver(tc.d); math.Abs(got-tc.want) > 1e-6 {
				t.Fatalf("TargetRateOver(%s) = %g, want %g", tc.d, got, tc.want)
			}
		})
	}
}
