package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Fork ends a held run's execution at a branching step, in one write: it
// records the children as storekit.PlanFork plans them, opens or updates
// the fork's join, writes the step's record, and sets the run to wait (or
// queues it when no child is live).
func (s *Store) Fork(ctx context.Context, l store.Lease, f store.Fork) error {
	var wake bool
	var refused error
	err := s.write(ctx, func(tx *writer) error {
		wake, refused = false, nil
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		if r.Cancel != nil {
			refused, wake, err = tx.refuseCancelled("fork", &r, s.clock.Now())
			return err
		}
		if err := storekit.CheckFork(r.ID, f); err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		existing, err := tx.forkChildren(r.ID, f)
		if err != nil {
			return err
		}
		plan := storekit.PlanFork(f, existing)
		now := s.clock.Now()
		if len(existing) > 0 || len(f.Children) == 0 {
			if err := tx.rejoin(r.ID, f); err != nil {
				return err
			}
		}
		for _, c := range plan.Create {
			if err := tx.insertChild(c.Run, c.Status, now); err != nil {
				return err
			}
			wake = wake || c.Status == store.Queued
		}
		for _, c := range plan.Restart {
			if err := tx.restart(c.Run, c.Status, storekit.RestartReason(r.ID), now); err != nil {
				return err
			}
			wake = wake || c.Status == store.Queued
		}
		if _, err := tx.exec(`INSERT INTO joins (parent_id, idx, step, live, lim) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (parent_id, idx) DO UPDATE SET step = excluded.step, live = excluded.live, lim = excluded.lim`,
			r.ID, f.Record.Index, f.Record.Step, plan.Live, f.Limit); err != nil {
			return err
		}
		rec := f.Record
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		storekit.NoteTrace(&r, &rec)
		if err := tx.insertStep(r.Pipeline, &rec); err != nil {
			return err
		}
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.Status, r.Step, r.Error, r.Class, r.NotBefore = plan.Parent, f.Record.Step, "", 0, time.Time{}
		r.UpdatedAt = now
		wake = wake || r.Status == store.Queued
		return tx.saveRun(&r)
	})
	return s.refused(err, refused, wake)
}

// rejoin makes the children a fork made again names its join's, and
// those it no longer names not: kept as the parent's, but dropped from
// the join. A fork made again after a crash names the same children and
// changes nothing.
func (tx *writer) rejoin(parent string, f store.Fork) error {
	ids := make([]string, len(f.Children))
	for i, nr := range f.Children {
		ids[i] = nr.ID
	}
	list, err := jsonBlob(ids)
	if err != nil {
		return err
	}
	if _, err := tx.exec(`UPDATE runs SET dropped = 1 WHERE parent_id = ? AND parent_index = ? AND dropped IS NULL
		AND id NOT IN (SELECT value FROM json_each(?))`, parent, f.Record.Index, list); err != nil {
		return err
	}
	_, err = tx.exec("UPDATE runs SET dropped = NULL WHERE id IN (SELECT value FROM json_each(?)) AND dropped = 1", list)
	return err
}

// forkChildrenQuery reads the runs of the ids a fork names (a JSON list).
const forkChildrenQuery = `SELECT r.id, r.status, r.input_hash, a.input, r.parent_id, r.parent_index, r.branch,
	` + openWaitOfRun + ` FROM runs r
	LEFT JOIN attempts a ON a.run_id = r.id AND a.attempt = r.attempt
	WHERE r.id IN (SELECT value FROM json_each(?))`

// forkChildren reads the runs of the ids the fork names that exist, as
// PlanFork compares them (the hash of the current input), and refuses a
// run of such an id that is not that branch.
func (tx *writer) forkChildren(parent string, f store.Fork) (map[string]storekit.ExistingChild, error) {
	ids := make([]string, len(f.Children))
	branch := make(map[string]int, len(f.Children))
	for i, nr := range f.Children {
		ids[i], branch[nr.ID] = nr.ID, nr.Parent.Branch
	}
	list, err := jsonBlob(ids)
	if err != nil {
		return nil, err
	}
	rows, err := tx.query(forkChildrenQuery, list)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]storekit.ExistingChild{}
	for rows.Next() {
		var id, status, hash string
		var input []byte
		var pid sql.NullString
		var pindex, pbranch sql.NullInt64
		var awaiting bool
		if err := rows.Scan(&id, &status, &hash, &input, &pid, &pindex, &pbranch, &awaiting); err != nil {
			return nil, err
		}
		if !pid.Valid || pid.String != parent || int(pindex.Int64) != f.Record.Index || int(pbranch.Int64) != branch[id] {
			return nil, fmt.Errorf("sqlitestore: fork of run %s: run %s exists and is not its branch %d: %w", parent, id, branch[id], store.ErrConflict)
		}
		if input != nil {
			hash = store.Hash(input)
		}
		out[id] = storekit.ExistingChild{Status: store.Status(status), InputHash: hash, Awaiting: awaiting}
	}
	return out, rows.Err()
}

