package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// GetRun returns a run with its whole timeline, read from one snapshot in
// one round trip (a REPEATABLE READ transaction sent as a batch).
func (s *Store) GetRun(ctx context.Context, id string) (*store.RunDetail, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	b.Queue(s.q.runByID, id)
	b.Queue(s.q.getAttempts, id)
	b.Queue(s.q.getSteps, id)
	b.Queue("COMMIT")
	br := s.pool.SendBatch(ctx, b)
	d, err := readDetail(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if isNoRows(err) {
		return nil, fmt.Errorf("pgstore: run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("get run "+id, err)
	}
	return d, nil
}

func readDetail(br pgx.BatchResults) (*store.RunDetail, error) {
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	r, err := scanRun(br.QueryRow())
	if err != nil {
		return nil, err
	}
	d := &store.RunDetail{Run: r}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	d.Attempts, err = collect(rows, func(row pgx.CollectableRow) (store.RunAttempt, error) { return scanAttempt(row) })
	if err != nil {
		return nil, err
	}
	for i := range d.Attempts {
		if d.Attempts[i].Attempt == r.Attempt {
			d.Attempts[i].Input = r.Input // the current attempt's input is the run's (read unpacked)
		}
	}
	// The current attempt's outcome is the run's: its row is written
	// when it starts and again only when the next one starts.
	storekit.SyncCurrentAttempt(d)
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	d.Steps, _, err = scanSteps(rows)
	if err != nil {
		return nil, err
	}
	_, err = br.Exec()
	return d, err
}

// ListRuns lists runs, newest first, filtered in SQL.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	if err := storekit.CheckReviewOrder(f); err != nil {
		return store.RunPage{}, s.wrap("list runs", err)
	}
	if err := s.enter(); err != nil {
		return store.RunPage{}, err
	}
	defer s.leave()
	if f.ReviewOrder {
		runs, _, err := s.listPart(ctx, f, "", false)
		if err != nil {
			return store.RunPage{}, s.wrap("list runs by review", err)
		}
		out := runs[:0]
		for i := range runs {
			if storekit.PendingReview(&runs[i]) {
				out = append(out, runs[i])
			}
		}
		storekit.SortByReview(out)
		return store.RunPage{Runs: out}, nil
	}
	runs, _, err := s.listRuns(ctx, f, false)
	if err != nil {
		return store.RunPage{}, s.wrap("list runs", err)
	}
	page, err := storekit.Page(runs, f, func(before string) (int, error) {
		f.Before = before
		_, n, err := s.listRuns(ctx, f, true)
		return n, err
	})
	return page, s.wrap("count the runs past a page", err)
}

// listRuns runs ListRuns' query, or with count its count (the same
// conditions, on the same indexes), in the parts storekit.SplitUntil makes
// of a list by Until, newest first.
func (s *Store) listRuns(ctx context.Context, f store.RunFilter, count bool) ([]store.Run, int, error) {
	limit := storekit.LimitOrDefault(f.Limit)
	var out []store.Run
	total := 0
	for _, part := range storekit.SplitUntil(f) {
		if !count && len(out) >= limit {
			break
		}
		pf := part.Filter
		pf.Limit = limit - len(out)
		runs, n, err := s.listPart(ctx, pf, part.From, count)
		if err != nil {
			return nil, 0, err
		}
		out, total = append(out, runs...), total+n
	}
	return out, total, nil
}

