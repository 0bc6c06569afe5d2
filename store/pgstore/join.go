package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The join's rules (storekit.JoinChange, Settle) as this store applies
// them: in the transaction of the change, in Go, with the join's row as
// the lock that orders the changes of one fork's children.
//
// Lock order. A worker's write locks the run it holds (the lease check)
// and then, when the run is a branch whose change counts, its fork's join
// row; the decrement, the release of a waiting sibling and the settling
// happen under that lock, so that of many children ending at once, in
// any number of processes, exactly one sees live reach 0. The parent's
// row is locked only to settle, and only once an unlocked read found it
// waiting or dead-lettered at the fork's step: a parent that is running
// (forking, or cancelled with its children) is never waited for by a
// child, so the writes that lock a parent first and then its joins (Fork,
// the cancel hook) cannot deadlock with a child's end. Operator writes on
// a child (Replay, Decide) lock its join before its row, as Fork does
// before the rows of the children it restarts. The cancel hook marks a
// parent's running children after it has locked the parent and its
// joins, the other way round from a child's end; Cancel therefore locks
// a run's running children before the run (cancel.go), and a transaction
// the server aborts on a deadlock that remains (a child claimed
// meanwhile, a grandchild) is tried again.

// Statements of the join, with the schema to fill in.
const (
	// joinOpenSQL opens a fork's join or takes its row (locked) again.
	joinOpenSQL = `INSERT INTO {s}.joins (parent_id, idx, step, live, lim, branches) VALUES ($1, $2, $3, 0, $4, $5)
		ON CONFLICT (parent_id, idx) DO UPDATE SET step = excluded.step, lim = excluded.lim, branches = excluded.branches`
	joinSetSQL = `UPDATE {s}.joins SET live = $3, active = $4 WHERE parent_id = $1 AND idx = $2`
	// joinAddSQL changes the counts of the join ($1, $2) by $3 live and $4
	// active for a change of its branch $5.
	joinAddSQL = `UPDATE {s}.joins SET live = live + $3, active = active + $4
		WHERE parent_id = $1 AND idx = $2 AND $5 = ANY(branches) RETURNING live, step`
	// joinOfSQL locks the join of the fork run $1 belongs to, if any.
	joinOfSQL = `SELECT j.idx FROM {s}.runs r JOIN {s}.joins j ON j.parent_id = r.parent_id AND j.idx = r.parent_index
		WHERE r.id = $1 FOR NO KEY UPDATE OF j`
	// forkExistingSQL reads the children of a fork that exist already.
	forkExistingSQL = `SELECT r.id, r.status, ` + inputHashSQL + `, coalesce(r.parent_id, ''), r.parent_index, r.branch,
		` + openWaitOfRunSQL + ` FROM {s}.runs r WHERE r.id = ANY($1::text[])`
	// openWaitOfRunSQL is whether run r's current attempt has an open
	// wait: it waits for an event (storekit.JoinChange).
	openWaitOfRunSQL = `EXISTS (SELECT FROM {s}.waits w WHERE w.run_id = r.id AND w.attempt = r.attempt AND w.resolved_at IS NULL)`
	// releaseWaitingSQL queues, at $3, the first children of the join ($1, $2)
	// waiting for a slot, as many as its limit has room for
	// (storekit.Releases), from runs_waiting_children, and counts them
	// active. The room is the limit less the children that hold a slot:
	// queued or running, from runs_active_children (migration 14), and
	// not waiting for an event (storekit.JoinChange). A child an earlier
	// fork at the step made and the latest no longer names is counted
	// while it runs, which only holds a sibling back; a condition on the
	// branch list would let the planner walk runs_children with the whole
	// list instead.
	releaseWaitingSQL = `WITH j AS (
		SELECT branches, CASE WHEN lim > 0 THEN greatest(0, lim - (SELECT count(*) FROM {s}.runs r
			WHERE r.parent_id = $1 AND r.parent_index = $2 AND r.status IN ('queued', 'running') AND NOT ` + openWaitOfRunSQL + `))
		END AS room FROM {s}.joins
		WHERE parent_id = $1 AND idx = $2
	), s AS (
		SELECT w.id FROM {s}.runs w WHERE w.parent_id = $1 AND w.parent_index = $2 AND w.status = 'waiting'
			AND EXISTS (SELECT FROM j WHERE w.branch = ANY(j.branches))
		ORDER BY w.branch LIMIT (SELECT room FROM j) FOR NO KEY UPDATE
	), u AS (
		UPDATE {s}.runs r SET status = 'queued', updated_at = $3 FROM s WHERE r.id = s.id RETURNING r.id, r.pipeline, r.attempt
	), n AS (
		UPDATE {s}.joins SET active = active + (SELECT count(*) FROM u) WHERE parent_id = $1 AND idx = $2
	)
	SELECT DISTINCT pipeline FROM u`
	// peekSQL reads a parent's status and step without locking it.
	peekSQL = `SELECT status, step FROM {s}.runs WHERE id = $1`
	// joinCancelSQL takes $3 children, $4 of them active, out of a join.
	joinCancelSQL = `UPDATE {s}.joins SET live = live - $3, active = active - $4 WHERE parent_id = $1 AND idx = $2`
	// cancelJoinsSQL locks the joins of the runs $1.
	cancelJoinsSQL = `SELECT parent_id, idx FROM {s}.joins WHERE parent_id = ANY($1::text[]) ORDER BY parent_id, idx FOR NO KEY UPDATE`
	stepsOfSQL     = `SELECT ` + stepCols + ` FROM {s}.steps WHERE run_id = ANY($1::text[]) ORDER BY run_id, seq`
)

