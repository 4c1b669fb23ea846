package engine

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/chaosgate/chaosgate/load"
)

// Calibration is what a short steady load cost the target: the rate
// achieved and the CPU its pods used meanwhile (metrics API).
type Calibration struct {
	Rate          float64
	Total, Failed int
	// CPUMilli is the target pods' CPU, summed, averaged over the samples
	// of the last third of the load; Samples how many there were.
	CPUMilli float64
	Pods     int
	Samples  int
}

// MilliPerRPS is the CPU (millicores) one request per second costs; zero
// when nothing was measured.
func (c Calibration) MilliPerRPS() float64 {
	if c.Rate <= 0 || c.Samples == 0 {
		return 0
	}
	return c.CPUMilli / c.Rate
}

// Calibrate sends the load o (constant: its Rate for its Duration) and
// reads what the target's pods used meanwhile. The metrics API reports CPU
// over its resolution (15s on the bundled cluster), so the duration should
// be at least twice that. Nothing is recorded: this is not part of the
// timeline.
func Calibrate(ctx context.Context, env Env, o load.Options) (Calibration, error) {
	d := o.Duration
	if len(o.Phases) > 0 || o.RampTo > 0 {
		return Calibration{}, fmt.Errorf("calibration load: must be constant")
	}
	if err := o.Validate(); err != nil {
		return Calibration{}, fmt.Errorf("calibration load: %w", err)
	}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	m := &MetricsObserver{Client: env.Client, Namespace: env.Target.Namespace, Selector: env.Target.Selector}
	m.Start(mctx)
	start := time.Now()
	rec := load.NewRecorder(io.Discard, start)
	if err := load.Run(ctx, o, rec); err != nil {
		return Calibration{}, fmt.Errorf("calibration load: %w", err)
	}
	stop()
	n, ok := rec.Counts()
	c := Calibration{Total: n, Failed: n - ok, Rate: float64(n) / time.Since(start).Seconds()}
	usage, _, _ := m.Samples()
	c.CPUMilli, c.Samples, c.Pods = meanPodsCPU(usage, start.Add(d*2/3), time.Time{})
	return c, nil
}
