package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// forkInsertSQL inserts a fork's new children ($1..$19 arrays, one element
// per child) with their first attempts: parent $20, its step $21 and
// index $22, all at $23, each attempt's reason $24, the runs' traces
// $25 and $26, and their versions (their sub-pipelines', on their first
// attempts) $27 and $28. A child's idempotency key that a run of its
// pipeline has already is not indexed again (the child keeps none), as
// memstore does.
const forkInsertSQL = `WITH c AS (
	SELECT u.cid COLLATE "C" AS id, u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
		$7::timestamptz[], $8::bytea[], $9::text[], $10::integer[], $11::timestamptz[], $12::boolean[], $13::integer[],
		$14::integer[], $15::text[], $16::text[], $17::text[], $18::bigint[], $19::double precision[])
		AS u(cid, pipeline, status, idem_key, trigger_source, trigger_ext_id, trigger_at, input, input_hash, input_size,
			not_before, keep_payloads, input_replaced, branch, branch_name, parent_trace_id, parent_span_id,
			budget_tokens, budget_cost)
), t AS (
	SELECT * FROM unnest($1::text[], $25::text[], $26::text[], $27::text[], $28::text[])
		AS t(cid, trace_id, span_id, version, version_label)
), r AS (
	INSERT INTO {s}.runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id, trigger_at,
		input_hash, input_size, not_before, keep_payloads, input_replaced, created_at, updated_at, parent_id, parent_step,
		parent_index, branch, branch_name, parent_trace_id, parent_span_id, budget_tokens, budget_cost, trace_id, span_id)
	SELECT c.id, c.pipeline, c.status, 1,
		CASE WHEN c.idem_key IS NOT NULL AND NOT EXISTS (SELECT FROM {s}.runs x WHERE x.pipeline = c.pipeline AND x.idem_key = c.idem_key)
			THEN c.idem_key END, c.trigger_source, c.trigger_ext_id, c.trigger_at,
		c.input_hash, c.input_size, c.not_before, c.keep_payloads, c.input_replaced, $23, $23, $20, $21, $22, c.branch,
		c.branch_name, c.parent_trace_id, c.parent_span_id, c.budget_tokens, c.budget_cost, t.trace_id, t.span_id
	FROM c JOIN t ON t.cid = c.cid
	RETURNING id, status
)
INSERT INTO {s}.attempts (run_id, attempt, reason, input, status, started_at, version, version_label)
	SELECT r.id, 1, $24, c.input, r.status, $23, t.version, t.version_label FROM r JOIN t ON t.cid = r.id JOIN c ON c.id = r.id`

// restartSQL starts the next attempt of a restarted child ($2 to $14 as
// queueRestart gives them, the reason $15, the version the new attempt
// runs under $16 and $17: the NewRun's, its sub-pipeline's), its input
// ($3) in the new attempt's row; the attempt that ended keeps its own,
// and takes its outcome from the run (e: the run as it was) there.
const restartSQL = `WITH e AS (
		UPDATE {s}.attempts a SET status = r.status, step = r.step, error = r.error, class = r.class,
			finished_at = r.finished_at FROM {s}.runs r WHERE r.id = $1 AND a.run_id = r.id AND a.attempt = r.attempt
	), u AS (
		UPDATE {s}.runs SET attempt = attempt + 1, status = $2, input_hash = $4, input_size = $5,
			input_replaced = $6, output = NULL, step = '', error = '', class = 0, not_before = $7, deferrals = 0,
			finished_at = NULL, review = NULL, unclassified = false, spent_tokens = 0, spent_cost = 0, updated_at = $8, records = 0,
			budget_tokens = $9, budget_cost = $10, branch = $11, branch_name = $12, parent_trace_id = $13,
			parent_span_id = $14, lease_owner = '', lease_token = '', lease_expires = NULL
		WHERE id = $1 RETURNING id, attempt, status
	)
	INSERT INTO {s}.attempts (run_id, attempt, reason, input, status, started_at, version, version_label)
		SELECT id, attempt, $15, $3::bytea, status, $8, $16, $17 FROM u`

