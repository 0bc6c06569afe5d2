package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// forkInsertSQL inserts a fork's new children ($1..$19 arrays, one element
// per child) with their first attempts: parent $20, its step $21 and
// index $22, all at $23, each attempt's reason $24.
const forkInsertSQL = `WITH c AS (
	SELECT u.cid COLLATE "C" AS id, u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::timestamptz[], $8::bytea[], $9::text[], $10::integer[], $11::timestamptz[], $12::boolean[], $13::integer[],
		$14::integer[], $15::text[], $16::text[], $17::text[], $18::bigint[], $19::double precision[])
		AS u(cid, pipeline, status, idem_key, trigger_source, trigger_ext_id, trigger_at, input, input_hash, input_size,
			not_before, keep_payloads, input_replaced, branch, branch_name, parent_trace_id, parent_span_id,
			budget_tokens, budget_cost)
), r AS (
	INSERT INTO {s}.runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id, trigger_at, input,
		input_hash, input_size, not_before, keep_payloads, input_replaced, created_at, updated_at, parent_id, parent_step,
		parent_index, branch, branch_name, parent_trace_id, parent_span_id, budget_tokens, budget_cost)
	SELECT c.id, c.pipeline, c.status, 1, c.idem_key, c.trigger_source, c.trigger_ext_id, c.trigger_at, c.input,
		c.input_hash, c.input_size, c.not_before, c.keep_payloads, c.input_replaced, $23, $23, $20, $21, $22, c.branch,
		c.branch_name, c.parent_trace_id, c.parent_span_id, c.budget_tokens, c.budget_cost FROM c
	RETURNING id, status
)
INSERT INTO {s}.attempts (run_id, attempt, reason, status, started_at) SELECT r.id, 1, $24, r.status, $23 FROM r`

// inputHashSQL is the hash of a run's current input: the input's own when
// it is kept (a replay may have patched it), else the one kept instead.
const inputHashSQL = `CASE WHEN r.input IS NULL THEN r.input_hash ELSE encode(sha256(r.input), 'hex') END`

// Fork ends a held run's execution at a branching step, in one
// transaction: the lease check (the parent's row locked), the fork's join
// (its row locked from here on, so that no child's change of status
// interleaves with the fork), the plan over the children that exist
// (storekit.PlanFork), the new children in one statement, the restarted
// ones, the join's count, the step's record and the parent, waiting or
// queued. Workers are woken when a child or the parent became claimable.
func (s *Store) Fork(ctx context.Context, l store.Lease, f store.Fork) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	for _, nr := range f.Children {
		if !store.ValidID(nr.ID) || nr.Pipeline == "" || nr.Parent == nil || nr.Parent.RunID != l.RunID || nr.Parent.Index != f.Record.Index {
			return fmt.Errorf("pgstore: fork of run %s: child %q must name the run and step %d as its parent: %w", l.RunID, nr.ID, f.Record.Index, store.ErrConflict)
		}
	}
	now := s.now()
	inTx := s.notes.inTx()
	w := wakes{}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		clear(w)
		return s.fork(ctx, tx, l, f, now, w, inTx)
	})
	if err != nil {
		return s.wrap("fork run "+l.RunID, err)
	}
	if !inTx {
		s.notes.committed(w.list()...)
	}
	return nil
}

func (s *Store) fork(ctx context.Context, tx pgx.Tx, l store.Lease, f store.Fork, now time.Time, w wakes, inTx bool) error {
	r, records, err := s.lockRun(ctx, tx, l.RunID)
	if err != nil {
		return err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token {
		return fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", l.RunID, l.Token, r.Status, store.ErrLeaseLost)
	}
	if _, err := tx.Exec(ctx, s.q.joinOpen, r.ID, f.Record.Index, f.Record.Step, f.Limit); err != nil {
		return err
	}
	ids := make([]string, len(f.Children))
	for i, nr := range f.Children {
		ids[i] = nr.ID
	}
	existing := map[string]storekit.ExistingChild{}
	rows, err := tx.Query(ctx, s.q.forkExisting, ids)
	if err != nil {
		return err
	}
	var id, status, hash string
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &hash}, func() error {
		existing[id] = storekit.ExistingChild{Status: store.Status(status), InputHash: hash}
		return nil
	}); err != nil {
		return err
	}
	plan := storekit.PlanFork(f, existing)
	if len(plan.Create) > 0 {
		if _, err := tx.Exec(ctx, s.q.forkInsert, forkArgs(r.ID, f.Record, plan.Create, now)...); err != nil {
			return err
		}
		for _, c := range plan.Create {
			if c.Status == store.Queued {
				w.add(c.Run.Pipeline)
			}
		}
	}
	for _, c := range plan.Restart {
		if err := s.restart(ctx, tx, r.ID, c, now); err != nil {
			return err
		}
		if c.Status == store.Queued {
			w.add(c.Run.Pipeline)
		}
	}
	rec := f.Record
	rec.RunID, rec.RunAttempt = r.ID, r.Attempt
	storekit.NoteTrace(&r, &rec)
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	r.Status, r.Step, r.Error, r.Class, r.NotBefore = plan.Parent, f.Record.Step, "", 0, time.Time{}
	r.UpdatedAt = now
	if r.Status == store.Queued {
		w.add(r.Pipeline)
	}
	b := &pgx.Batch{}
	b.Queue(s.q.joinSet, r.ID, f.Record.Index, plan.Live)
	if err := s.queueInsertStep(b, r.Pipeline, &rec); err != nil {
		return err
	}
	if err := s.queueSaveRun(b, &r, records+1); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return s.notifyTx(ctx, tx, w, inTx)
}

