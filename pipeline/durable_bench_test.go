package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	syncpkg "sync"
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

type Item struct {
	N    int    `json:"n"`
	Note string `json:"note"`
}

// trivial is a 3-step pipeline of steps that do nothing but pass the item
// on: what is measured is the durable machinery (claims, checkpoints).
func trivial(st store.Store, name string) *pipeline.Pipeline[Item, Item] {
	pass := func(_ context.Context, it Item) (Item, error) { it.N++; return it, nil }
	last := func(_ context.Context, it Item) (Item, error) { finished.Add(1); it.N++; return it, nil }
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	sc := step.Config{Retry: retry.Never}
	p := pipeline.New(rt, name, step.New("one", pass, sc), pol)
	p = pipeline.Then(p, step.New("two", pass, sc))
	return pipeline.Then(p, step.New("three", last, sc))
}

// finished counts the third steps run, so that a benchmark knows when its
// runs are done without asking the store to count a deep table.
var finished atomic.Int64

func openBench(b *testing.B, sync string) *sqlitestore.Store {
	st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Config{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// BenchmarkDurable measures durable throughput of a 3-step pipeline on a
// SQLite file: b.N runs are enqueued (not timed), then workers drain them;
// each run is a claim, two checkpoints and a finish that carries the third.
// It reports runs/s and step checkpoints/s. BENCHMARKS.md records it.
func BenchmarkDurable(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		b.Run("sync="+mode, func(b *testing.B) {
			st := openBench(b, mode)
			p := trivial(st, "bench")
			ctx := context.Background()
			// Enqueue from many goroutines so the writer batches the inserts.
			var wg sync.WaitGroup
			per := (b.N + 31) / 32
			for g := 0; g < 32; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := g * per; i < min(b.N, (g+1)*per); i++ {
						if _, err := p.Submit(ctx, Item{N: i, Note: "a small payload"}, pipeline.SubmitOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				}(g)
			}
			wg.Wait()
			b.ResetTimer()
			start := time.Now()
			drain(b, st, p, "bench", b.N, 64)
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
			b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "checkpoints/s")
			ws := st.WriteStats()
			if ws.Commits > 0 {
				b.ReportMetric(float64(ws.Ops)/float64(ws.Commits), "ops/commit")
			}
		})
	}
}