// listPart is listRuns of the ids from least up ("": all).
func (s *Store) listPart(ctx context.Context, f store.RunFilter, least string, count bool) ([]store.Run, int, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if least != "" {
		add("r.id >= ?", least)
	}
	pipelineArg := ""
	if f.Pipeline != "" {
		add("r.pipeline = ?", f.Pipeline)
		pipelineArg = "$" + strconv.Itoa(len(args))
	}
	if len(f.Status) > 0 {
		st := make([]string, len(f.Status))
		for i, v := range f.Status {
			st[i] = string(v)
		}
		add("r.status = ANY(?::text[])", st)
	}
	if f.Before != "" {
		add("r.id < ?", f.Before)
	}
	where, args = filterWhere(f, where, args)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	if count {
		q := "SELECT count(*) FROM " + s.q.schema + ".runs r" + cond
		if f.CountLimit > 0 {
			// Stop one past the bound: that says there are more.
			args = append(args, f.CountLimit+1)
			q = "SELECT count(*) FROM (SELECT 1 FROM " + s.q.schema + ".runs r" + cond + " ORDER BY r.id DESC LIMIT $" + strconv.Itoa(len(args)) + ") x"
		}
		var n int
		err := s.pool.QueryRow(ctx, q, args...).Scan(&n)
		return nil, n, err
	}
	args = append(args, storekit.LimitOrDefault(f.Limit))
	q := s.q.listRuns + cond + " ORDER BY r.id DESC LIMIT $" + strconv.Itoa(len(args))
	if f.ReviewOrder && f.ExternalID == "" && f.IdempotencyKey == "" {
		// The pending reviews in their order, from pending_reviews'
		// index (migration 12); Go sorts the page at the nanosecond.
		q = s.q.listRuns + " JOIN " + s.q.schema + ".pending_reviews p ON p.run_id = r.id" + cond +
			" ORDER BY p.created_at, p.run_id LIMIT $" + strconv.Itoa(len(args))
		if pipelineArg != "" {
			q = strings.Replace(q, " ORDER BY", " AND p.pipeline = r.pipeline AND p.pipeline = "+pipelineArg+" ORDER BY", 1)
		}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	runs, err := collect(rows, func(row pgx.CollectableRow) (store.Run, error) { return scanRun(row) })
	return runs, 0, err
}

// Replay starts a new attempt of a dead-lettered, cancelled or held run,
// by the shared rule (storekit.PlanReplay), in one transaction, under the
// version the plan gives (the registered definition's); a branch run's
// join counts it live again (its row locked before the run's).
func (s *Store) Replay(ctx context.Context, req store.ReplayRequest) (*store.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out store.Run
	inTx := s.notes.inTx()
	w := newWakes()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		w.reset()
		if err := s.lockJoinOf(ctx, tx, req.RunID); err != nil {
			return err
		}
		r, _, err := s.lockRun(ctx, tx, req.RunID)
		if err != nil {
			return err
		}
		plan, err := s.planReplay(ctx, tx, &r, req)
		if err != nil {
			return err
		}
		now := s.now()
		from := r.Status
		b := &pgx.Batch{}
		if err := s.queueReplay(b, &r, plan, store.Queued, now); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		out = r
		w.add(r.Pipeline)
		if err := s.changed(ctx, tx, &r, from, now, w); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, w, inTx)
	})
	if err != nil {
		return nil, s.wrap("replay run "+req.RunID, err)
	}
	if !inTx {
		s.notes.committed(w.list()...)
	}
	return &out, nil
}

// notifyTx sends w's notifications in the transaction when inTx.
// The runs w ended go to Config.EndChannel in any case.
func (s *Store) notifyTx(ctx context.Context, tx pgx.Tx, w *wakes, inTx bool) error {
	b := &pgx.Batch{}
	s.queueNotify(b, w, inTx)
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

// queueNotify queues w's notifications: the wake-ups when inTx, the ends
// always.
func (s *Store) queueNotify(b *pgx.Batch, w *wakes, inTx bool) {
	if inTx && len(w.pipelines) > 0 {
		b.Queue(s.q.notify, s.cfg.Channel, w.list())
	}
	if len(w.ended) > 0 {
		b.Queue(s.q.notify, s.cfg.EndChannel, w.ended)
	}
}

// lockRun reads a run, with the count of its current attempt's records,
// and locks it for the rest of the transaction.
func (s *Store) lockRun(ctx context.Context, tx pgx.Tx, id string) (store.Run, int, error) {
	var records int
	r, err := scanRun(tx.QueryRow(ctx, s.q.runForUpdate, id), &records)
	if isNoRows(err) {
		return r, 0, fmt.Errorf("pgstore: run %s: %w", id, store.ErrNotFound)
	}
	return r, records, err
}

// Decide records a review decision (storekit.ApplyDecision) in one
// transaction. An approval queues the run and wakes the workers; a
// branch run's change applies to its join (its row locked before the
// run's).
func (s *Store) Decide(ctx context.Context, runID string, d store.Decision) (*store.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out store.Run
	inTx := s.notes.inTx()
	w := newWakes()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		w.reset()
		if err := s.lockJoinOf(ctx, tx, runID); err != nil {
			return err
		}
		r, records, err := s.lockRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		now := s.now()
		from := r.Status
		rec, err := storekit.ApplyDecision(&r, d, now)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if err := s.scrub(ctx, tx, b, &r, rec); err != nil {
			return err
		}
		if err := s.queueSaveRun(b, &r, records+1); err != nil {
			return err
		}
		s.queueEndAttempt(b, &r, now)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		out = r
		if r.Status == store.Queued {
			w.add(r.Pipeline)
		}
		if storekit.WaitEnded(r.Status) {
			w.end(r.ID)
		}
		if err := s.changed(ctx, tx, &r, from, now, w); err != nil {
			return err
		}
		return s.notifyTx(ctx, tx, w, inTx)
	})
	if err != nil {
		return nil, s.wrap("decide run "+runID, err)
	}
	if !inTx {
		s.notes.committed(w.list()...)
	}
	return &out, nil
}