// restart starts a new attempt of an ended child whose parent forked it
// again with another input, in the status the plan gives it.
func (s *Store) restart(ctx context.Context, tx pgx.Tx, parent string, c storekit.PlannedChild, now time.Time) error {
	r, _, err := s.lockRun(ctx, tx, c.Run.ID)
	if err != nil {
		return err
	}
	plan, err := s.planReplay(ctx, tx, &r, store.ReplayRequest{RunID: r.ID, Input: c.Run.Input, Reason: storekit.RestartReason(parent)})
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if err := s.queueReplay(b, &r, plan, c.Status, now); err != nil {
		return err
	}
	return tx.SendBatch(ctx, b).Close()
}

// forkArgs are forkInsertSQL's arguments for the children to create.
func forkArgs(parent string, rec store.StepRecord, create []storekit.PlannedChild, now time.Time) []any {
	n := len(create)
	id, pipeline, status, source, extID, hash := mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	name, trace, span := mk[string](n), mk[string](n), mk[string](n)
	idem := mk[pgtype.Text](n)
	trigAt, notBefore := mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n)
	input := mk[[]byte](n)
	size, replaced, branch := mk[int32](n), mk[int32](n), mk[int32](n)
	keep := mk[bool](n)
	cost := mk[float64](n)
	tokens := mk[int64](n)
	for i, c := range create {
		nr := c.Run
		id[i], pipeline[i], status[i] = nr.ID, nr.Pipeline, string(c.Status)
		idem[i] = pgtype.Text{String: nr.IdempotencyKey, Valid: nr.IdempotencyKey != ""}
		source[i], extID[i], trigAt[i] = nr.Trigger.Source, nr.Trigger.ExternalID, tsz(micros(nr.Trigger.ReceivedAt))
		input[i], hash[i], size[i] = nr.Input, store.Hash(nr.Input), int32(len(nr.Input))
		notBefore[i], keep[i], replaced[i] = tsz(micros(nr.NotBefore)), nr.KeepPayloads, int32(nr.InputReplaced)
		p := nr.Parent
		branch[i], name[i], trace[i], span[i] = int32(p.Branch), p.Name, p.TraceID, p.SpanID
		tokens[i], cost[i] = int64(nr.Budget.Tokens), nr.Budget.Cost
	}
	return []any{id, pipeline, status, idem, source, extID, trigAt, input, hash, size, notBefore, keep, replaced,
		branch, name, trace, span, tokens, cost, parent, rec.Step, rec.Index, now, "forked by " + parent}
}

// Branches lists a parent's branch runs, of the forks its joins record,
// in step index then branch order, from runs_children.
func (s *Store) Branches(ctx context.Context, q store.BranchQuery) ([]store.Branch, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	rows, err := s.pool.Query(ctx, s.q.branches, q.Parent, q.Step, q.Outputs)
	if err != nil {
		return nil, s.wrap("list the branches of run "+q.Parent, err)
	}
	out, err := collect(rows, func(row pgx.CollectableRow) (store.Branch, error) {
		var b store.Branch
		var status string
		var class int16
		var output []byte
		var updated pgtype.Timestamptz
		err := row.Scan(&b.RunID, &b.Pipeline, &b.Index, &b.Step, &b.Branch, &b.Name, &status, &b.Attempt, &b.InputHash,
			&output, &b.FailedStep, &b.Error, &class, &b.Spent.Tokens, &b.Spent.Cost, &updated)
		b.Status, b.Class, b.Output, b.UpdatedAt = store.Status(status), retry.Class(class), raw(output), fromTS(updated)
		return b, err
	})
	if err != nil {
		return nil, s.wrap("list the branches of run "+q.Parent, err)
	}
	return out, nil
}

const branchesSQL = `SELECT r.id, r.pipeline, r.parent_index, r.parent_step, r.branch, r.branch_name, r.status, r.attempt,
	` + inputHashSQL + `, CASE WHEN $3::bool THEN r.output END, r.step, r.error, r.class, r.spent_tokens, r.spent_cost,
	r.updated_at
	FROM {s}.joins j JOIN {s}.runs r ON r.parent_id = j.parent_id AND r.parent_index = j.idx
	WHERE j.parent_id = $1 AND ($2::text = '' OR j.step = $2::text)
	ORDER BY r.parent_index, r.branch`

// wakes collects the pipelines a transaction made runs of claimable.
type wakes map[string]struct{}

func (w wakes) add(pipeline string) { w[pipeline] = struct{}{} }

func (w wakes) list() []string {
	out := make([]string, 0, len(w))
	for p := range w {
		out = append(out, p)
	}
	return out
}
