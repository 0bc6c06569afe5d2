package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Stats summarises pipelines from counters the schema's triggers keep
// (migration 9): runs by pipeline and status from run_counts, step
// outcomes from the whole minutes of the window in step_counts and the
// records of its first, partial minute from steps_stats. What is not a
// count (the queued runs held back now, the oldest pending review, the
// recoveries) is read from the few rows it concerns: the queue's index,
// the reviews' index and the table of recoveries of migration 10. The
// figures are fed to storekit.StatsAccumulator, so that what counts as
// deferred, pending or a recovery is decided in one place for every
// store.
func (s *Store) Stats(ctx context.Context, pipeline string, window time.Duration) ([]store.PipelineStats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.clock.Now()
	acc := storekit.NewStatsAccumulator(now, window)
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := statsRuns(ctx, tx, acc, pipeline, now); err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	if err := statsSteps(ctx, tx, acc, pipeline); err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	err = scanAll(ctx, tx, "SELECT "+pauseColumns+" FROM pauses WHERE ? = '' OR pipeline = ?", []any{pipeline, pipeline}, func(rows *sql.Rows) error {
		p, err := scanPause(rows)
		acc.AddPause(p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	return acc.Result(), nil
}

// Stats' reads of runs: the counters; the queued runs held back past now
// (a third of the queue at most, from its index), and of them those
// waiting for an event (from the open waits); the pending reviews'
// creation times (from runs_reviews alone, migration 10; a review the
// JSON functions cannot read is decoded in Go); and the recoveries,
// from run_recoveries (migration 10), which the triggers keep.
const (
	statsCounts   = "SELECT pipeline, status, n, branches FROM run_counts WHERE (n <> 0 OR branches <> 0)"
	statsDeferred = "SELECT pipeline, count(*) FROM runs INDEXED BY runs_queued_pipeline WHERE status = 'queued' AND not_before > ?"
	// The open waits (from waits_open, which holds only those) whose run
	// waits for them, queued until the deadline: storekit.AwaitingEvent.
	// It reads the waits still open, never the deferred runs.
	statsAwaiting = `SELECT w.pipeline, count(*) FROM waits w INDEXED BY waits_open
		JOIN runs r ON r.id = w.run_id AND r.attempt = w.attempt
		WHERE w.resolved_at = 0 AND r.status = 'queued' AND r.not_before > ?`
	statsReviews = `SELECT pipeline, json_extract(review, '$.created_at'), json_extract(review, '$.decision') IS NULL, NULL
		FROM runs INDEXED BY runs_reviews WHERE status = 'awaiting_review' AND json_valid(review)%[1]s
		UNION ALL SELECT pipeline, NULL, NULL, review
		FROM runs INDEXED BY runs_reviews_raw WHERE status = 'awaiting_review' AND NOT json_valid(review)%[1]s`
	statsRecovered = "SELECT pipeline, count(*), sum(ns) FROM run_recoveries"
)

// statsRuns counts runs from run_counts and reads the rest of Stats'
// figures of runs from the rows they concern.
func statsRuns(ctx context.Context, tx *sql.Tx, acc *storekit.StatsAccumulator, pipeline string, now time.Time) error {
	filter, args := "", []any(nil)
	if pipeline != "" {
		filter, args = " AND pipeline = ?", []any{pipeline}
	}
	err := scanAll(ctx, tx, statsCounts+filter, args, func(rows *sql.Rows) error {
		var name string
		var status store.Status
		var n, branches int
		err := rows.Scan(&name, &status, &n, &branches)
		acc.AddRuns(name, status, n, branches, 0)
		return err
	})
	if err != nil {
		return err
	}
	err = scanAll(ctx, tx, statsDeferred+filter+" GROUP BY pipeline", append([]any{nanos(now)}, args...), func(rows *sql.Rows) error {
		var name string
		var n int
		err := rows.Scan(&name, &n)
		acc.AddRuns(name, store.Queued, 0, 0, n)
		return err
	})
	if err != nil {
		return err
	}
	awaitFilter := ""
	if pipeline != "" {
		awaitFilter = " AND w.pipeline = ?"
	}
	err = scanAll(ctx, tx, statsAwaiting+awaitFilter+" GROUP BY w.pipeline", append([]any{nanos(now)}, args...), func(rows *sql.Rows) error {
		var name string
		var n int
		err := rows.Scan(&name, &n)
		acc.AddAwaiting(name, n)
		return err
	})
	if err != nil {
		return err
	}
	err = scanAll(ctx, tx, fmt.Sprintf(statsReviews, filter), append(slices.Clone(args), args...), func(rows *sql.Rows) error {
		var name string
		var created sql.NullString
		var pending sql.NullBool
		var blob []byte
		if err := rows.Scan(&name, &created, &pending, &blob); err != nil {
			return err
		}
		if blob != nil {
			var rv store.Review
			if err := json.Unmarshal(blob, &rv); err != nil {
				return fmt.Errorf("a review of pipeline %s: decode: %w", name, err)
			}
			if rv.Decision == nil {
				acc.AddReview(name, rv.CreatedAt)
			}
			return nil
		}
		if !pending.Bool {
			return nil
		}
		var at time.Time
		if created.Valid {
			t, err := time.Parse(time.RFC3339Nano, created.String)
			if err != nil {
				return fmt.Errorf("a review of pipeline %s: decode its time: %w", name, err)
			}
			at = t
		}
		acc.AddReview(name, at)
		return nil
	})
	if err != nil {
		return err
	}
	q := statsRecovered
	if pipeline != "" {
		q += " WHERE pipeline = ?"
	}
	return scanAll(ctx, tx, q+" GROUP BY pipeline", args, func(rows *sql.Rows) error {
		var name string
		var n int
		var total int64
		err := rows.Scan(&name, &n, &total)
		acc.AddRecoveries(name, n, time.Duration(total))
		return err
	})
}

// scanAll runs a query and calls scan for each row.
func scanAll(ctx context.Context, tx *sql.Tx, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stepBucket is step_counts' bucket: a minute, in nanoseconds.
const stepBucket = int64(time.Minute)

// floorBucket is the bucket of a time in nanoseconds, as the triggers of
// migration 9 compute it (floor division).
func floorBucket(ns int64) int64 {
	if ns >= 0 || ns%stepBucket == 0 {
		return ns / stepBucket
	}
	return ns/stepBucket - 1
}

// statsSteps counts step outcomes within the window: the whole minutes
// from step_counts, the records of the minute the window starts in (those
// after its start) from the steps_stats index.
func statsSteps(ctx context.Context, tx *sql.Tx, acc *storekit.StatsAccumulator, pipeline string) error {
	add := func(rows *sql.Rows) error {
		var name, step string
		var n, ok, failed int
		err := rows.Scan(&name, &step, &n, &ok, &failed)
		acc.AddSteps(name, step, n, ok, failed)
		return err
	}
	q := "SELECT pipeline, step, sum(n), sum(succeeded), sum(failed) FROM step_counts"
	var where []string
	var args []any
	if pipeline != "" {
		where, args = append(where, "pipeline = ?"), append(args, pipeline)
	}
	since := acc.Since()
	if since.IsZero() {
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		return scanAll(ctx, tx, q+" GROUP BY pipeline, step", args, add)
	}
	from := nanos(since)
	first := floorBucket(from)
	if first*stepBucket < from {
		first++
	}
	where, args = append(where, "bucket >= ?"), append(args, first)
	if err := scanAll(ctx, tx, q+" WHERE "+strings.Join(where, " AND ")+" GROUP BY pipeline, step", args, add); err != nil {
		return err
	}
	if first*stepBucket == from {
		return nil
	}
	// The records of the partial minute, pipeline by pipeline on the
	// index (every pipeline with steps has runs, so a row in run_counts).
	edge := `SELECT pipeline, step, count(*), sum(status = 'succeeded'), sum(status IN ('failed', 'deferred'))
		FROM steps INDEXED BY steps_stats WHERE pipeline IN (SELECT pipeline FROM run_counts WHERE ? IN ('', pipeline))
			AND finished_at >= ? AND finished_at < ? AND idx >= 0 GROUP BY pipeline, step`
	return scanAll(ctx, tx, edge, []any{pipeline, from, first * stepBucket}, add)
}

// pruneChunk bounds the runs one write of Prune deletes, so that other
// writes interleave with a large prune.
const pruneChunk = 1000

// Prune's selections of top-level succeeded runs: finished before a
// cutoff, and beyond the newest MaxRuns.
const (
	pruneOld = `SELECT id FROM runs INDEXED BY runs_succeeded
		WHERE status = 'succeeded' AND parent_id IS NULL AND finished_at < ? LIMIT ?`
	pruneBeyond = `SELECT id FROM runs INDEXED BY runs_succeeded
		WHERE status = 'succeeded' AND parent_id IS NULL ORDER BY finished_at DESC, id DESC LIMIT ? OFFSET ?`
)

// Prune deletes top-level succeeded runs past the retention limits: by
// age, then the oldest beyond MaxRuns, as memstore orders them (finish
// time, then id). Their branch runs go with them, and with every run its
// records, attempts and joins (ON DELETE CASCADE).
func (s *Store) Prune(ctx context.Context, ret store.Retention) (int, error) {
	ret = ret.WithDefaults()
	cutoff := nanos(s.clock.Now().Add(-ret.MaxAge))
	total := 0
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{pruneOld, []any{cutoff, pruneChunk}},
		{pruneBeyond, []any{pruneChunk, ret.MaxRuns}},
	} {
		for {
			var tops, n int64
			err := s.write(ctx, func(tx *writer) error {
				tops, n = 0, 0
				ids, err := tx.ids(q.sql, q.args...)
				if err != nil || len(ids) == 0 {
					return err
				}
				list, err := jsonBlob(ids)
				if err != nil {
					return err
				}
				tops = int64(len(ids))
				n, err = affected(tx.exec(pruneTrees, list))
				return err
			})
			if err != nil {
				return total, fmt.Errorf("sqlitestore: prune: %w", err)
			}
			total += int(n)
			if tops < pruneChunk {
				break
			}
		}
	}
	return total, nil
}

// pruneTrees deletes the runs of a JSON list of ids with their branch
// runs, and theirs.
const pruneTrees = `WITH RECURSIVE tree (id) AS (SELECT value FROM json_each(?)
	UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_id = t.id WHERE r.parent_id IS NOT NULL)
	DELETE FROM runs WHERE id IN tree`

// ids runs a query of run ids inside a write.
func (tx *writer) ids(q string, args ...any) ([]string, error) {
	rows, err := tx.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