// EscalateReview marks an overdue review as escalated, once: of several
// workers, the one whose transaction comes first wins.
func (s *Store) EscalateReview(ctx context.Context, runID string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	err := s.tx(ctx, func(tx pgx.Tx) error {
		r, _, err := s.lockRun(ctx, tx, runID)
		if err != nil {
			return err
		}
		if r.Status != store.AwaitingReview || r.Review == nil || r.Review.Escalated {
			return fmt.Errorf("pgstore: escalate run %s: it is %s, or its review is escalated already: %w", runID, r.Status, store.ErrConflict)
		}
		r.Review.Escalated = true
		review, err := reviewBlob(r.Review)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE "+s.q.schema+".runs SET review = $2 WHERE id = $1", runID, review)
		return err
	})
	return s.wrap("escalate run "+runID, err)
}

// Pipelines lists the registered pipeline definitions by name.
func (s *Store) Pipelines(ctx context.Context) ([]store.PipelineDef, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, "SELECT def FROM "+s.q.schema+".pipelines ORDER BY name")
	if err != nil {
		return nil, s.wrap("list pipelines", err)
	}
	defs, err := collect(rows, func(row pgx.CollectableRow) (store.PipelineDef, error) {
		var b []byte
		var d store.PipelineDef
		if err := row.Scan(&b); err != nil {
			return d, err
		}
		return d, json.Unmarshal(b, &d)
	})
	return defs, s.wrap("list pipelines", err)
}

// Pipeline returns one definition.
func (s *Store) Pipeline(ctx context.Context, name string) (*store.PipelineDef, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	d, err := s.pipelineDef(ctx, s.pool, name)
	if err == nil && d == nil {
		err = fmt.Errorf("pgstore: pipeline %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("pipeline "+name, err)
	}
	return d, nil
}

// pipelineDef returns a definition, or nil when none is registered.
func (s *Store) pipelineDef(ctx context.Context, q queryRower, name string) (*store.PipelineDef, error) {
	var b []byte
	err := q.QueryRow(ctx, "SELECT def FROM "+s.q.schema+".pipelines WHERE name = $1", name).Scan(&b)
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d := new(store.PipelineDef)
	if err := json.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("pgstore: pipeline %s: decode its definition: %w", name, err)
	}
	return d, nil
}

