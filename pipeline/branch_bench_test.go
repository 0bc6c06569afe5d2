package pipeline_test

import (
	"context"
	"log/slog"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// fanOutChildren is the size of the fan-out BenchmarkFanOut10k measures.
const fanOutChildren = 10_000

// fanOutPipeline is a parent that splits an item into n elements, fans
// them out through a one-step sub-pipeline (each element a branch run),
// and counts the results.
func fanOutPipeline(st store.Store, n int) *pipeline.Pipeline[Item, int] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	sc := step.Config{Retry: retry.Never}
	publish := pipeline.New(rt, "publish", step.New("send", func(_ context.Context, it Item) (Item, error) {
		it.N++
		return it, nil
	}, sc), pol)
	split := step.New("split", func(_ context.Context, it Item) ([]Item, error) {
		out := make([]Item, n)
		for i := range out {
			out[i] = Item{N: i, Note: it.Note}
		}
		return out, nil
	}, sc)
	p := pipeline.New(rt, "article", split, pol)
	fan := pipeline.FanOut(p, "publish-all", publish, pipeline.FanOutOptions{})
	return pipeline.Then(fan, step.New("count", func(_ context.Context, items []Item) (int, error) {
		return len(items), nil
	}, sc))
}

// BenchmarkFanOut10k measures one fan-out of 10,000 branch runs per
// parent: from the parent's submit to its success, with one worker at
// concurrency 64. It reports children/s (the children's share of that
// time: from the fork to the last child's end), the time from the last
// child's end to the parent's resume, and the process's peak RSS (run one
// case alone, -benchtime 1x, for a figure of that case only). On
// PostgreSQL, "postgres-plain" drains 10,000 top-level runs on the same
// server in the same run, for comparison: one-step runs, the children's
// shape, with the same worker. BENCHMARKS.md records it.
func BenchmarkFanOut10k(b *testing.B) {
	b.Run("sqlite-FULL", func(b *testing.B) { benchFanOut(b, openBench(b, "FULL")) })
	b.Run("postgres", func(b *testing.B) { benchFanOut(b, openBenchPG(b)) })
	b.Run("postgres-plain", func(b *testing.B) {
		st := openBenchPG(b)
		// The children's shape: one step that passes the item on.
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
		p := pipeline.New(rt, "plain", step.New("send", func(_ context.Context, it Item) (Item, error) {
			finished.Add(1)
			it.N++
			return it, nil
		}, step.Config{Retry: retry.Never}), pipeline.Policy{Outage: pipeline.NoOutage})
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			for j := 0; j < fanOutChildren; j++ {
				if _, err := p.Submit(ctx, Item{N: j, Note: "a post"}, pipeline.SubmitOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			start := time.Now()
			drain(b, st, p, "plain", (i+1)*fanOutChildren, 64)
			b.ReportMetric(fanOutChildren/time.Since(start).Seconds(), "runs/s")
		}
	})
}

func benchFanOut(b *testing.B, st store.Store) {
	p := fanOutPipeline(st, fanOutChildren)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Concurrency: 64, Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	var childRate, resume []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := p.Submit(ctx, Item{Note: "an article for many platforms"}, pipeline.SubmitOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var d *store.RunDetail
		for {
			d, err = st.GetRun(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if d.Run.Status.Final() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if d.Run.Status != store.Succeeded {
			b.Fatalf("parent %s: %s at %s: %s", id, d.Run.Status, d.Run.Step, d.Run.Error)
		}
		kids, err := st.Branches(ctx, store.BranchQuery{Parent: id})
		if err != nil {
			b.Fatal(err)
		}
		if len(kids) != fanOutChildren {
			b.Fatalf("%d children, want %d", len(kids), fanOutChildren)
		}
		var lastEnd time.Time
		for _, k := range kids {
			if k.Status != store.Succeeded {
				b.Fatalf("child %s: %s", k.RunID, k.Status)
			}
			if k.UpdatedAt.After(lastEnd) {
				lastEnd = k.UpdatedAt
			}
		}
		var forked, joined time.Time
		for _, rec := range d.Steps {
			switch {
			case rec.Step == "publish-all" && rec.Status == store.StepWaiting:
				forked = rec.FinishedAt
			case rec.Step == "publish-all" && rec.Status == store.StepSucceeded:
				joined = rec.StartedAt
			}
		}
		if forked.IsZero() || joined.IsZero() {
			b.Fatalf("parent %s has no fork or join record", id)
		}
		childRate = append(childRate, fanOutChildren/lastEnd.Sub(forked).Seconds())
		resume = append(resume, float64(joined.Sub(lastEnd).Microseconds())/1000)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(median(childRate), "children/s")
	b.ReportMetric(median(resume), "resume-ms")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// openBenchPG opens a fresh schema on the server PLUMB_TEST_POSTGRES_DSN
// names.
func openBenchPG(b *testing.B) *pgstore.Store {
	dsn, schema := pgSchema(b, "plumb_bench_")
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}