// insertChild adds a branch run, as Enqueue would, in status. An
// idempotency key another run of its pipeline holds stays with that run:
// the child is kept without it rather than fail its parent's fork.
func (tx *writer) insertChild(nr store.NewRun, status store.Status, now time.Time) error {
	p := *nr.Parent
	r := store.Run{
		ID: nr.ID, Pipeline: nr.Pipeline, Status: status, Attempt: 1,
		Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
		InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
		InputReplaced: nr.InputReplaced, NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads,
		TraceID: nr.TraceID, SpanID: nr.SpanID, CreatedAt: now, UpdatedAt: now, Parent: &p, Budget: nr.Budget,
		Version: nr.Version,
	}
	if r.IdempotencyKey != "" {
		var one int
		err := tx.row("SELECT 1 FROM runs WHERE pipeline = ? AND idem_key = ?", r.Pipeline, r.IdempotencyKey).Scan(&one)
		if err == nil {
			r.IdempotencyKey = ""
		} else if !isNoRows(err) {
			return err
		}
	}
	if err := tx.insertRun(&r); err != nil {
		return err
	}
	return tx.insertAttempt(r.ID, store.RunAttempt{Attempt: 1, Reason: storekit.ForkReason(p.RunID),
		Input: nr.Input, Status: status, Version: nr.Version, StartedAt: now})
}

// restart starts a new attempt of an ended branch run whose parent forked
// it again with a new input: from its first step, carrying nothing, since
// every step's input follows from the new one, and under the version the
// fork gives it (its sub-pipeline's).
func (tx *writer) restart(nr store.NewRun, status store.Status, reason string, now time.Time) error {
	r, err := scanRun(tx.row(selectRunLite+" WHERE r.id = ?", nr.ID))
	if err != nil {
		return err
	}
	p := *nr.Parent
	r.Attempt++
	r.Status, r.Parent, r.Budget = status, &p, nr.Budget
	r.InputHash, r.InputSize, r.InputReplaced = store.Hash(nr.Input), len(nr.Input), nr.InputReplaced
	r.Output, r.Step, r.Error, r.Class = nil, "", "", 0
	r.NotBefore, r.Deferrals, r.FinishedAt, r.Review = nr.NotBefore, 0, time.Time{}, nil
	r.Spent, r.Cancel = store.Spend{}, nil
	r.UpdatedAt, r.Version = now, nr.Version
	if err := tx.saveRun(&r); err != nil {
		return err
	}
	// What saveRun leaves, since nothing else changes it.
	args := append([]any{r.InputReplaced, r.Budget.Tokens, r.Budget.Cost}, parentArgs(r.Parent)[1:]...)
	if _, err := tx.exec(`UPDATE runs SET input_replaced = ?, budget_tokens = ?, budget_cost = ?,
		parent_step = ?, parent_index = ?, branch = ?, branch_name = ?, parent_trace_id = ?, parent_span_id = ?,
		unclassified = 0 WHERE id = ?`,
		append(args, r.ID)...); err != nil {
		return err
	}
	return tx.insertAttempt(r.ID, store.RunAttempt{Attempt: r.Attempt, Reason: reason, Input: nr.Input, Status: status,
		Version: nr.Version, StartedAt: now})
}

// branchesQuery reads the children of a parent's joins in step index then
// branch order, OUTPUT their output or NULL.
const branchesQuery = `SELECT r.id, r.pipeline, r.parent_index, r.parent_step, r.branch, coalesce(r.branch_name, ''),
	r.status, r.attempt, r.input_hash, a.input, OUTPUT, r.step, r.error, r.class, r.spent_tokens, r.spent_cost, r.updated_at
	FROM runs r JOIN joins j ON j.parent_id = r.parent_id AND j.idx = r.parent_index
	LEFT JOIN attempts a ON a.run_id = r.id AND a.attempt = r.attempt
	WHERE r.parent_id = ? AND r.dropped IS NULL AND (? = '' OR j.step = ?) ORDER BY r.parent_index, r.branch`

// Branches lists a parent's branch runs, in step index then branch order:
// the children of its forks' joins.
func (s *Store) Branches(ctx context.Context, q store.BranchQuery) ([]store.Branch, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	output := "NULL"
	if q.Outputs {
		output = "r.output"
	}
	rows, err := s.db.QueryContext(ctx, strings.Replace(branchesQuery, "OUTPUT", output, 1), q.Parent, q.Step, q.Step)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: branches of run %s: %w", q.Parent, err)
	}
	defer rows.Close()
	var out []store.Branch
	for rows.Next() {
		var b store.Branch
		var status string
		var input, out1 []byte
		var class, updated int64
		if err := rows.Scan(&b.RunID, &b.Pipeline, &b.Index, &b.Step, &b.Branch, &b.Name, &status, &b.Attempt,
			&b.InputHash, &input, &out1, &b.FailedStep, &b.Error, &class, &b.Spent.Tokens, &b.Spent.Cost, &updated); err != nil {
			return nil, fmt.Errorf("sqlitestore: branches of run %s: %w", q.Parent, err)
		}
		if input != nil {
			b.InputHash = store.Hash(input)
		}
		b.Status, b.Class, b.Output, b.UpdatedAt = store.Status(status), retry.Class(class), raw(out1), fromNanos(updated)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: branches of run %s: %w", q.Parent, err)
	}
	return out, nil
}
