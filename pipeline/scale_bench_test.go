package pipeline_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// backlogPipeline is the 3-step pipeline of BenchmarkBacklog1M: the ~1 KB
// Lead passes through three steps with both contracts checked, and the
// last step calls done with its count of finished runs.
func backlogPipeline(st store.Store, done func()) *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead] {
	pass := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		l.Score = (l.Score + 1) % 100
		return l, nil
	}
	last := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		done()
		l.Score = (l.Score + 1) % 100
		return l, nil
	}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	sc := step.Config{Retry: retry.Never}
	p := pipeline.New(rt, "backlog", step.New("qualify", pass, sc), pol)
	p = pipeline.Then(p, step.New("enrich", pass, sc))
	return pipeline.Then(p, step.New("route", last, sc))
}

// BenchmarkBacklog1M enqueues a backlog of 1,000,000 3-step runs of the
// ~1 KB Lead on a SQLite file at the store's defaults (synchronous FULL),
// from 32 goroutines, then drains it with one worker at concurrency 64,
// and says whether the drain rate stays flat as the queue empties and the
// table of ended runs grows. Run it alone with -benchtime 1x (peak RSS
// covers the whole process). It reports:
//
//   - enqueued/s, the enqueue phase on its own;
//   - first-decile and last-decile runs/s (the first and last 100,000
//     runs to finish), their ratio last/first, and the overall runs/s;
//   - peak-RSS-MB (getrusage, enqueue and drain), enqueue-RSS-MB (VmRSS at
//     the end of the enqueue) and drain-RSS-MB (the highest VmRSS sampled
//     during the drain);
//   - first-decile and last-decile CPU-µs/run, the process's CPU time per
//     run in those deciles: what the rates would say on an idle machine,
//     since on a shared one they follow the other processes' load;
//   - db-MB, the database file with its WAL once drained.
//
// The environment shapes the run, never the settings measured:
// PLUMB_BACKLOG_RUNS sets the number of runs (default 1,000,000) for a
// quick iteration; PLUMB_BACKLOG_CACHE names a file that keeps the
// enqueued database: written after an enqueue when absent, copied to a
// temporary file and drained when present (then enqueued/s is not
// measured); PLUMB_BACKLOG_PROFILE names a directory that receives a CPU
// profile of the first and of the last decile of the drain
// (first-decile.pprof, last-decile.pprof).
func BenchmarkBacklog1M(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("PLUMB_BACKLOG_RUNS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("PLUMB_BACKLOG_RUNS=%q: want a number of runs, at least 10", v)
		}
	}
	cache, profiles := os.Getenv("PLUMB_BACKLOG_CACHE"), os.Getenv("PLUMB_BACKLOG_PROFILE")
	for i := 0; i < b.N; i++ {
		path := filepath.Join(b.TempDir(), "backlog.db")
		rss := startRSSSampler()
		var count atomic.Int64
		decile := int64(n / 10)
		// The time at which run (k+1)·n/10 finished, and the process's
		// CPU time then: on a shared machine the rate of a decile follows
		// the other processes' load, its CPU time per run does not.
		var marks, cpus [10]atomic.Int64
		done := func() {
			c := count.Add(1)
			if c%decile == 0 && c/decile <= 10 {
				marks[c/decile-1].Store(time.Now().UnixNano())
				cpus[c/decile-1].Store(int64(cpuTime()))
			}
		}
		cached := false
		if cache != "" {
			if _, err := os.Stat(cache); err == nil {
				copyFile(b, cache, path)
				cached = true
			}
		}
		var enqueueRate float64
		if !cached {
			st, err := sqlitestore.Open(path, sqlitestore.Config{})
			if err != nil {
				b.Fatal(err)
			}
			p := backlogPipeline(st, done)
			enqueueRate = enqueueBacklog(b, p, n)
			if cache != "" {
				// Close checkpoints the WAL into the file, which is then
				// whole on its own.
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
				copyFile(b, path, cache+".tmp")
				if err := os.Rename(cache+".tmp", cache); err != nil {
					b.Fatal(err)
				}
			} else if err := st.Close(); err != nil {
				b.Fatal(err)
			}
		}
		enqueueRSS := vmRSS()
		rss.reset()

		st, err := sqlitestore.Open(path, sqlitestore.Config{})
		if err != nil {
			b.Fatal(err)
		}
		p := backlogPipeline(st, done)
		stopProfiles := profileDeciles(b, profiles, &count, decile)
		start, cpu0 := time.Now(), cpuTime()
		if err := p.Runtime().Work(context.Background(), pipeline.WorkerConfig{Concurrency: 64, StopWhenDrained: true}); err != nil {
			b.Fatal(err)
		}
		end := time.Now()
		stopProfiles()
		drainRSS := rss.stop()
		if got := count.Load(); got != int64(n) {
			b.Fatalf("%d runs finished, want %d", got, n)
		}
		var t [11]time.Time
		t[0] = start
		for k := range marks {
			t[k+1] = time.Unix(0, marks[k].Load())
		}
		rates, perRun := make([]float64, 10), make([]float64, 10)
		for k := range rates {
			rates[k] = float64(decile) / t[k+1].Sub(t[k]).Seconds()
			prev := int64(cpu0)
			if k > 0 {
				prev = cpus[k-1].Load()
			}
			perRun[k] = float64(time.Duration(cpus[k].Load()-prev).Microseconds()) / float64(decile)
		}
		b.Logf("runs/s per decile: %.0f", rates)
		b.Logf("CPU µs per run per decile: %.0f", perRun)
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		if enqueueRate > 0 {
			b.ReportMetric(enqueueRate, "enqueued/s")
		}
		b.ReportMetric(rates[0], "first-decile-runs/s")
		b.ReportMetric(rates[9], "last-decile-runs/s")
		b.ReportMetric(rates[9]/rates[0], "last/first")
		b.ReportMetric(float64(n)/end.Sub(start).Seconds(), "runs/s")
		b.ReportMetric(perRun[0], "first-decile-CPU-µs/run")
		b.ReportMetric(perRun[9], "last-decile-CPU-µs/run")
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		b.ReportMetric(float64(enqueueRSS)/(1<<20), "enqueue-RSS-MB")
		b.ReportMetric(float64(drainRSS)/(1<<20), "drain-RSS-MB")
		b.ReportMetric(float64(fileSize(path)+fileSize(path+"-wal"))/(1<<20), "db-MB")
	}
}