// Import records a run executed elsewhere as it is, unless its id exists,
// in one transaction. The current attempt's input is the run's, in the
// attempt's row; an attempt is added (reason "imported") when the detail
// lacks it.
func (s *Store) Import(ctx context.Context, d store.RunDetail) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	r := d.Run
	created := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		created = false
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM "+s.q.schema+".runs WHERE id = $1)", r.ID).Scan(&exists); err != nil || exists {
			return err
		}
		// A waiting run waits for something this store would not know of.
		if !store.ValidID(r.ID) || r.Pipeline == "" || !r.Status.Valid() || r.Status == store.Waiting {
			return fmt.Errorf("pgstore: import run %q of pipeline %q with status %q: %w", r.ID, r.Pipeline, r.Status, store.ErrConflict)
		}
		var idem any
		if r.IdempotencyKey != "" {
			idem = r.IdempotencyKey
		}
		records := 0
		for _, rec := range d.Steps {
			if rec.RunAttempt == r.Attempt {
				records++
			}
		}
		args := []any{r.ID, r.Pipeline, string(r.Status), r.Attempt, idem, r.Trigger.Source, r.Trigger.ExternalID, ts(r.Trigger.ReceivedAt),
			r.InputHash, r.InputSize, blob(r.Output), r.Step, r.Error, int16(r.Class), ts(r.NotBefore),
			r.Deferrals, r.LeaseOwner, r.LeaseToken, ts(r.LeaseExpires), r.KeepPayloads, r.TraceID, r.CreatedAt,
			r.UpdatedAt, ts(r.FinishedAt), mustReview(r.Review), r.SpanID, r.InputReplaced}
		args = append(append(args, parentArgs(r.Parent)...), r.Spent.Tokens, r.Spent.Cost, r.Budget.Tokens, r.Budget.Cost)
		args = append(append(args, cancelArgs(r.Cancel)...), records)
		_, err := tx.Exec(ctx, "INSERT INTO "+s.q.schema+".runs ("+strings.Join(importColumns, ", ")+", records) VALUES ("+placeholders(len(args))+")", args...)
		if pgCode(err) == codeUniqueViolation {
			return fmt.Errorf("pgstore: import run %s: pipeline %s has another run with idempotency key %q: %w", r.ID, r.Pipeline, r.IdempotencyKey, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		current := false
		for _, a := range d.Attempts {
			if a.Attempt == r.Attempt {
				// The run's version is its current attempt's row: the run's
				// own, when the two were given apart.
				a.Input, current = runInput(&r), true
				if !r.Version.IsZero() {
					a.Version = r.Version
				}
			}
			b.Queue(s.q.insertAttempt, r.ID, a.Attempt, a.Reason, blob(a.Input), string(a.Status), a.Step, a.Error,
				int16(a.Class), ts(a.StartedAt), ts(a.FinishedAt), a.Version.Fingerprint, a.Version.Label)
		}
		if !current {
			b.Queue(s.q.insertAttempt, r.ID, r.Attempt, "imported", blob(runInput(&r)), string(r.Status), r.Step, r.Error,
				int16(r.Class), ts(r.CreatedAt), ts(r.FinishedAt), r.Version.Fingerprint, r.Version.Label)
		}
		for _, rec := range d.Steps {
			rec.RunID = r.ID
			if err := s.queueInsertStep(b, r.Pipeline, &rec); err != nil {
				return err
			}
		}
		created = true
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return false, s.wrap("import run "+r.ID, err)
	}
	return created, nil
}

// placeholders lists $1 to $n.
func placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(i+1)
	}
	return strings.Join(p, ", ")
}

func mustReview(rv *store.Review) any {
	b, err := reviewBlob(rv)
	if err != nil {
		return nil // a review that does not encode is dropped, not the run
	}
	return b
}

// Prune deletes succeeded top-level runs past the retention limits, with
// their attempts and records and their branch runs (and theirs) and
// joins, in one statement: first those finished before the age limit,
// then the oldest beyond the count limit. Branch runs count toward
// neither limit: they go with their parent.
func (s *Store) Prune(ctx context.Context, ret store.Retention) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	ret = ret.WithDefaults()
	cutoff := s.now().Add(-ret.MaxAge)
	var n int
	err := s.pool.QueryRow(ctx, strings.ReplaceAll(`WITH RECURSIVE old AS (
		SELECT id FROM {s}.runs WHERE status = 'succeeded' AND parent_id IS NULL AND (finished_at IS NULL OR finished_at < $1)
	), extra AS (
		SELECT id FROM {s}.runs WHERE status = 'succeeded' AND parent_id IS NULL AND finished_at >= $1
		ORDER BY finished_at DESC, id DESC OFFSET $2
	), tree AS (
		SELECT id FROM old UNION ALL SELECT id FROM extra
		UNION ALL SELECT r.id FROM {s}.runs r JOIN tree t ON r.parent_id = t.id WHERE r.parent_id IS NOT NULL
	), del AS (
		DELETE FROM {s}.runs WHERE id IN (SELECT id FROM tree) RETURNING id
	), ds AS (
		DELETE FROM {s}.steps WHERE run_id IN (SELECT id FROM del)
	), da AS (
		DELETE FROM {s}.attempts WHERE run_id IN (SELECT id FROM del)
	), dj AS (
		DELETE FROM {s}.joins WHERE parent_id IN (SELECT id FROM del)
	)
	SELECT count(*) FROM del`, "{s}", s.q.schema), cutoff, ret.MaxRuns).Scan(&n)
	if err != nil {
		return 0, s.wrap("prune", err)
	}
	return n, nil
}

