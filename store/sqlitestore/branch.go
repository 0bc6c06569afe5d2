package sqlitestore

import (
	"context"
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
	err := s.write(ctx, func(tx *writer) error {
		wake = false
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		for _, nr := range f.Children {
			if !store.ValidID(nr.ID) || nr.Pipeline == "" || nr.Parent == nil || nr.Parent.RunID != r.ID || nr.Parent.Index != f.Record.Index {
				return fmt.Errorf("sqlitestore: fork of run %s: child %q must name the run and step %d as its parent: %w", r.ID, nr.ID, f.Record.Index, store.ErrConflict)
			}
		}
		existing, err := tx.forkChildren(r.ID, f.Record.Index)
		if err != nil {
			return err
		}
		plan := storekit.PlanFork(f, existing)
		now := s.clock.Now()
		for _, c := range plan.Create {
			if err := tx.insertChild(c.Run, c.Status, now); err != nil {
				return err
			}
			wake = wake || c.Status == store.Queued
		}
		for _, c := range plan.Restart {
			child, err := tx.loadRun(c.Run.ID, "restart")
			if err != nil {
				return err
			}
			p, err := tx.planReplay(&child, store.ReplayRequest{RunID: child.ID, Input: c.Run.Input, Reason: storekit.RestartReason(r.ID)})
			if err != nil {
				return err
			}
			if err := tx.replay(&child, p, c.Status, now); err != nil {
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
	if err == nil && wake {
		s.signal.Notify()
	}
	return err
}

const forkChildrenQuery = `SELECT r.id, r.status, r.input_hash, a.input FROM runs r
	LEFT JOIN attempts a ON a.run_id = r.id AND a.attempt = r.attempt
	WHERE r.parent_id = ? AND r.parent_index = ?`

// forkChildren reads the children a fork of parent at index made before,
// by id, as PlanFork compares them: the hash of the current input.
func (tx *writer) forkChildren(parent string, index int) (map[string]storekit.ExistingChild, error) {
	rows, err := tx.query(forkChildrenQuery, parent, index)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]storekit.ExistingChild{}
	for rows.Next() {
		var id, status, hash string
		var input []byte
		if err := rows.Scan(&id, &status, &hash, &input); err != nil {
			return nil, err
		}
		if input != nil {
			hash = store.Hash(input)
		}
		out[id] = storekit.ExistingChild{Status: store.Status(status), InputHash: hash}
	}
	return out, rows.Err()
}

// insertChild adds a branch run, as Enqueue would, in status.
func (tx *writer) insertChild(nr store.NewRun, status store.Status, now time.Time) error {
	p := *nr.Parent
	r := store.Run{
		ID: nr.ID, Pipeline: nr.Pipeline, Status: status, Attempt: 1,
		Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
		InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
		InputReplaced: nr.InputReplaced, NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads,
		CreatedAt: now, UpdatedAt: now, Parent: &p, Budget: nr.Budget,
	}
	if err := tx.insertRun(&r); err != nil {
		return err
	}
	return tx.insertAttempt(r.ID, store.RunAttempt{Attempt: 1, Reason: "forked by " + p.RunID,
		Input: nr.Input, Status: status, StartedAt: now})
}

// branchesQuery reads the children of a parent's joins in step index then
// branch order, OUTPUT their output or NULL.
const branchesQuery = `SELECT r.id, r.pipeline, r.parent_index, r.parent_step, r.branch, coalesce(r.branch_name, ''),
	r.status, r.attempt, r.input_hash, a.input, OUTPUT, r.step, r.error, r.class, r.spent_tokens, r.spent_cost, r.updated_at
	FROM runs r JOIN joins j ON j.parent_id = r.parent_id AND j.idx = r.parent_index
	LEFT JOIN attempts a ON a.run_id = r.id AND a.attempt = r.attempt
	WHERE r.parent_id = ? AND (? = '' OR j.step = ?) ORDER BY r.parent_index, r.branch`

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
