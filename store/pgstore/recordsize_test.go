package pgstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

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
	ctx := context.Background()
	b.ResetTimer()
	storetest.RecordSizeRuns(b, st, b.N)
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
