package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// leadPipeline is the record-size benchmark's pipeline: three steps that
// carry the ~1 KB Lead on, each changing a field, with contracts on (the
// steps' JSON Schemas are checked, as in production). last counts the
// third steps run.
func leadPipeline(st store.Store, last *atomic.Int64) *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	sc := step.Config{Retry: retry.Never}
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	qualify := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		l.Stage = "qualified"
		return l, nil
	}
	score := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) { l.Score += 5; return l, nil }
	contact := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		last.Add(1)
		l.Stage = "contacted"
		return l, nil
	}
	p := pipeline.New(rt, "leads", step.New("qualify", qualify, sc), pol)
	p = pipeline.Then(p, step.New("score", score, sc))
	return pipeline.Then(p, step.New("contact", contact, sc))
}

// BenchmarkRecordSize measures the disk a succeeded 3-step run of the
// ~1 KB Lead takes: b.N runs are submitted and executed by a worker, then
// the store's tables are vacuumed and pg_total_relation_size (heap,
// indexes, TOAST) of each, summed, is divided by b.N (B/run);
// <table>-B/run splits it, and the test log splits each table into heap,
// indexes and TOAST. Run it with
//
//	go test -run '^$' -bench RecordSize -benchtime 20000x ./store/pgstore/
func BenchmarkRecordSize(b *testing.B) {
	schema := freshSchema(b)
	st := openStoreDSN(b, withParam(testDSN(b), "pool_max_conns", "16"), pgstore.Config{Schema: schema})
	var last atomic.Int64
	p := leadPipeline(st, &last)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
				if _, err := p.Submit(ctx, benchfixture.NewLead(i), pipeline.SubmitOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(wctx, pipeline.WorkerConfig{Concurrency: 64, Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	for last.Load() < int64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		stats, err := st.Stats(ctx, "leads", time.Nanosecond)
		if err != nil {
			b.Fatal(err)
		}
		if len(stats) == 1 && stats[0].ByStatus[store.Succeeded] >= b.N {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if b.N < 100 {
		return // the framework's first probe: too few runs to measure
	}
	pool := admin(b)
	q := pgx.Identifier{schema}.Sanitize()
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`, schema)
	if err != nil {
		b.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	n := float64(b.N)
	var total int64
	for _, t := range tables {
		rel := q + "." + pgx.Identifier{t}.Sanitize()
		if _, err := pool.Exec(ctx, "VACUUM "+rel); err != nil {
			b.Fatal(err)
		}
		var all, heap, idx, toast int64
		if err := pool.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass), pg_relation_size($1::regclass),
			pg_indexes_size($1::regclass), coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0)
			FROM pg_class WHERE oid = $1::regclass`, rel).Scan(&all, &heap, &idx, &toast); err != nil {
			b.Fatal(err)
		}
		total += all
		if float64(all)/n >= 1 {
			b.ReportMetric(float64(all)/n, t+"-B/run")
		}
		fmt.Fprintf(os.Stderr, "%-12s %8.1f B/run: heap %8.1f, indexes %8.1f, TOAST %6.1f\n", t, float64(all)/n, float64(heap)/n, float64(idx)/n, float64(toast)/n)
		irows, err := pool.Query(ctx, `SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index WHERE indrelid = $1::regclass`, rel)
		if err != nil {
			b.Fatal(err)
		}
		for irows.Next() {
			var name string
			var size int64
			if err := irows.Scan(&name, &size); err != nil {
				b.Fatal(err)
			}
			if float64(size)/n >= 1 {
				fmt.Fprintf(os.Stderr, "    index %-40s %8.1f B/run\n", name, float64(size)/n)
			}
		}
		irows.Close()
	}
	var avg [4]float64
	if err := pool.QueryRow(ctx, `SELECT (SELECT avg(length(input)) FROM `+q+`.attempts), (SELECT avg(length(output)) FROM `+q+`.steps), (SELECT avg(length(attempts)) FROM `+q+`.steps),
		(SELECT avg(length(output)) FROM `+q+`.runs) FROM `+q+`.runs`).Scan(&avg[0], &avg[1], &avg[2], &avg[3]); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "average bytes: attempts.input %.0f, steps.output %.0f, steps.attempts %.0f, runs.output %.0f\n", avg[0], avg[1], avg[2], avg[3])
	b.ReportMetric(float64(total)/n, "B/run")
	// VACUUM leaves the heap the size the update churn of the runs in
	// flight made it (a store that goes on reuses that space); VACUUM FULL
	// rewrites each table and index compactly: what the records take.
	var compact int64
	for _, t := range tables {
		rel := q + "." + pgx.Identifier{t}.Sanitize()
		if _, err := pool.Exec(ctx, "VACUUM FULL "+rel); err != nil {
			b.Fatal(err)
		}
		var all int64
		if err := pool.QueryRow(ctx, "SELECT pg_total_relation_size($1::regclass)", rel).Scan(&all); err != nil {
			b.Fatal(err)
		}
		compact += all
		fmt.Fprintf(os.Stderr, "compacted %-12s %8.1f B/run\n", t, float64(all)/n)
	}
	b.ReportMetric(float64(compact)/n, "compacted-B/run")
}
