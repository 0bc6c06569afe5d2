package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// Stats summarises pipelines. SQL groups and counts (a store may hold
// hundreds of thousands of runs); the counts are fed to
// store.StatsAccumulator, so that what counts as deferred, pending or a
// recovery is decided in one place for every store.
func (s *Store) Stats(ctx context.Context, pipeline string, window time.Duration) ([]store.PipelineStats, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	now := s.clock.Now()
	acc := store.NewStatsAccumulator(now, window)
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := statsRuns(ctx, tx, acc, pipeline, now); err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	if err := statsSteps(ctx, tx, acc, pipeline, now, window); err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+pauseColumns+" FROM pauses WHERE ? = '' OR pipeline = ?", pipeline, pipeline)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPause(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: stats: %w", err)
		}
		acc.AddPause(p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: stats: %w", err)
	}
	return acc.Result(), nil
}

// statsRuns counts runs. Most need only their pipeline and status (and,
// queued, whether they are held back), so they are counted in groups; runs
// awaiting review (their review's age) and succeeded replays (a possible
// recovery) are read one by one.
func statsRuns(ctx context.Context, tx *sql.Tx, acc *store.StatsAccumulator, pipeline string, now time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT pipeline, status, not_before > ?, count(*) FROM runs
		WHERE (? = '' OR pipeline = ?) AND status != 'awaiting_review' AND NOT (status = 'succeeded' AND attempt > 1)
		GROUP BY 1, 2, 3`, nanos(now), pipeline, pipeline)
	if err != nil {
		return err
	}
	for rows.Next() {
		var r store.Run
		var status string
		var later bool
		var n int
		if err := rows.Scan(&r.Pipeline, &status, &later, &n); err != nil {
			rows.Close()
			return err
		}
		r.Status = store.Status(status)
		if later {
			r.NotBefore = now.Add(time.Nanosecond)
		}
		for range n {
			acc.AddRun(&r, nil)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	rows, err = tx.QueryContext(ctx, `SELECT id, pipeline, status, not_before, finished_at, review FROM runs
		WHERE (? = '' OR pipeline = ?) AND (status = 'awaiting_review' OR (status = 'succeeded' AND attempt > 1))`, pipeline, pipeline)
	if err != nil {
		return err
	}
	type detail struct {
		run      store.Run
		attempts []store.RunAttempt
	}
	var details []detail
	for rows.Next() {
		var r store.Run
		var status string
		var notBefore, finished int64
		var review []byte
		if err := rows.Scan(&r.ID, &r.Pipeline, &status, &notBefore, &finished, &review); err != nil {
			rows.Close()
			return err
		}
		r.Status, r.NotBefore, r.FinishedAt = store.Status(status), fromNanos(notBefore), fromNanos(finished)
		if review != nil {
			r.Review = new(store.Review)
			if err := json.Unmarshal(review, r.Review); err != nil {
				rows.Close()
				return fmt.Errorf("run %s: decode review: %w", r.ID, err)
			}
		}
		details = append(details, detail{run: r})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range details {
		d := &details[i]
		if d.run.Status == store.Succeeded {
			if d.attempts, err = attemptOutcomes(ctx, tx, d.run.ID); err != nil {
				return err
			}
		}
		acc.AddRun(&d.run, d.attempts)
	}
	return nil
}

// attemptOutcomes reads a run's attempts without their inputs.
func attemptOutcomes(ctx context.Context, tx *sql.Tx, id string) ([]store.RunAttempt, error) {
	rows, err := tx.QueryContext(ctx, "SELECT attempt, reason, NULL, status, step, error, class, started_at, finished_at FROM attempts WHERE run_id = ? ORDER BY attempt", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.RunAttempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// statsSteps counts step outcomes within the window from the steps_stats
// index alone.
func statsSteps(ctx context.Context, tx *sql.Tx, acc *store.StatsAccumulator, pipeline string, now time.Time, window time.Duration) error {
	q := "SELECT pipeline, step, status, count(*) FROM steps WHERE idx >= 0"
	var args []any
	if window > 0 {
		q += " AND finished_at >= ?"
		args = append(args, nanos(now.Add(-window)))
	}
	if pipeline != "" {
		q += " AND pipeline = ?"
		args = append(args, pipeline)
	}
	rows, err := tx.QueryContext(ctx, q+" GROUP BY 1, 2, 3", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pipe string
		var rec store.StepRecord
		var status string
		var n int
		if err := rows.Scan(&pipe, &rec.Step, &status, &n); err != nil {
			return err
		}
		rec.Status, rec.FinishedAt = store.StepStatus(status), now
		for range n {
			acc.AddStep(pipe, &rec)
		}
	}
	return rows.Err()
}

// pruneChunk bounds the runs one write of Prune deletes, so that other
// writes interleave with a large prune.
const pruneChunk = 1000

// Prune deletes succeeded runs past the retention limits: by age, then the
// oldest beyond MaxRuns, as memstore orders them (finish time, then id).
// Their records and attempts go with them (ON DELETE CASCADE).
func (s *Store) Prune(ctx context.Context, ret store.Retention) (int, error) {
	ret = ret.WithDefaults()
	cutoff := nanos(s.clock.Now().Add(-ret.MaxAge))
	total := 0
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM runs WHERE rowid IN (SELECT rowid FROM runs WHERE status = 'succeeded' AND finished_at < ? LIMIT ?)`,
			[]any{cutoff, pruneChunk}},
		{`DELETE FROM runs WHERE rowid IN (SELECT rowid FROM runs WHERE status = 'succeeded'
			ORDER BY finished_at DESC, id DESC LIMIT ? OFFSET ?)`, []any{pruneChunk, ret.MaxRuns}},
	} {
		for {
			var n int64
			err := s.write(ctx, func(tx *writer) (err error) {
				n, err = affected(tx.exec(q.sql, q.args...))
				return err
			})
			if err != nil {
				return total, fmt.Errorf("sqlitestore: prune: %w", err)
			}
			total += int(n)
			if n < pruneChunk {
				break
			}
		}
	}
	return total, nil
}