// drain runs a worker until n runs of the pipeline have succeeded.
func drain(b *testing.B, st store.Store, p *pipeline.Pipeline[Item, Item], name string, n, concurrency int) {
	finished.Store(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Concurrency: concurrency, Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	for finished.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	// The last step has run; its checkpoint (the finish) follows at once.
	for {
		stats, err := st.Stats(context.Background(), name, time.Nanosecond)
		if err != nil {
			b.Fatal(err)
		}
		if len(stats) == 1 && stats[0].ByStatus[store.Succeeded] >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// leads is the 3-step pipeline of the latency and closed-loop benchmarks:
// the shared ~1 KB benchfixture.Lead through three steps, contracts on
// (the default), as in production.
func leads(st store.Store, name string) *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead] {
	pass := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		l.Score = (l.Score + 1) % 100
		return l, nil
	}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	sc := step.Config{Retry: retry.Never}
	p := pipeline.New(rt, name, step.New("one", pass, sc), pol)
	p = pipeline.Then(p, step.New("two", pass, sc))
	return pipeline.Then(p, step.New("three", pass, sc))
}

// latencyStore is a store a latency benchmark runs on, with its write
// counters.
type latencyStore struct {
	name string
	open func(b *testing.B) (store.Store, func() (commits, fsyncs uint64, fsyncTime time.Duration))
}

// latencyStores are SQLite at synchronous=FULL and, when
// PLUMB_TEST_POSTGRES_DSN is set, PostgreSQL (stock settings), where every
// commit is an fsync of the server's WAL.
func latencyStores() []latencyStore {
	return []latencyStore{
		{"sqlite-FULL", func(b *testing.B) (store.Store, func() (uint64, uint64, time.Duration)) {
			st := openBench(b, "FULL")
			return st, func() (uint64, uint64, time.Duration) {
				ws := st.WriteStats()
				return ws.Commits, ws.Syncs, ws.SyncTime
			}
		}},
		{"postgres", func(b *testing.B) (store.Store, func() (uint64, uint64, time.Duration)) {
			st := openBenchPG(b)
			return st, func() (uint64, uint64, time.Duration) {
				ws := st.WriteStats()
				// Each batch is one transaction (claims included); the
				// server flushes its WAL for those that wrote: the
				// fsyncs are not counted here.
				return ws.Batches, 0, 0
			}
		}},
	}
}

// BenchmarkDurableLatency measures one run's latency from Submit to
// succeeded, one run at a time (SubmitAndWait), with an idle worker in
// the same process: the 1 KB Lead through 3 steps with contracts on. It
// reports p50, p90 and p99, and the commits and fsyncs a run costs.
func BenchmarkDurableLatency(b *testing.B) {
	for _, ls := range latencyStores() {
		b.Run(ls.name, func(b *testing.B) {
			st, counts := ls.open(b)
			p := leads(st, "latency")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Concurrency: 4, Poll: time.Second, PruneEvery: -1})
			}()
			defer func() { cancel(); <-done }()
			// Warm up: the definition is registered, statements prepared.
			for i := 0; i < 20; i++ {
				if _, err := p.SubmitAndWait(ctx, benchfixture.NewLead(i), pipeline.SubmitOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			c0, f0, s0 := counts()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := p.SubmitAndWait(ctx, benchfixture.NewLead(i), pipeline.SubmitOptions{}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			c1, f1, s1 := counts()
			slices.Sort(lat)
			if f1 > f0 {
				b.ReportMetric(float64((s1-s0).Microseconds())/float64(f1-f0), "µs/fsync")
			}
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*90/100].Microseconds()), "p90-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(c1-c0)/float64(b.N), "commits/run")
			b.ReportMetric(float64(f1-f0)/float64(b.N), "fsyncs/run")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkClosedLoop measures runs/s of c clients that each submit a run,
// wait for its end (SubmitAndWait) and repeat, with one worker in the
// same process: the workload DBOS-Go's closed loop measures. b.N runs in
// all.
func BenchmarkClosedLoop(b *testing.B) {
	for _, ls := range latencyStores() {
		for _, c := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("%s/c=%d", ls.name, c), func(b *testing.B) {
				st, counts := ls.open(b)
				p := leads(st, "loop")
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() {
					done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Concurrency: max(8, c), Poll: time.Second, PruneEvery: -1})
				}()
				defer func() { cancel(); <-done }()
				for i := 0; i < 20; i++ {
					if _, err := p.SubmitAndWait(ctx, benchfixture.NewLead(i), pipeline.SubmitOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				c0, f0, _ := counts()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ResetTimer()
				start := time.Now()
				for g := 0; g < c; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := p.SubmitAndWait(ctx, benchfixture.NewLead(int(i)), pipeline.SubmitOptions{}); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				c1, f1, _ := counts()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
				b.ReportMetric(float64(c1-c0)/float64(b.N), "commits/run")
				b.ReportMetric(float64(f1-f0)/float64(b.N), "fsyncs/run")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

var _ = fmt.Sprint

// BenchmarkQueue100k enqueues 100,000 runs and drains them with one
// worker, reporting the process's peak resident memory: the queue lives on
// disk, not in memory. Run it alone (-bench 'Queue100k$' -benchtime 1x),
// since peak RSS covers the whole process.
func BenchmarkQueue100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		st := openBench(b, "FULL")
		p := trivial(st, "deep")
		ctx := context.Background()
		start := time.Now()
		var wg syncpkg.WaitGroup
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for j := g; j < n; j += 32 {
					if _, err := p.Submit(ctx, Item{N: j, Note: "a lead of a hundred thousand"}, pipeline.SubmitOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		enqueued := time.Since(start)
		drain(b, st, p, "deep", n, 64)
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
		b.ReportMetric(n/enqueued.Seconds(), "enqueued/s")
		b.ReportMetric(n/time.Since(start).Seconds(), "runs/s")
	}
}
