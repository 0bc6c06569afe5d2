package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
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
// the WAL is checkpointed into the main file and its size divided by b.N
// (B/run), again after VACUUM (vacuumed-B/run); dbstat splits the vacuumed
// file by table and index (<name>-B/run). Run it with
//
//	go test -run '^$' -bench RecordSize -benchtime 20000x ./store/sqlitestore/
func BenchmarkRecordSize(b *testing.B) {
	path := filepath.Join(b.TempDir(), "size.db")
	st, err := sqlitestore.Open(path, sqlitestore.Config{Synchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
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
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	size := func() int64 {
		if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			b.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		return fi.Size()
	}
	n := float64(b.N)
	b.ReportMetric(float64(size())/n, "B/run")
	if _, err := db.Exec("VACUUM"); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size())/n, "vacuumed-B/run")
	rows, err := db.Query("SELECT name, sum(pgsize), sum(payload), sum(unused) FROM dbstat GROUP BY name")
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	type part struct {
		name                   string
		pages, payload, unused int64
	}
	var parts []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.name, &p.pages, &p.payload, &p.unused); err != nil {
			b.Fatal(err)
		}
		parts = append(parts, p)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].pages > parts[j].pages })
	for _, p := range parts {
		if float64(p.pages)/n < 1 {
			continue
		}
		if float64(p.pages)/n >= 1 {
			b.ReportMetric(float64(p.pages)/n, p.name+"-B/run")
		}
		fmt.Fprintf(os.Stderr, "%-28s %8.1f B/run on pages, %8.1f B/run of payload, %6.1f B/run unused\n", p.name, float64(p.pages)/n, float64(p.payload)/n, float64(p.unused)/n)
	}
	var avg [4]float64
	if err := db.QueryRow(`SELECT avg(length(input)), (SELECT avg(length(output)) FROM steps), (SELECT avg(length(attempts)) FROM steps),
		(SELECT avg(length(output)) FROM runs) FROM attempts`).Scan(&avg[0], &avg[1], &avg[2], &avg[3]); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "average bytes: attempts.input %.0f, steps.output %.0f, steps.attempts %.0f, runs.output %.0f\n", avg[0], avg[1], avg[2], avg[3])
	_ = fmt.Sprint
}
