package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// GetRun returns a run with its whole timeline, read in one snapshot.
func (s *Store) GetRun(ctx context.Context, id string) (*store.RunDetail, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	// Prepare (or fetch) the statements before the transaction takes a
	// connection: preparing needs a connection of its own, and with every
	// pooled connection held by a transaction waiting to prepare, the pool
	// would deadlock.
	queries := []string{
		selectRun + " WHERE r.id = ?",
		"SELECT " + attemptColumns + " FROM attempts WHERE run_id = ? ORDER BY attempt",
		"SELECT " + stepColumns + " FROM steps WHERE run_id = ? ORDER BY seq",
	}
	prepared := map[string]*sql.Stmt{}
	for _, q := range queries {
		st, err := s.readStmt(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
		}
		prepared[q] = st
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	stmt := func(q string) (*sql.Stmt, error) {
		return tx.StmtContext(ctx, prepared[q]), nil
	}
	st, err := stmt(selectRun + " WHERE r.id = ?")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	r, err := scanRun(st.QueryRowContext(ctx, id))
	if isNoRows(err) {
		return nil, fmt.Errorf("sqlitestore: run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	d := &store.RunDetail{Run: r}
	if st, err = stmt("SELECT " + attemptColumns + " FROM attempts WHERE run_id = ? ORDER BY attempt"); err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	rows, err := st.QueryContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
		}
		d.Attempts = append(d.Attempts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	if st, err = stmt("SELECT " + stepColumns + " FROM steps WHERE run_id = ? ORDER BY seq"); err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	rows, err = st.QueryContext(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	if d.Steps, _, err = scanSteps(rows); err != nil {
		return nil, fmt.Errorf("sqlitestore: get run %s: %w", id, err)
	}
	storekit.SyncCurrentAttempt(d)
	return d, nil
}

// ListRuns lists runs, newest (greatest id) first. The filter is SQL, so
// that the indexes serve it; it means what storekit.Matches means.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	if err := storekit.CheckReviewOrder(f); err != nil {
		return store.RunPage{}, fmt.Errorf("sqlitestore: list runs: %w", err)
	}
	if err := s.enter(); err != nil {
		return store.RunPage{}, err
	}
	defer s.leave()
	if f.ReviewOrder {
		out, err := s.listByReview(ctx, f)
		if err != nil {
			return store.RunPage{}, fmt.Errorf("sqlitestore: list runs by review: %w", err)
		}
		return store.RunPage{Runs: out}, nil
	}
	out, err := s.listRuns(ctx, f)
	if err != nil {
		return store.RunPage{}, fmt.Errorf("sqlitestore: list runs: %w", err)
	}
	page, err := storekit.Page(out, f, func(before string) (int, error) {
		f.Before = before
		total := 0
		for _, part := range storekit.SplitUntil(f) {
			q, args := countQueryFrom(part.Filter, part.From)
			var n int
			if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	})
	if err != nil {
		return store.RunPage{}, fmt.Errorf("sqlitestore: count the runs past a page: %w", err)
	}
	return page, nil
}

// countQuery counts the runs a filter matches: the same conditions as
// the list, on the same indexes (pipeline and id, status and id, the
// children of a parent, top-level ids, an external id or a key), and
// stops one past f.CountLimit when there is one.
func countQuery(f store.RunFilter) (string, []any) { return countQueryFrom(f, "") }

// countQueryFrom is countQuery of the ids from from up.
func countQueryFrom(f store.RunFilter, from string) (string, []any) {
	where, args := listWhereFrom(f, from)
	if len(f.Status) > 0 {
		cond, st := statusIn(f.Status)
		where, args = append(where, cond), append(args, st...)
	}
	q := "SELECT count(*) FROM runs r"
	if f.CountLimit > 0 {
		q = "SELECT 1 FROM runs r"
	}
	if idx := lookupIndex(f); idx != "" {
		q += " INDEXED BY " + idx
	} else if deadLetterGroup(f) {
		q += " INDEXED BY runs_dead_letters"
		where = append(where, "r.status = 'dead_lettered'")
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.CountLimit > 0 {
		// One past the bound says there are more; in id order, as the
		// list walks, so that the walk starts at the page's end (in rowid
		// order, a filter that matches the newest runs would read them
		// last).
		return "SELECT count(*) FROM (" + q + " ORDER BY r.id DESC LIMIT ?)", append(args, f.CountLimit+1)
	}
	return q, args
}

// listByReview lists runs awaiting review oldest review first, from
// runs_review_order (migration 11) in the order of the reviews' times,
// to the limit; the page is sorted again in Go at the nanosecond. A
// lookup by key or external id sorts its few runs.
func (s *Store) listByReview(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	limit := storekit.LimitOrDefault(f.Limit)
	var q string
	var args []any
	if lookupIndex(f) != "" {
		f.ReviewOrder, f.Limit = false, 0
		q, args = listQuery(f)
		q = "SELECT * FROM (" + q + ")"
		args[len(args)-1] = -1 // every run of the lookup
	} else {
		where, wargs := listWhere(f)
		where = append([]string{"r.status = 'awaiting_review'", "json_valid(r.review)", "json_extract(r.review, '$.decision') IS NULL"}, where...)
		q = strings.Replace(selectRun, "FROM runs r", "FROM runs r INDEXED BY runs_review_order", 1) + " WHERE " + strings.Join(where, " AND ") +
			" ORDER BY julianday(json_extract(r.review, '$.created_at')), r.id LIMIT ?"
		args = append(wargs, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		if storekit.PendingReview(&r) {
			out = append(out, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	storekit.SortByReview(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// listRuns reads a page: in the parts storekit.SplitUntil makes of a
// list by Until (each on its indexes, newest first), up to the limit.
func (s *Store) listRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	limit := storekit.LimitOrDefault(f.Limit)
	var out []store.Run
	for _, part := range storekit.SplitUntil(f) {
		if len(out) >= limit {
			break
		}
		pf := part.Filter
		pf.Limit = limit - len(out)
		q, args := listQueryFrom(pf, part.From)
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scanRun(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listQuery builds ListRuns' query. Each status is a part of its own, on
// the index of its kind (queued, running, ended), that returns rows in id
// order and stops at the limit (the live ones sort the queue, which holds
// what is in flight); the parts' rows are merged.
func listQuery(f store.RunFilter) (string, []any) { return listQueryFrom(f, "") }

// listQueryFrom is listQuery of the ids from from up.
func listQueryFrom(f store.RunFilter, least string) (string, []any) {
	limit := storekit.LimitOrDefault(f.Limit)
	where, args := listWhereFrom(f, least)
	var statuses []store.Status
	for _, st := range f.Status {
		if !slices.Contains(statuses, st) {
			statuses = append(statuses, st)
		}
	}
	from := func(index string) string {
		return strings.Replace(selectRun, "FROM runs r", "FROM runs r INDEXED BY "+index, 1)
	}
	if idx := lookupIndex(f); idx != "" {
		// The runs of one external id or key are few: the statuses are
		// a filter on them.
		if len(statuses) > 0 {
			cond, st := statusIn(statuses)
			where, args = append(where, cond), append(args, st...)
		}
		return from(idx) + " WHERE " + strings.Join(where, " AND ") + " ORDER BY r.id DESC LIMIT ?", append(args, limit)
	}
	if len(statuses) == 0 {
		q := selectRun
		switch {
		case f.Parent != "":
			// A parent's children are few enough to sort.
			q = from("runs_children")
		case f.Pipeline != "":
			q = from("runs_pipeline")
		case f.TopLevel:
			q = from("runs_top_level")
		}
		if len(where) > 0 {
			q += " WHERE " + strings.Join(where, " AND ")
		}
		return q + " ORDER BY r.id DESC LIMIT ?", append(args, limit)
	}
	var parts []string
	var all []any
	// byID picks a live status's ids from its index (ordered by creation
	// or lease, not by id, so every live run of the filter is sorted),
	// then reads only the page's rows and their inputs.
	byID := func(index, cond string) string {
		sub := "SELECT r.id FROM runs r INDEXED BY " + index + " WHERE " + strings.Join(append([]string{cond}, where...), " AND ") +
			" ORDER BY r.id DESC LIMIT ?"
		return "SELECT * FROM (" + selectRun + " WHERE r.id IN (" + sub + ") ORDER BY r.id DESC)"
	}
	for _, st := range statuses {
		var q string
		var cond []string
		switch st {
		case store.Queued:
			index := "runs_queued"
			if f.Pipeline != "" {
				index = "runs_queued_pipeline"
			}
			parts = append(parts, byID(index, "r.status = 'queued'"))
			all = append(append(all, args...), limit)
			continue
		case store.Running:
			parts = append(parts, byID("runs_leased", "r.status = 'running'"))
			all = append(append(all, args...), limit)
			continue
		case store.DeadLettered:
			if deadLetterGroup(f) {
				// One group of dead letters (deadletters show, replay
				// --filter), newest first from its index alone.
				q, cond = from("runs_dead_letters"), []string{"r.status = 'dead_lettered'"}
				break
			}
			q, cond = from("runs_ended"), []string{"r.status NOT IN ('queued', 'running')", "r.status = ?"}
			all = append(all, string(st))
		default:
			// The partial index's condition, literally, so that SQLite
			// may use it.
			q, cond = from("runs_ended"), []string{"r.status NOT IN ('queued', 'running')", "r.status = ?"}
			all = append(all, string(st))
		}
		cond = append(cond, where...)
		parts = append(parts, "SELECT * FROM ("+q+" WHERE "+strings.Join(cond, " AND ")+" ORDER BY r.id DESC LIMIT ?)")
		all = append(all, args...)
		all = append(all, limit)
	}
	if len(parts) == 1 {
		return parts[0], all
	}
	return strings.Join(parts, " UNION ALL ") + " ORDER BY 1 DESC LIMIT ?", append(all, limit)
}

// deadLetterGroup reports whether f lists one group of dead letters
// (one pipeline's step and class), which runs_dead_letters holds.
func deadLetterGroup(f store.RunFilter) bool {
	return f.Pipeline != "" && f.Step != "" && f.Class != 0 && len(f.Status) > 0 &&
		!slices.ContainsFunc(f.Status, func(st store.Status) bool { return st != store.DeadLettered })
}

// lookupIndex names the index of a lookup by key or by external id, ""
// for a filter that is neither.
func lookupIndex(f store.RunFilter) string {
	switch {
	case f.IdempotencyKey != "":
		return "runs_idem_key"
	case f.ExternalID != "":
		return "runs_external_id"
	}
	return ""
}

// statusIn is the condition of a list of statuses.
func statusIn(statuses []store.Status) (string, []any) {
	args := make([]any, len(statuses))
	for i, st := range statuses {
		args[i] = string(st)
	}
	return "r.status IN (" + placeholders(len(statuses)) + ")", args
}

// listWhere is the filter's conditions but the status, which the list
// and the count each apply their own way.
func listWhere(f store.RunFilter) ([]string, []any) { return listWhereFrom(f, "") }

// listWhereFrom is listWhere of the ids from from up ("": all).
func listWhereFrom(f store.RunFilter, from string) ([]string, []any) {
	var where []string
	var args []any
	add := func(cond string, a any) {
		where = append(where, cond)
		args = append(args, a)
	}
	if from != "" {
		add("r.id >= ?", from)
	}
	if f.Pipeline != "" {
		add("r.pipeline = ?", f.Pipeline)
	}
	if f.Step != "" {
		add("r.step = ?", f.Step)
	}
	if f.Class != 0 {
		add("r.class = ?", int64(f.Class))
	}
	if !f.Since.IsZero() {
		add("r.updated_at >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		add("r.updated_at < ?", nanos(f.Until))
	}
	if f.Before != "" {
		add("r.id < ?", f.Before)
	}
	if f.Parent != "" {
		add("r.parent_id = ?", f.Parent)
	}
	if f.TopLevel {
		where = append(where, "r.parent_id IS NULL")
	}
	if f.ExternalID != "" {
		// The partial index's condition, literally, so that SQLite may
		// use it.
		where = append(where, "r.trigger_ext_id <> ''")
		add("r.trigger_ext_id = ?", f.ExternalID)
	}
	if f.IdempotencyKey != "" {
		add("r.idem_key = ?", f.IdempotencyKey)
	}
	return where, args
}

// loadRun reads a run with its input, inside a write.
func (tx *writer) loadRun(id, what string) (store.Run, error) {
	r, err := scanRun(tx.row(selectRun+" WHERE r.id = ?", id))
	if isNoRows(err) {
		return r, fmt.Errorf("sqlitestore: %s run %s: %w", what, id, store.ErrNotFound)
	}
	return r, err
}

// Replay starts a new attempt of a dead-lettered, cancelled or held run,
// as storekit.PlanReplay plans it, under the plan's version.
func (s *Store) Replay(ctx context.Context, req store.ReplayRequest) (*store.Run, error) {
	var out *store.Run
	err := s.write(ctx, func(tx *writer) error {
		r, err := tx.loadRun(req.RunID, "replay")
		if err != nil {
			return err
		}
		plan, err := tx.planReplay(&r, req)
		if err != nil {
			return err
		}
		from, now := r.Status, s.clock.Now()
		if err := tx.replay(&r, plan, store.Queued, now); err != nil {
			return err
		}
		if _, err := tx.changed(&r, from, now); err != nil {
			return err
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.signal.Notify()
	return out, nil
}

// planReplay plans a replay of r (read with its input) inside a write.
// Only a plan's refusal is not a database error.
func (tx *writer) planReplay(r *store.Run, req store.ReplayRequest) (*storekit.ReplayPlan, error) {
	recs, _, err := tx.runSteps(r.ID)
	if err != nil {
		return nil, err
	}
	def, err := tx.pipeline(r.Pipeline)
	if err != nil {
		return nil, err
	}
	return storekit.PlanReplay(r, recs, def, req)
}

// replay writes a planned replay: a new attempt of r, in status (Queued,
// or Waiting for a restarted branch beyond its fork's limit). The caller
// applies the change to r's join (changed).
func (tx *writer) replay(r *store.Run, plan *storekit.ReplayPlan, status store.Status, now time.Time) error {
	r.Attempt++
	r.Status = status
	r.Input = plan.RunInput
	r.Output, r.Step, r.Error, r.Class = nil, "", "", 0
	r.NotBefore, r.Deferrals, r.FinishedAt, r.Review = time.Time{}, 0, time.Time{}, nil
	r.Spent, r.Cancel = store.Spend{}, nil
	r.UpdatedAt, r.Version = now, plan.Version
	for _, rec := range plan.Carry {
		// A patched record built for a step with no checkpoint names
		// no run; the table needs it.
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		rec.StartedAt, rec.FinishedAt = now, now
		if err := tx.insertStep(r.Pipeline, &rec); err != nil {
			return err
		}
	}
	if err := tx.insertAttempt(r.ID, store.RunAttempt{Attempt: r.Attempt, Reason: plan.Reason,
		Input: plan.RunInput, Status: status, Version: plan.Version, StartedAt: now}); err != nil {
		return err
	}
	// What made the last attempt's dead letter unclassified was that
	// attempt's: a later end sets it anew.
	if _, err := tx.exec("UPDATE runs SET unclassified = 0 WHERE id = ? AND unclassified", r.ID); err != nil {
		return err
	}
	return tx.saveRun(r)
}

// pipeline reads a definition inside a write; nil when unknown.
func (tx *writer) pipeline(name string) (*store.PipelineDef, error) {
	var b []byte
	err := tx.row("SELECT def FROM pipelines WHERE name = ?", name).Scan(&b)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeDef(name, b)
}

func decodeDef(name string, b []byte) (*store.PipelineDef, error) {
	var d store.PipelineDef
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("sqlitestore: pipeline %q: decode definition: %w", name, err)
	}
	return &d, nil
}

// Decide records a person's decision on a run awaiting review, as
// storekit.ApplyDecision applies it.
func (s *Store) Decide(ctx context.Context, runID string, d store.Decision) (*store.Run, error) {
	var out *store.Run
	err := s.write(ctx, func(tx *writer) error {
		r, err := tx.loadRun(runID, "decide")
		if err != nil {
			return err
		}
		now, from := s.clock.Now(), r.Status
		rec, err := storekit.ApplyDecision(&r, d, now)
		if err != nil {
			return err
		}
		if err := tx.record(&r, rec); err != nil {
			return err
		}
		if err := tx.saveRun(&r); err != nil {
			return err
		}
		if err := tx.endAttempt(&r, now); err != nil {
			return err
		}
		if _, err := tx.changed(&r, from, now); err != nil {
			return err
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.signal.Notify()
	return out, nil
}

// EscalateReview marks an overdue review as escalated, once.
func (s *Store) EscalateReview(ctx context.Context, runID string) error {
	return s.write(ctx, func(tx *writer) error {
		r, err := scanRun(tx.row(selectRunLite+" WHERE r.id = ?", runID))
		if isNoRows(err) {
			return fmt.Errorf("sqlitestore: escalate run %s: %w", runID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if r.Status != store.AwaitingReview || r.Review == nil || r.Review.Escalated {
			return fmt.Errorf("sqlitestore: escalate run %s: %w", runID, store.ErrConflict)
		}
		r.Review.Escalated = true
		review, err := reviewBlob(r.Review)
		if err != nil {
			return err
		}
		_, err = tx.exec("UPDATE runs SET review = ? WHERE id = ?", review, runID)
		return err
	})
}

// Pipelines lists the registered pipelines by name.
func (s *Store) Pipelines(ctx context.Context) ([]store.PipelineDef, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.db.QueryContext(ctx, "SELECT name, def FROM pipelines ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list pipelines: %w", err)
	}
	defer rows.Close()
	var out []store.PipelineDef
	for rows.Next() {
		var name string
		var b []byte
		if err := rows.Scan(&name, &b); err != nil {
			return nil, fmt.Errorf("sqlitestore: list pipelines: %w", err)
		}
		d, err := decodeDef(name, b)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}

// Pipeline returns one pipeline's definition.
func (s *Store) Pipeline(ctx context.Context, name string) (*store.PipelineDef, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	st, err := s.readStmt(ctx, "SELECT def FROM pipelines WHERE name = ?")
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: pipeline %q: %w", name, err)
	}
	var b []byte
	err = st.QueryRowContext(ctx, name).Scan(&b)
	if isNoRows(err) {
		return nil, fmt.Errorf("sqlitestore: pipeline %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: pipeline %q: %w", name, err)
	}
	return decodeDef(name, b)
}

// DeadLetterGroups counts the dead-lettered runs f matches by pipeline,
// step and class from two indexes of the dead letters alone (migration
// 11): the groups from runs_dead_letter_groups, then each group's newest
// ids from runs_dead_letters, newest first, and the newest run's error.
// A lookup by key, external id or parent reads those few runs instead.
func (s *Store) DeadLetterGroups(ctx context.Context, f store.RunFilter) ([]store.DeadLetterGroup, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out, err := s.deadLetterGroups(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: group the dead letters: %w", err)
	}
	return out, nil
}

func (s *Store) deadLetterGroups(ctx context.Context, f store.RunFilter) ([]store.DeadLetterGroup, error) {
	f.Status, f.Before = nil, ""
	where, args := listWhere(f)
	where = append(where, "r.status = 'dead_lettered'")
	groupsIdx, idsIdx := "runs_dead_letter_groups", "runs_dead_letters"
	switch {
	case lookupIndex(f) != "":
		groupsIdx, idsIdx = lookupIndex(f), lookupIndex(f)
	case f.Parent != "":
		groupsIdx, idsIdx = "runs_children", "runs_children"
	}
	cond := " WHERE " + strings.Join(where, " AND ")
	// The inner grouping follows the index (group, then error): each
	// message once, with nothing sorted.
	rows, err := s.db.QueryContext(ctx, `SELECT pipeline, step, class, unclassified, sum(n), sum(branches), count(*), min(oldest), max(newest) FROM (
		SELECT r.pipeline, r.step, r.class, r.unclassified, r.error, count(*) AS n, sum(r.parent_id IS NOT NULL) AS branches,
			min(r.updated_at) AS oldest, max(r.updated_at) AS newest
		FROM runs r INDEXED BY `+groupsIdx+cond+` GROUP BY r.pipeline, r.step, r.class, r.unclassified, r.error)
		GROUP BY pipeline, step, class, unclassified`, args...)
	if err != nil {
		return nil, err
	}
	var out []store.DeadLetterGroup
	for rows.Next() {
		var g store.DeadLetterGroup
		var class, oldest, newest int64
		if err := rows.Scan(&g.Pipeline, &g.Step, &class, &g.Unclassified, &g.Count, &g.Branches, &g.Errors, &oldest, &newest); err != nil {
			rows.Close()
			return nil, err
		}
		g.Class, g.Oldest, g.Newest, g.RunIDs = retry.Class(class), fromNanos(oldest), fromNanos(newest), []string{}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Each group's newest ids, walking runs_dead_letters backwards, and
	// the newest one's error.
	limit := storekit.LimitOrDefault(f.Limit)
	ids := `SELECT r.id, r.parent_id FROM runs r INDEXED BY ` + idsIdx + cond +
		` AND r.pipeline = ? AND r.step = ? AND r.class = ? AND r.unclassified = ? ORDER BY r.id DESC LIMIT ?`
	for i := range out {
		g := &out[i]
		rows, err := s.db.QueryContext(ctx, ids, append(slices.Clone(args), g.Pipeline, g.Step, int64(g.Class), g.Unclassified, limit)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var parent sql.NullString
			if err := rows.Scan(&id, &parent); err != nil {
				rows.Close()
				return nil, err
			}
			g.RunIDs = append(g.RunIDs, id)
			if parent.Valid {
				storekit.AddParent(g, parent.String)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if len(g.RunIDs) > 0 {
			if err := s.db.QueryRowContext(ctx, "SELECT error FROM runs WHERE id = ?", g.RunIDs[0]).Scan(&g.SampleError); err != nil {
				return nil, err
			}
		}
	}
	storekit.SortGroups(out)
	return out, nil
}

// StepHistory counts each step's outcomes per bucket from step_counts,
// the per-minute counters Stats reads (migration 9), summed in SQL.
func (s *Store) StepHistory(ctx context.Context, pipeline string, since time.Time, bucket time.Duration) ([]store.StepBucket, error) {
	start, err := store.StepHistoryBuckets(since, s.clock.Now(), bucket)
	if err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	first, per := start.Unix()/60, int64(bucket/time.Minute)
	rows, err := s.db.QueryContext(ctx, `SELECT (bucket - ?) / ? AS k, pipeline, step, sum(n), sum(succeeded), sum(failed)
		FROM step_counts WHERE bucket >= ? AND ? IN ('', pipeline) GROUP BY k, pipeline, step`, first, per, first, pipeline)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: step history: %w", err)
	}
	defer rows.Close()
	h := storekit.NewStepHistory(start, bucket)
	for rows.Next() {
		var k int64
		var name, step string
		var n, ok, failed int
		if err := rows.Scan(&k, &name, &step, &n, &ok, &failed); err != nil {
			return nil, fmt.Errorf("sqlitestore: step history: %w", err)
		}
		h.AddMinute(first+k*per, name, step, n, ok, failed)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: step history: %w", err)
	}
	return h.Result(), nil
}
