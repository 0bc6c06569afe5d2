package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The two client shapes every system is driven by, whatever it is: a
// closed loop (each of c clients submits, waits for the result, repeats)
// and one run at a time for the latency. one(ctx, n) submits lead n and
// returns once its result is back (and checked).

// measure is what a closed loop did.
type measure struct {
	inWindow int           // units that completed within the measurement window
	window   time.Duration // the measurement window (after the warm-up)
	total    int           // units completed, warm-up and stragglers included
	cpu      cpuPer        // machine CPU per unit within the window
}

func (m measure) rate() float64 { return float64(m.inWindow) / m.window.Seconds() }

// closedLoop runs conc clients for warm+dur and counts the units that
// completed after the warm-up and before the end. Every client finishes
// the unit it is in before it stops, so that total is every unit started.
func closedLoop(ctx context.Context, conc int, warm, dur time.Duration, one func(context.Context, int) error) (measure, error) {
	start := time.Now()
	from, to := start.Add(warm), start.Add(warm+dur)
	var inWindow, total atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; time.Now().Before(to); i++ {
				if err := one(ctx, g*1_000_000+i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				total.Add(1)
				if now := time.Now(); now.After(from) && now.Before(to) {
					inWindow.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Until(from))
	cpu0 := sampleCPU()
	time.Sleep(time.Until(to))
	use := since(cpu0)
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return measure{}, err
	}
	m := measure{inWindow: int(inWindow.Load()), window: dur, total: int(total.Load())}
	m.cpu = use.perUnit(m.inWindow)
	return m, nil
}

// latencyWarmup runs go first, unmeasured, in every latency measurement.
const latencyWarmup = 20

// latencyLoop runs latencyWarmup units, then n more one at a time, and
// returns each one's wall time from just before it was submitted to the
// moment its result was back.
func latencyLoop(ctx context.Context, n int, one func(context.Context, int) error) (latency, error) {
	for i := range latencyWarmup {
		if err := one(ctx, 1_000_000+i); err != nil {
			return latency{}, err
		}
	}
	d := make([]time.Duration, n)
	for i := range n {
		t0 := time.Now()
		if err := one(ctx, i+1); err != nil {
			return latency{}, err
		}
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	return latency{p50: pct(d, 50), p90: pct(d, 90), p99: pct(d, 99), max: d[n-1]}, nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// startProfile writes a CPU profile of this process to label.pprof in
// -profile's directory until the function it returns is called.
func startProfile(c config, label string) func() {
	if c.profileDir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(c.profileDir, label+".pprof"))
	check(err)
	check(pprof.StartCPUProfile(f))
	return func() { pprof.StopCPUProfile(); _ = f.Close() }
}