// cancelKidsSQL locks the children of the runs $1 that no worker holds,
// of the forks their joins record.
var cancelKidsSQL = `SELECT ` + runCols("r") + `, r.records FROM {s}.runs r
	WHERE r.parent_id = ANY($1::text[]) AND r.status IN ('waiting', 'queued', 'awaiting_review', 'held')
		AND EXISTS (SELECT FROM {s}.joins j WHERE j.parent_id = r.parent_id AND j.idx = r.parent_index AND r.branch = ANY(j.branches))
	ORDER BY r.id FOR NO KEY UPDATE`

// markKidsSQL marks the running children of the runs $1, of the forks
// their joins record, cancelled by "parent <id>" for the reasons $2 at
// $3 (unless they are marked already), locking them in id order as
// heartbeats do.
const markKidsSQL = `WITH k AS (
	SELECT r.id, x.reason FROM {s}.runs r JOIN unnest($1::text[], $2::text[]) AS x(parent, reason) ON r.parent_id = x.parent
	WHERE r.status = 'running' AND r.cancel_at IS NULL
		AND EXISTS (SELECT FROM {s}.joins j WHERE j.parent_id = r.parent_id AND j.idx = r.parent_index AND r.branch = ANY(j.branches))
	ORDER BY r.id FOR NO KEY UPDATE OF r
)
UPDATE {s}.runs r SET cancel_at = $3, cancel_by = 'parent ' || r.parent_id, cancel_reason = k.reason, updated_at = $3
FROM k WHERE r.id = k.id`

// active reports whether a child of status holds a slot under its fork's
// limit.
func active(s store.Status) int {
	if s == store.Queued || s == store.Running {
		return 1
	}
	return 0
}

