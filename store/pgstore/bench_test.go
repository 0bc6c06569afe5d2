package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// Run the benchmarks against the server .ci/postgres.sh starts with
//
//	go test -run '^$' -bench . -benchtime 20000x ./store/pgstore/
//
// They report runs/s and store calls/s besides ns/op. The pool has 16
// connections and the parallel benchmarks run 16 goroutines per CPU.

const benchParallelism = 16

// payload is the shared ~1.3 KB benchmark value as JSON.
var payload = func() json.RawMessage {
	b, err := json.Marshal(benchfixture.Sample())
	if err != nil {
		panic(err)
	}
	return b
}()

func benchStore(b *testing.B) *pgstore.Store {
	b.Helper()
	return openStoreDSN(b, withParam(testDSN(b), "pool_max_conns", "16"), pgstore.Config{})
}

func BenchmarkEnqueue(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		s := benchStore(b)
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			if _, _, err := s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%09d", i), Pipeline: "leads", Input: payload, KeepPayloads: true}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		s := benchStore(b)
		ctx := context.Background()
		var n atomic.Int64
		b.SetParallelism(benchParallelism)
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
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
	})
}

// BenchmarkClaimCheckpointFinish is a worker's store traffic per run:
// claims of up to four runs at a time, two checkpoints and a Finish that
// writes the last step's record, from many goroutines at once.
func BenchmarkClaimCheckpointFinish(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	// Every goroutine may hold a claim of four runs it has no iteration
	// left for: enqueue enough that the others never run dry.
	total := b.N + 4*benchParallelism*32
	fill(b, s, total)
	var calls atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		worker := fmt.Sprintf("w%p", pb)
		var held []store.Claimed
		for pb.Next() {
			for len(held) == 0 {
				got, err := s.Claim(ctx, store.ClaimRequest{Worker: worker, Pipelines: []string{"leads"}, Limit: 4, Lease: time.Minute})
				if err != nil {
					b.Error(err)
					return
				}
				calls.Add(1)
				held = got
			}
			c := held[0]
			held = held[1:]
			for i, name := range []string{"parse", "classify"} {
				rec := store.StepRecord{Index: i, Step: name, Status: store.StepSucceeded, Output: payload, StartedAt: time.Now(), FinishedAt: time.Now()}
				if err := s.Checkpoint(ctx, c.Lease, rec); err != nil {
					b.Error(err)
					return
				}
			}
			last := store.StepRecord{Index: 2, Step: "draft", Status: store.StepSucceeded, Output: payload, StartedAt: time.Now(), FinishedAt: time.Now()}
			if err := s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: payload}); err != nil {
				b.Error(err)
				return
			}
			calls.Add(3)
		}
	})
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "runs/s")
	b.ReportMetric(float64(calls.Load())/secs, "calls/s")
	if ws := s.WriteStats(); ws.Batches > 0 {
		b.ReportMetric(float64(ws.Ops)/float64(ws.Batches), "writes/commit")
	}
}

// fill enqueues n runs before the timer starts.
func fill(b *testing.B, s *pgstore.Store, n int) {
	b.Helper()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range benchParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, _, err := s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%09d", i), Pipeline: "leads", Input: payload, KeepPayloads: true}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
