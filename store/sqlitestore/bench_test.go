package sqlitestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// Run the benchmarks with
//
//	go test -run '^$' -bench . -benchtime 20000x ./store/sqlitestore/
//
// They report ops/s, commits/s and ops/commit (the group commit's
// batching factor) besides ns/op.

// payload is about 1 KB of JSON, like a small lead or a short post.
var payload = json.RawMessage(`{"lead":{"name":"Ada Lovelace","email":"ada@example.com","company":"Analytical Engines Ltd",` +
	`"notes":"` + strings.Repeat("Interested in the difference engine; follow up next week. ", 15) + `"}}`)

const benchGoroutines = 32

func benchOpen(b *testing.B, sync string) *sqlitestore.Store {
	b.Helper()
	s, err := sqlitestore.Open(filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Config{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func parallelism() int { return max(1, benchGoroutines/runtime.GOMAXPROCS(0)) }

// report adds throughput and batching metrics for ops writes per iteration.
func report(b *testing.B, s *sqlitestore.Store, before sqlitestore.WriteStats, opsPerIter int) {
	after := s.WriteStats()
	secs := b.Elapsed().Seconds()
	commits := float64(after.Commits - before.Commits)
	ops := float64(after.Ops - before.Ops)
	b.ReportMetric(float64(b.N)/secs, "iter/s")
	b.ReportMetric(float64(b.N*opsPerIter)/secs, "ops/s")
	b.ReportMetric(commits/secs, "commits/s")
	if n := after.Syncs - before.Syncs; n > 0 {
		b.ReportMetric(float64((after.SyncTime-before.SyncTime).Microseconds())/float64(n), "µs/fsync")
	}
	if after.Syncs > before.Syncs {
		b.ReportMetric(float64(after.Syncs-before.Syncs)/secs, "fsyncs/s")
	}
	if commits > 0 {
		b.ReportMetric(ops/commits, "ops/commit")
	}
}

func BenchmarkEnqueue(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			s := benchOpen(b, sync)
			ctx := context.Background()
			var n atomic.Int64
			before := s.WriteStats()
			b.SetParallelism(parallelism())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprintf("run-%09d", n.Add(1))
					if _, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: payload, KeepPayloads: true}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, s, before, 1)
		})
	}
}

// fill enqueues n runs from many goroutines, so that they batch.
func fill(b *testing.B, s *sqlitestore.Store, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, _, err := s.Enqueue(context.Background(), store.NewRun{ID: fmt.Sprintf("run-%09d", i), Pipeline: "leads", Input: payload, KeepPayloads: true}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// work claims one run and takes it through a three-step pipeline: two
// checkpoints and a Finish carrying the last step's record.
func work(ctx context.Context, s *sqlitestore.Store, worker string) error {
	got, err := s.Claim(ctx, store.ClaimRequest{Worker: worker, Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	if err != nil || len(got) == 0 {
		return err
	}
	c := got[0]
	now := time.Now()
	for i, name := range []string{"parse", "classify"} {
		rec := store.StepRecord{Index: i, Step: name, Status: store.StepSucceeded, Input: payload, Output: payload, StartedAt: now, FinishedAt: now}
		if err := s.Checkpoint(ctx, c.Lease, rec); err != nil {
			return err
		}
	}
	last := store.StepRecord{Index: 2, Step: "draft", Status: store.StepSucceeded, Output: json.RawMessage(`"Hi Ada"`), StartedAt: now, FinishedAt: now}
	return s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: last.Output})
}

func BenchmarkClaimCheckpointFinish(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			s := benchOpen(b, sync)
			fill(b, s, b.N)
			ctx := context.Background()
			var w atomic.Int64
			before := s.WriteStats()
			b.SetParallelism(parallelism())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				worker := fmt.Sprintf("w%d", w.Add(1))
				for pb.Next() {
					if err := work(ctx, s, worker); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, s, before, 4)
		})
	}
}

// BenchmarkRun is the whole life of a run of a three-step pipeline: Enqueue,
// Claim, two Checkpoints and Finish. iter/s is runs/s.
func BenchmarkRun(b *testing.B) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		b.Run(sync, func(b *testing.B) {
			s := benchOpen(b, sync)
			ctx := context.Background()
			var n, w atomic.Int64
			before := s.WriteStats()
			b.SetParallelism(parallelism())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				worker := fmt.Sprintf("w%d", w.Add(1))
				for pb.Next() {
					id := fmt.Sprintf("run-%09d", n.Add(1))
					if _, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: payload, KeepPayloads: true}); err != nil {
						b.Error(err)
						return
					}
					if err := work(ctx, s, worker); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, s, before, 5)
		})
	}
}