// enqueueBacklog submits n runs of the Lead from 32 goroutines and
// returns the rate.
func enqueueBacklog(b *testing.B, p *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead], n int) float64 {
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for j := g; j < n; j += 32 {
				if _, err := p.Submit(ctx, benchfixture.NewLead(j), pipeline.SubmitOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return float64(n) / time.Since(start).Seconds()
}

// profileDeciles writes a CPU profile of the first decile of the drain
// and one of the last into dir (none when dir is empty); the returned
// function stops the sampling.
func profileDeciles(b *testing.B, dir string, count *atomic.Int64, decile int64) func() {
	if dir == "" {
		return func() {}
	}
	start := func(name string) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		return f
	}
	stop := func(f *os.File) {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
	quit, exited := make(chan struct{}), make(chan struct{})
	f := start("first-decile.pprof")
	go func() {
		defer close(exited)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for phase := 0; ; {
			select {
			case <-quit:
				if f != nil {
					stop(f)
				}
				return
			case <-tick.C:
			}
			c := count.Load()
			switch {
			case phase == 0 && c >= decile:
				stop(f)
				f, phase = nil, 1
			case phase == 1 && c >= 9*decile:
				f, phase = start("last-decile.pprof"), 2
			}
		}
	}()
	return func() { close(quit); <-exited }
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssSampler records the highest VmRSS of the process, sampled every
// 100 ms.
type rssSampler struct {
	peak atomic.Int64
	quit chan struct{}
	done chan struct{}
}

func startRSSSampler() *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := vmRSS(); v > s.peak.Load() {
				s.peak.Store(v)
			}
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) reset() { s.peak.Store(vmRSS()) }

func (s *rssSampler) stop() int64 {
	close(s.quit)
	<-s.done
	return s.peak.Load()
}

// vmRSS is the process's resident set now, in bytes, from
// /proc/self/status.
func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