// lockJoinOf locks the join of the fork run id belongs to, before an
// operator's write locks the run.
func (s *Store) lockJoinOf(ctx context.Context, tx pgx.Tx, id string) error {
	rows, err := tx.Query(ctx, s.q.joinOf, id)
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// changed applies run r's change of status from from (r.Status is the
// new one) to its fork's join, and, when r ended cancelled, runs the
// children hook (cancelChildren). Pipelines made claimable, and runs
// ended, go to w.
func (s *Store) changed(ctx context.Context, tx pgx.Tx, r *store.Run, from store.Status, now time.Time, w *wakes) error {
	to := r.Status
	if to == store.Cancelled && from != store.Cancelled {
		if err := s.cancelChildren(ctx, tx, r, now, w); err != nil {
			return err
		}
	}
	if r.Parent == nil || from == to {
		return nil
	}
	live, release := storekit.JoinChange(from, to)
	act := active(to) - active(from)
	if live == 0 && act == 0 && !release {
		return nil
	}
	p := r.Parent
	b := &pgx.Batch{}
	b.Queue(s.q.joinAdd, p.RunID, p.Index, live, act, p.Branch)
	if release {
		b.Queue(s.q.releaseWaiting, p.RunID, p.Index, now)
	}
	br := tx.SendBatch(ctx, b)
	var left int
	var step string
	err := br.QueryRow().Scan(&left, &step)
	if isNoRows(err) {
		// No join, or not of it: a run enqueued with a parent, or one its
		// parent's latest fork at the step no longer names.
		return br.Close()
	}
	if err != nil {
		_ = br.Close()
		return err
	}
	if release {
		var pipeline string
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return err
		}
		if _, err := pgx.ForEachRow(rows, []any{&pipeline}, func() error { w.add(pipeline); return nil }); err != nil {
			_ = br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	if live >= 0 || left != 0 {
		return nil
	}
	return s.settle(ctx, tx, p.RunID, step, r, now, w)
}

// releaseOf gives the slot of branch run r, which has just started to
// wait for an event (its row locked), to the next of its siblings waiting
// for one, under its join's lock, taken after r's as a worker's writes
// take them. Pipelines made claimable go to w.
func (s *Store) releaseOf(ctx context.Context, tx pgx.Tx, r *store.Run, now time.Time, w *wakes) error {
	if err := s.lockJoinOf(ctx, tx, r.ID); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, s.q.releaseWaiting, r.Parent.RunID, r.Parent.Index, now)
	if err != nil {
		return err
	}
	var pipeline string
	_, err = pgx.ForEachRow(rows, []any{&pipeline}, func() error { w.add(pipeline); return nil })
	return err
}

// settle applies storekit.Settle to the parent once the last live child
// of its fork at step ended, child being the run whose end it was.
func (s *Store) settle(ctx context.Context, tx pgx.Tx, parent, step string, child *store.Run, now time.Time, w *wakes) error {
	var status, at string
	err := tx.QueryRow(ctx, s.q.peek, parent).Scan(&status, &at)
	if isNoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if storekit.Settle(&store.Run{Status: store.Status(status), Step: at}, step, child) == storekit.SettleNone {
		return nil
	}
	pr, _, err := s.lockRun(ctx, tx, parent)
	if err != nil {
		return err
	}
	switch storekit.Settle(&pr, step, child) {
	case storekit.SettleQueue:
		if _, err := tx.Exec(ctx, s.q.settleQueue, pr.ID, now); err != nil {
			return err
		}
		w.add(pr.Pipeline)
	case storekit.SettleReplay:
		plan, err := s.planReplay(ctx, tx, &pr, store.ReplayRequest{RunID: pr.ID, From: step, Reason: storekit.RecoveredReason(child.ID)})
		var perr *planError
		if errors.As(err, &perr) {
			// A parent that kept no payloads has no input left to join
			// with: it stays dead-lettered until replayed with one.
			return nil
		}
		if err != nil {
			return err
		}
		from := pr.Status
		b := &pgx.Batch{}
		if err := s.queueReplay(b, &pr, plan, store.Queued, now); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		w.add(pr.Pipeline)
		return s.changed(ctx, tx, &pr, from, now, w)
	}
	return nil
}

// cancelChildren is the children hook of a run that ended cancelled,
// under its forks' joins' locks: its children that no worker holds
// (waiting, queued, awaiting review, held) end cancelled by "parent <id>"
// (storekit.ChildCancellation), and theirs in turn; its running children are
// marked. The joins lose the children that ended; none settles, as the
// parent is cancelled. w gets the ends.
func (s *Store) cancelChildren(ctx context.Context, tx pgx.Tx, parent *store.Run, now time.Time, w *wakes) error {
	pass := map[string]store.Cancellation{parent.ID: storekit.ChildCancellation(parent, now)}
	parents := []string{parent.ID}
	for len(parents) > 0 {
		rows, err := tx.Query(ctx, s.q.cancelJoins, parents)
		if err != nil {
			return err
		}
		n := 0
		var pid string
		var idx int
		if _, err := pgx.ForEachRow(rows, []any{&pid, &idx}, func() error { n++; return nil }); err != nil || n == 0 {
			return err
		}
		// The children no worker holds are locked first, so that one a
		// claim takes meanwhile is running once its lock is let go, and
		// is marked below.
		rows, err = tx.Query(ctx, s.q.cancelKids, parents)
		if err != nil {
			return err
		}
		type kid struct {
			run     store.Run
			records int
		}
		var kids []kid
		for rows.Next() {
			var k kid
			if k.run, err = scanRun(rows, &k.records); err != nil {
				rows.Close()
				return err
			}
			kids = append(kids, k)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		reasons := make([]string, len(parents))
		for i, p := range parents {
			reasons[i] = pass[p].Reason
		}
		if _, err := tx.Exec(ctx, s.q.markKids, parents, reasons, now); err != nil {
			return err
		}
		var scrubbed []string
		for _, k := range kids {
			if !k.run.KeepPayloads {
				scrubbed = append(scrubbed, k.run.ID)
			}
		}
		recs := map[string][]store.StepRecord{}
		seqs := map[string][]int64{}
		if len(scrubbed) > 0 {
			rows, err := tx.Query(ctx, s.q.stepsOf, scrubbed)
			if err != nil {
				return err
			}
			all, allSeqs, err := scanSteps(rows)
			if err != nil {
				return err
			}
			for i, rec := range all {
				recs[rec.RunID] = append(recs[rec.RunID], rec)
				seqs[rec.RunID] = append(seqs[rec.RunID], allSeqs[i])
			}
		}
		b := &pgx.Batch{}
		type joinKey struct {
			parent string
			index  int
		}
		lost := map[joinKey][2]int{}
		parents = parents[:0:0]
		next := map[string]store.Cancellation{}
		for _, k := range kids {
			r := &k.run
			rs := recs[r.ID]
			from := storekit.EndCancelled(r, pass[r.Parent.RunID], rs, now)
			w.end(r.ID)
			next[r.ID] = storekit.ChildCancellation(r, now)
			for i, seq := range seqs[r.ID] {
				att, err := attemptsBlob(&rs[i])
				if err != nil {
					return err
				}
				b.Queue(s.q.scrubStep, r.ID, seq, blob(rs[i].Input), blob(rs[i].Output), rs[i].OutputHash, rs[i].OutputSize, att)
			}
			if err := s.queueSaveRun(b, r, k.records); err != nil {
				return err
			}
			s.queueEndAttempt(b, r, now)
			k := joinKey{r.Parent.RunID, r.Parent.Index}
			l := lost[k]
			lost[k] = [2]int{l[0] + 1, l[1] + active(from)}
			parents = append(parents, r.ID)
		}
		pass = next
		for k, n := range lost {
			b.Queue(s.q.joinCancel, k.parent, k.index, n[0], n[1])
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	return nil
}

// planError is a replay the shared rules refuse (storekit.PlanReplay), as
// opposed to a failure to read what it needs.
type planError struct{ err error }

func (e *planError) Error() string { return e.err.Error() }
func (e *planError) Unwrap() error { return e.err }

// planReplay reads what a replay of r needs and plans it
// (storekit.PlanReplay); a refusal is a *planError.
func (s *Store) planReplay(ctx context.Context, tx pgx.Tx, r *store.Run, req store.ReplayRequest) (*storekit.ReplayPlan, error) {
	rows, err := tx.Query(ctx, s.q.getSteps, r.ID)
	if err != nil {
		return nil, err
	}
	recs, _, err := scanSteps(rows)
	if err != nil {
		return nil, err
	}
	def, err := s.pipelineDef(ctx, tx, r.Pipeline)
	if err != nil {
		return nil, err
	}
	plan, err := storekit.PlanReplay(r, recs, def, req)
	if err != nil {
		return nil, &planError{err}
	}
	return plan, nil
}

// queueReplay queues the writes of a replay's new attempt of r, in
// status (Queued, or Waiting for a restarted child beyond its fork's
// limit), and updates r to it.
func (s *Store) queueReplay(b *pgx.Batch, r *store.Run, plan *storekit.ReplayPlan, status store.Status, now time.Time) error {
	// The attempt that ends keeps its input in its own row, and takes its
	// outcome there now; the new one gets its own row below.
	s.queueCloseAttempt(b, r)
	r.Attempt++
	r.Status, r.Input = status, plan.RunInput
	r.Output, r.Step, r.Error, r.Class = nil, "", "", retry.Class(0)
	r.NotBefore, r.Deferrals, r.FinishedAt, r.Review = time.Time{}, 0, time.Time{}, nil
	r.Spent = store.Spend{}
	r.Cancel = nil // a replay is a new attempt: whoever cancelled the last one did not cancel it
	// The registered definition's version, when the plan moved the run to it.
	r.Version = plan.Version
	r.UpdatedAt = now
	if err := s.queueSaveRun(b, r, len(plan.Carry)); err != nil {
		return err
	}
	// What made the last attempt's dead letter unclassified was that
	// attempt's: a later end sets it anew.
	b.Queue("UPDATE "+s.q.schema+".runs SET unclassified = false WHERE id = $1 AND unclassified", r.ID)
	for _, rec := range plan.Carry {
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		rec.StartedAt, rec.FinishedAt = now, now
		if err := s.queueInsertStep(b, r.Pipeline, &rec); err != nil {
			return err
		}
	}
	b.Queue(s.q.insertAttempt, r.ID, r.Attempt, plan.Reason, blob(runInput(r)), string(status), "", "", int16(0), now, nil,
		plan.Version.Fingerprint, plan.Version.Label)
	return nil
}