// importColumns are the runs columns Import writes: runColumns but the
// input, which is the current attempt's row's.
var importColumns = func() []string {
	var cols []string
	for _, c := range runColumns {
		if c != "input" {
			cols = append(cols, c)
		}
	}
	return cols
}()

// DeadLetterGroups counts the dead-lettered runs f matches by pipeline,
// step and class, from runs_dead_letter_groups (migration 12), an
// index-only scan: one grouped read, then the groups' newest ids in one
// read of the same index, and the newest runs' errors.
func (s *Store) DeadLetterGroups(ctx context.Context, f store.RunFilter) ([]store.DeadLetterGroup, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out, err := s.deadLetterGroups(ctx, f)
	return out, s.wrap("group the dead letters", err)
}

func (s *Store) deadLetterGroups(ctx context.Context, f store.RunFilter) ([]store.DeadLetterGroup, error) {
	where := []string{"r.status = 'dead_lettered'"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Pipeline != "" {
		add("r.pipeline = ?", f.Pipeline)
	}
	where, args = filterWhere(f, where, args)
	from := " FROM " + s.q.schema + ".runs r WHERE " + strings.Join(where, " AND ")
	rows, err := s.pool.Query(ctx, `SELECT r.pipeline, r.step, r.class, r.unclassified, count(*), count(r.parent_id),
		count(DISTINCT r.error_key), min(r.updated_at), max(r.updated_at)`+from+` GROUP BY r.pipeline, r.step, r.class, r.unclassified`, args...)
	if err != nil {
		return nil, err
	}
	out, err := collect(rows, func(row pgx.CollectableRow) (store.DeadLetterGroup, error) {
		var g store.DeadLetterGroup
		var class int16
		var oldest, newest pgtype.Timestamptz
		err := row.Scan(&g.Pipeline, &g.Step, &class, &g.Unclassified, &g.Count, &g.Branches, &g.Errors, &oldest, &newest)
		g.Class, g.Oldest, g.Newest, g.RunIDs = retry.Class(class), fromTS(oldest), fromTS(newest), []string{}
		return g, err
	})
	if err != nil {
		return nil, err
	}
	// Each group's newest ids, in one read of the same index, and each
	// group's newest error.
	type key struct {
		pipeline, step string
		class          int16
		unclassified   bool
	}
	at := map[key]*store.DeadLetterGroup{}
	gp, gs, gc, gu := make([]string, len(out)), make([]string, len(out)), make([]int16, len(out)), make([]bool, len(out))
	for i := range out {
		at[key{out[i].Pipeline, out[i].Step, int16(out[i].Class), out[i].Unclassified}] = &out[i]
		gp[i], gs[i], gc[i], gu[i] = out[i].Pipeline, out[i].Step, int16(out[i].Class), out[i].Unclassified
	}
	n := len(args)
	args = append(args, gp, gs, gc, gu, storekit.LimitOrDefault(f.Limit))
	// Each group's newest ids from runs_dead_letters walked backwards
	// (index-only: it holds the parent), one LATERAL read per group.
	rows, err = s.pool.Query(ctx, fmt.Sprintf(`SELECT g.pipeline, g.step, g.class, g.unclassified, x.id, x.parent_id
		FROM unnest($%d::text[], $%d::text[], $%d::smallint[], $%d::boolean[]) AS g(pipeline, step, class, unclassified)
		CROSS JOIN LATERAL (SELECT r.id, r.parent_id`+from+` AND r.pipeline = g.pipeline AND r.step = g.step AND r.class = g.class
			AND r.unclassified = g.unclassified ORDER BY r.id DESC LIMIT $%d) x
		ORDER BY g.pipeline, g.step, g.class, g.unclassified, x.id DESC`, n+1, n+2, n+3, n+4, n+5), args...)
	if err != nil {
		return nil, err
	}
	var k key
	var id string
	var parent pgtype.Text
	if _, err := pgx.ForEachRow(rows, []any{&k.pipeline, &k.step, &k.class, &k.unclassified, &id, &parent}, func() error {
		g := at[k]
		if g == nil {
			return nil // a run dead-lettered between the two reads
		}
		g.RunIDs = append(g.RunIDs, id)
		if parent.Valid {
			storekit.AddParent(g, parent.String)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	newest := make([]string, 0, len(out))
	for i := range out {
		if len(out[i].RunIDs) > 0 {
			newest = append(newest, out[i].RunIDs[0])
		}
	}
	rows, err = s.pool.Query(ctx, `SELECT id, error FROM `+s.q.schema+`.runs WHERE id = ANY($1::text[])`, newest)
	if err != nil {
		return nil, err
	}
	errs := map[string]string{}
	var msg string
	if _, err := pgx.ForEachRow(rows, []any{&id, &msg}, func() error {
		errs[id] = msg
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range out {
		if len(out[i].RunIDs) > 0 {
			out[i].SampleError = errs[out[i].RunIDs[0]]
		}
	}
	storekit.SortGroups(out)
	return out, nil
}

// StepHistory counts each step's outcomes per bucket from step_counts,
// the per-minute counters Stats reads (migration 10), every connection's
// slot summed in SQL.
func (s *Store) StepHistory(ctx context.Context, pipeline string, since time.Time, bucket time.Duration) ([]store.StepBucket, error) {
	start, err := store.StepHistoryBuckets(since, s.now(), bucket)
	if err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	first, per := start.Unix()/60, int64(bucket/time.Minute)
	rows, err := s.pool.Query(ctx, `SELECT (bucket - $1) / $2 AS k, pipeline, step, sum(n)::bigint, sum(succeeded)::bigint, sum(failed)::bigint
		FROM `+s.q.schema+`.step_counts WHERE bucket >= $1 AND ($3 = '' OR pipeline = $3) GROUP BY 1, 2, 3`, first, per, pipeline)
	if err != nil {
		return nil, s.wrap("step history", err)
	}
	h := storekit.NewStepHistory(start, bucket)
	var k, n, ok, failed int64
	var name, step string
	if _, err := pgx.ForEachRow(rows, []any{&k, &name, &step, &n, &ok, &failed}, func() error {
		h.AddMinute(first+k*per, name, step, int(n), int(ok), int(failed))
		return nil
	}); err != nil {
		return nil, s.wrap("step history", err)
	}
	return h.Result(), nil
}

// filterWhere adds to where and args the conditions of f that ListRuns and
// DeadLetterGroups share (all but pipeline, status and the keyset): step,
// class, times, parent, the customer's ids and top-level. Each condition
// is on runs r, its arguments numbered after those in args.
func filterWhere(f store.RunFilter, where []string, args []any) ([]string, []any) {
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Step != "" {
		add("r.step = ?", f.Step)
	}
	if f.Class != 0 {
		add("r.class = ?", int16(f.Class))
	}
	if !f.Since.IsZero() {
		add("r.updated_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		add("r.updated_at < ?", f.Until)
	}
	if f.Parent != "" {
		add("r.parent_id = ?", f.Parent)
	}
	// The predicates of the partial indexes runs_ext_id and runs_idem_key
	// are repeated, so that a generic plan may use them.
	if f.ExternalID != "" {
		add("r.trigger_ext_id = ? AND r.trigger_ext_id <> ''", f.ExternalID)
	}
	if f.IdempotencyKey != "" {
		add("r.idem_key = ? AND r.idem_key IS NOT NULL", f.IdempotencyKey)
	}
	if f.TopLevel {
		where = append(where, "r.parent_id IS NULL")
	}
	return where, args
}
