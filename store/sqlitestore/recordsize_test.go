package sqlitestore_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storetest"
)

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
	b.ResetTimer()
	storetest.RecordSizeRuns(b, st, b.N)
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