// inputHashSQL is the hash of a run's current input (its attempt's row):
// the input's own when it is kept (a replay may have patched it), else the
// one kept instead.
const inputHashSQL = `coalesce((SELECT encode(sha256(a.input), 'hex') FROM {s}.attempts a
	WHERE a.run_id = r.id AND a.attempt = r.attempt), r.input_hash)`

// Fork ends a held run's execution at a branching step, in one
// transaction: the lease check (the parent's row locked), the fork's join
// (its row locked from here on, so that no child's change of status
// interleaves with the fork), the plan over the children that exist
// (storekit.PlanFork), the new children in one statement, the restarted
// ones, the join's count, the step's record and the parent, waiting or
// queued. Workers are woken when a child or the parent became claimable.
// A run marked cancelled ends cancelled instead, and the fork is refused
// with store.ErrCancelled.
func (s *Store) Fork(ctx context.Context, l store.Lease, f store.Fork) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := storekit.CheckFork(l.RunID, f); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	now := s.now()
	inTx := s.notes.inTx()
	w := newWakes()
	var refusal error
	err := s.retryDeadlock(ctx, func() error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			w.reset()
			refusal = nil
			err := s.fork(ctx, tx, l, f, now, w, inTx)
			var ref *refused
			if errors.As(err, &ref) {
				refusal = ref.err // the cancellation commits
				return nil
			}
			return err
		})
	})
	if err == nil {
		err = refusal
	}
	if !inTx && (err == nil || refusal != nil) {
		s.notes.committed(w.list()...)
	}
	return s.wrap("fork run "+l.RunID, err)
}

