package suites

import (
	"testing"
	"time"
)

func TestRecoveryTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	samples := []ReadySample{
		{At: at(0), Ready: 3, Desired: 3},
		{At: at(10.1), Ready: 2, Desired: 3}, // kill at 10
		{At: at(12.5), Ready: 3, Desired: 3},
		{At: at(20.2), Ready: 2, Desired: 3}, // kill at 20
		{At: at(21), Ready: 1, Desired: 3},
		{At: at(26), Ready: 2, Desired: 3},
		{At: at(31), Ready: 3, Desired: 3},
		{At: at(40.1), Ready: 2, Desired: 3}, // kill at 40, never recovers
	}
	cases := []struct {
		name          string
		issued, until float64
		want          float64
		ok            bool
	}{
		{"quick", 10, 20, 2.5, true},
		{"slow with two dips", 20, 40, 11, true},
		{"never", 40, 0, 0, false},
		{"no dip while whole", 5, 10, 0, true},
	}
	for _, c := range cases {
		until := time.Time{}
		if c.until > 0 {
			until = at(c.until)
		}
		got, ok := RecoveryTime(samples, at(c.issued), until)
		if ok != c.ok || got != time.Duration(c.want*float64(time.Second)) {
			t.Errorf("%s: got %v %v, want %vs %v", c.name, got, ok, c.want, c.ok)
		}
	}
	// a fault hitting an already degraded deployment recovers when whole
	degraded := []ReadySample{{At: at(0), Ready: 2, Desired: 3}, {At: at(4), Ready: 3, Desired: 3}}
	if got, ok := RecoveryTime(degraded, at(1), time.Time{}); !ok || got != 3*time.Second {
		t.Fatalf("degraded: %v %v", got, ok)
	}
}
