package load

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Phase is one stretch of a load profile: Rate requests per second for
// Duration, changing linearly to RampTo over it when RampTo is set.
type Phase struct {
	Rate     int
	RampTo   int
	Duration time.Duration
}

func (p Phase) end() float64 {
	if p.RampTo > 0 {
		return float64(p.RampTo)
	}
	return float64(p.Rate)
}

// hits is how many requests the phase schedules in its first x seconds.
func (p Phase) hits(x float64) float64 {
	a := float64(p.Rate)
	slope := (p.end() - a) / p.Duration.Seconds()
	return a*x + slope*x*x/2
}

// timeFor is when, in seconds from the phase's start, its n-th request is
// due (0 < n <= hits(duration)).
func (p Phase) timeFor(n float64) float64 {
	a := float64(p.Rate)
	slope := (p.end() - a) / p.Duration.Seconds()
	if math.Abs(slope) < 1e-12 {
		return n / a
	}
	// slope/2 x^2 + a x - n = 0, the root in the phase
	return (-a + math.Sqrt(a*a+2*slope*n)) / slope
}

// ValidatePhases checks a profile; errors name the phase.
func ValidatePhases(phases []Phase) error {
	var errs []error
	var total time.Duration
	for i, p := range phases {
		if p.Rate < 0 || p.Rate > 100_000 || p.RampTo < 0 || p.RampTo > 100_000 {
			errs = append(errs, fmt.Errorf("phase %d: rate %d, ramp-to %d: must be 0-100000 requests per second", i+1, p.Rate, p.RampTo))
		}
		if p.Rate == 0 && p.RampTo == 0 && p.Duration > 0 {
			// a pause is allowed: nothing is sent
			total += p.Duration
			continue
		}
		if p.Duration <= 0 {
			errs = append(errs, fmt.Errorf("phase %d: duration %s: must be positive", i+1, p.Duration))
		}
		total += p.Duration
	}
	if len(phases) > 0 && (total <= 0 || total > MaxDuration) {
		errs = append(errs, fmt.Errorf("phases last %s: must be positive and at most %s", total, MaxDuration))
	}
	return errors.Join(errs...)
}

// PhasePacer schedules requests phase after phase: a baseline, a step
// up, a hold, a step down (what an autoscaler is tested with). It
// implements vegeta's Pacer.
type PhasePacer struct{ Phases []Phase }

// Pace returns how long to wait before the next request, given the time
// since the start and the requests sent so far.
func (pp PhasePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	next := float64(hits + 1)
	var start time.Duration
	var before float64
	for _, p := range pp.Phases {
		n := p.hits(p.Duration.Seconds())
		if before+n >= next-1e-9 {
			at := start + time.Duration(p.timeFor(next-before)*float64(time.Second))
			return max(at-elapsed, 0), false
		}
		before += n
		start += p.Duration
	}
	// every scheduled request was sent
	return 0, true
}

// Rate is the scheduled rate at elapsed.
func (pp PhasePacer) Rate(elapsed time.Duration) float64 {
	var start time.Duration
	for _, p := range pp.Phases {
		if elapsed < start+p.Duration {
			x := (elapsed - start).Seconds()
			return float64(p.Rate) + (p.end()-float64(p.Rate))*x/p.Duration.Seconds()
		}
		start += p.Duration
	}
	return 0
}

// Total is how many requests the profile schedules, and how long it lasts.
func (pp PhasePacer) Total() (hits float64, d time.Duration) {
	for _, p := range pp.Phases {
		if p.Duration > 0 {
			hits += p.hits(p.Duration.Seconds())
		}
		d += p.Duration
	}
	return hits, d
}

// HitsUntil is how many requests the profile schedules in its first d.
func (pp PhasePacer) HitsUntil(d time.Duration) float64 {
	var hits float64
	var start time.Duration
	for _, p := range pp.Phases {
		if d <= start {
			break
		}
		if p.Duration > 0 {
			hits += p.hits(min(d-start, p.Duration).Seconds())
		}
		start += p.Duration
	}
	return hits
}

// Peak is the highest rate the profile reaches.
func (pp PhasePacer) Peak() int {
	peak := 0
	for _, p := range pp.Phases {
		peak = max(peak, p.Rate, p.RampTo)
	}
	return peak
}
