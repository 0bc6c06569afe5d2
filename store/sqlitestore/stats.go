package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Stats summarises pipelines. SQL groups and counts (a store may hold
// hundreds of thousands of runs); the counts are fed to
// storekit.StatsAccumulator, so that what counts as deferred, pending or a
// recovery is decided in one place for every store.
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
	if err := statsSteps(ctx, tx, acc, pipeline, now, window); err != nil {
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

const statsBranches = "SELECT pipeline, count(*) FROM runs INDEXED BY runs_children WHERE parent_id IS NOT NULL"

// statsRuns counts runs. Most need only their pipeline and status (and,
// queued, whether they are held back), so they are counted in groups from
// indexes; runs awaiting review (their review's age) and succeeded replays
// (a possible recovery) are read one by one.
func statsRuns(ctx context.Context, tx *sql.Tx, acc *storekit.StatsAccumulator, pipeline string, now time.Time) error {
	type key struct {
		pipeline string
		status   store.Status
	}
	counts := map[key]int{}
	deferred := map[string]int{}
	filter, args := "", []any(nil)
	if pipeline != "" {
		filter, args = " AND pipeline = ?", []any{pipeline}
	}
	count := func(rows *sql.Rows) error {
		var k key
		var n, later int
		err := rows.Scan(&k.pipeline, &k.status, &n, &later)
		counts[k] += n
		deferred[k.pipeline] += later
		return err
	}
	// Each kind of status from its own covering index.
	for _, q := range []string{
		"SELECT pipeline, 'queued', count(*), sum(not_before > ?) FROM runs INDEXED BY runs_queued_pipeline WHERE status = 'queued'" + filter + " GROUP BY pipeline",
		"SELECT pipeline, 'running', count(*), ? * 0 FROM runs INDEXED BY runs_leased WHERE status = 'running'" + filter + " GROUP BY pipeline",
		"SELECT pipeline, status, count(*), ? * 0 FROM runs INDEXED BY runs_ended WHERE status NOT IN ('queued', 'running')" + filter + " GROUP BY pipeline, status",
	} {
		if err := scanAll(ctx, tx, q, append([]any{nanos(now)}, args...), count); err != nil {
			return err
		}
	}
	// Branch runs are counted by pipeline from their own index; the
	// accumulator is given that many runs with a parent.
	branches := map[string]int{}
	err := scanAll(ctx, tx, statsBranches+filter+" GROUP BY pipeline",
		args, func(rows *sql.Rows) error {
			var name string
			var n int
			err := rows.Scan(&name, &n)
			branches[name] = n
			return err
		})
	if err != nil {
		return err
	}
	branch := &store.Parent{}
	var details []store.Run
	err = scanAll(ctx, tx, "SELECT id, pipeline, status, finished_at, review, parent_id IS NOT NULL FROM runs INDEXED BY runs_ended WHERE status NOT IN ('queued', 'running') AND status = 'awaiting_review'"+filter+
		" UNION ALL SELECT id, pipeline, status, finished_at, NULL, parent_id IS NOT NULL FROM runs INDEXED BY runs_recovered WHERE status = 'succeeded' AND attempt > 1"+filter,
		append(args, args...), func(rows *sql.Rows) error {
			var r store.Run
			var finished int64
			var review []byte
			var child bool
			if err := rows.Scan(&r.ID, &r.Pipeline, &r.Status, &finished, &review, &child); err != nil {
				return err
			}
			if child {
				r.Parent = branch
				branches[r.Pipeline]--
			}
			r.FinishedAt = fromNanos(finished)
			if review != nil {
				r.Review = new(store.Review)
				if err := json.Unmarshal(review, r.Review); err != nil {
					return fmt.Errorf("run %s: decode review: %w", r.ID, err)
				}
			}
			details = append(details, r)
			return nil
		})
	if err != nil {
		return err
	}
	for i := range details {
		r := &details[i]
		var attempts []store.RunAttempt
		if r.Status == store.Succeeded {
			if attempts, err = attemptOutcomes(ctx, tx, r.ID); err != nil {
				return err
			}
		}
		acc.AddRun(r, attempts)
		counts[key{r.Pipeline, r.Status}]--
	}
	add := func(r store.Run) {
		if branches[r.Pipeline] > 0 {
			r.Parent = branch
			branches[r.Pipeline]--
		}
		acc.AddRun(&r, nil)
	}
	for k, n := range counts {
		r := store.Run{Pipeline: k.pipeline, Status: k.status}
		if k.status == store.Queued {
			// Deferred runs are counted with a NotBefore after now, so
			// that the accumulator counts them as it counts every run.
			later := r
			later.NotBefore = now.Add(time.Nanosecond)
			for range deferred[k.pipeline] {
				add(later)
			}
			n -= deferred[k.pipeline]
		}
		for range n {
			add(r)
		}
	}
	return nil
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

// attemptOutcomes reads a run's attempts without their inputs.
func attemptOutcomes(ctx context.Context, tx *sql.Tx, id string) ([]store.RunAttempt, error) {
	rows, err := tx.QueryContext(ctx, "SELECT attempt, reason, NULL, status, step, error, class, started_at, finished_at, version, version_label FROM attempts WHERE run_id = ? ORDER BY attempt", id)
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
func statsSteps(ctx context.Context, tx *sql.Tx, acc *storekit.StatsAccumulator, pipeline string, now time.Time, window time.Duration) error {
	q := "SELECT pipeline, step, status, count(*) FROM steps INDEXED BY steps_stats WHERE idx >= 0"
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