func (s *Store) fork(ctx context.Context, tx pgx.Tx, l store.Lease, f store.Fork, now time.Time, w *wakes, inTx bool) error {
	r, records, err := s.lockRun(ctx, tx, l.RunID)
	if err != nil {
		return err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token {
		return fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", l.RunID, l.Token, r.Status, store.ErrLeaseLost)
	}
	if r.Cancel != nil {
		// Its joins are locked before its children's rows, as the
		// cancel hook needs.
		if err := s.endCancelled(ctx, tx, &r, records, *r.Cancel, now, w); err != nil {
			return err
		}
		if err := s.notifyTx(ctx, tx, w, inTx); err != nil {
			return err
		}
		return &refused{fmt.Errorf("pgstore: %w", storekit.CancelledWrite("fork", r.ID))}
	}
	ids := make([]string, len(f.Children))
	branches := make([]int32, len(f.Children))
	byID := make(map[string]int, len(f.Children))
	for i, nr := range f.Children {
		ids[i], branches[i], byID[nr.ID] = nr.ID, int32(nr.Parent.Branch), nr.Parent.Branch
	}
	slices.Sort(branches)
	if _, err := tx.Exec(ctx, s.q.joinOpen, r.ID, f.Record.Index, f.Record.Step, f.Limit, branches); err != nil {
		return err
	}
	existing := map[string]storekit.ExistingChild{}
	rows, err := tx.Query(ctx, s.q.forkExisting, ids)
	if err != nil {
		return err
	}
	var id, status, hash, parent string
	var index, branch int
	var awaiting bool
	act := 0
	if _, err := pgx.ForEachRow(rows, []any{&id, &status, &hash, &parent, &index, &branch, &awaiting}, func() error {
		if parent != r.ID || index != f.Record.Index || branch != byID[id] {
			return fmt.Errorf("pgstore: fork of run %s: run %s exists and is not its branch %d: %w", r.ID, id, byID[id], store.ErrConflict)
		}
		existing[id] = storekit.ExistingChild{Status: store.Status(status), InputHash: hash, Awaiting: awaiting}
		act += active(store.Status(status))
		return nil
	}); err != nil {
		return err
	}
	plan := storekit.PlanFork(f, existing)
	if len(plan.Create) > 0 {
		if _, err := tx.Exec(ctx, s.q.forkInsert, forkArgs(r.ID, f.Record, plan.Create, now)...); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	for _, c := range plan.Restart {
		s.queueRestart(b, r.ID, c, now)
	}
	for _, c := range slices.Concat(plan.Create, plan.Restart) {
		if c.Status == store.Queued {
			w.add(c.Run.Pipeline)
			act++
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
	b.Queue(s.q.joinSet, r.ID, f.Record.Index, plan.Live, act)
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

// queueRestart queues a new attempt of an ended child whose parent forked
// it again with another input, in the status the plan gives it: from its
// first step, carrying nothing, since every step's input follows from the
// new one. The attempt that ended keeps its input in its own row. Nothing
// holds the child (it ended), and the fork holds its join: its row needs
// no lock of its own.
func (s *Store) queueRestart(b *pgx.Batch, parent string, c storekit.PlannedChild, now time.Time) {
	nr := c.Run
	p := nr.Parent
	b.Queue(s.q.restart, nr.ID, string(c.Status), blob(nr.Input), store.Hash(nr.Input), len(nr.Input),
		nr.InputReplaced, ts(micros(nr.NotBefore)), now, int64(nr.Budget.Tokens), nr.Budget.Cost,
		p.Branch, p.Name, p.TraceID, p.SpanID, storekit.RestartReason(parent), nr.Version.Fingerprint, nr.Version.Label)
}

// forkArgs are forkInsertSQL's arguments for the children to create.
func forkArgs(parent string, rec store.StepRecord, create []storekit.PlannedChild, now time.Time) []any {
	n := len(create)
	id, pipeline, status, source, extID, hash := mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	name, trace, span, trunTrace, runSpan := mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	version, label := mk[string](n), mk[string](n)
	idem := mk[pgtype.Text](n)
	trigAt, notBefore := mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n)
	input := mk[[]byte](n)
	size, replaced, branch := mk[int32](n), mk[int32](n), mk[int32](n)
	keep := mk[bool](n)
	cost := mk[float64](n)
	tokens := mk[int64](n)
	keys := map[string]bool{}
	for i, c := range create {
		nr := c.Run
		id[i], pipeline[i], status[i] = nr.ID, nr.Pipeline, string(c.Status)
		// Of children sharing a key, the first takes it.
		key := nr.Pipeline + "\x00" + nr.IdempotencyKey
		idem[i] = pgtype.Text{String: nr.IdempotencyKey, Valid: nr.IdempotencyKey != "" && !keys[key]}
		keys[key] = true
		source[i], extID[i], trigAt[i] = nr.Trigger.Source, nr.Trigger.ExternalID, tsz(micros(nr.Trigger.ReceivedAt))
		input[i], hash[i], size[i] = nr.Input, store.Hash(nr.Input), int32(len(nr.Input))
		notBefore[i], keep[i], replaced[i] = tsz(micros(nr.NotBefore)), nr.KeepPayloads, int32(nr.InputReplaced)
		p := nr.Parent
		branch[i], name[i], trace[i], span[i] = int32(p.Branch), p.Name, p.TraceID, p.SpanID
		tokens[i], cost[i] = int64(nr.Budget.Tokens), nr.Budget.Cost
		trunTrace[i], runSpan[i] = nr.TraceID, nr.SpanID
		version[i], label[i] = nr.Version.Fingerprint, nr.Version.Label
	}
	return []any{id, pipeline, status, idem, source, extID, trigAt, input, hash, size, notBefore, keep, replaced,
		branch, name, trace, span, tokens, cost, parent, rec.Step, rec.Index, now, storekit.ForkReason(parent), trunTrace, runSpan,
		version, label}
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

// wakes collects what a transaction announces: the pipelines it made
// runs of claimable (on Config.Channel, paced by the notifier), and the
// runs it ended (on Config.EndChannel, always in the transaction, for
// WaitRun).
type wakes struct {
	pipelines map[string]struct{}
	ended     []string
}

func newWakes() *wakes { return &wakes{pipelines: map[string]struct{}{}} }

func (w *wakes) add(pipeline string) { w.pipelines[pipeline] = struct{}{} }

// end notes that run id came to an end WaitRun returns.
func (w *wakes) end(id string) { w.ended = append(w.ended, id) }

// reset empties w, for a transaction that is tried again.
func (w *wakes) reset() {
	clear(w.pipelines)
	w.ended = w.ended[:0]
}

// list returns the pipelines; nil w has none.
func (w *wakes) list() []string {
	if w == nil {
		return nil
	}
	out := make([]string, 0, len(w.pipelines))
	for p := range w.pipelines {
		out = append(out, p)
	}
	return out
}
