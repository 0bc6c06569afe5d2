package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Cancellation (store.Cancellation) as this store keeps it: the mark is
// three columns of the run's row (cancel_at, NULL when nobody asked;
// cancel_by; cancel_reason). A run that no worker holds ends cancelled
// in Cancel's transaction. A running run is marked, and every write of
// its worker finds the mark under the lease it checks: Heartbeat reports
// it lost (its lease stays valid); the hot write of held runs (heldSQL)
// skips it, so that Checkpoint and Finish take the Go path, which ends it
// cancelled (finishTx) and refuses the write; Fork does the same in its
// own transaction; Release ends it instead of queueing it; a Claim that
// takes its expired lease ends it and does not return it. Whatever the
// path, the end is one function (endCancelled): the run, its attempt, its
// fork's join, its children (the hook, join.go) and the notification on
// Config.EndChannel commit together.

// markCancelSQL marks a running run ($1) cancelled by $3 for $4 at $2.
const markCancelSQL = `UPDATE {s}.runs SET cancel_at = $2, cancel_by = $3, cancel_reason = $4, updated_at = $2 WHERE id = $1`

// lockRunningKidsSQL locks the running children of run $1 in id order.
const lockRunningKidsSQL = `SELECT id FROM {s}.runs WHERE parent_id = $1 AND status = 'running' ORDER BY id FOR NO KEY UPDATE`

// Cancel cancels a run: at once when no worker holds it, by the mark
// when one does. A run that has ended is a *store.FinalError.
func (s *Store) Cancel(ctx context.Context, req store.CancelRequest) (*store.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var out store.Run
	inTx := s.notes.inTx()
	w := newWakes()
	err := s.retryDeadlock(ctx, func() error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			w.reset()
			// The run's running children first: a child's end locks the
			// child, then its join, then the parent, and the children
			// hook marks them after it has locked the parent and its
			// joins. Taking them first, as a child's end does, leaves a
			// deadlock to a child claimed meanwhile (retryDeadlock).
			if _, err := tx.Exec(ctx, s.q.lockRunningKids, req.RunID); err != nil {
				return err
			}
			// A branch run's join is locked before its row, as Replay
			// and Decide do.
			if err := s.lockJoinOf(ctx, tx, req.RunID); err != nil {
				return err
			}
			r, records, err := s.lockRun(ctx, tx, req.RunID)
			if err != nil {
				return err
			}
			action, err := storekit.PlanCancel(&r)
			if err != nil {
				return err
			}
			now := s.now()
			c := storekit.Cancellation(req, now)
			switch action {
			case storekit.CancelMark:
				if storekit.MarkCancel(&r, c, now) {
					if _, err := tx.Exec(ctx, s.q.markCancel, r.ID, now, c.By, c.Reason); err != nil {
						return err
					}
				}
			case storekit.CancelEnd:
				if err := s.endCancelled(ctx, tx, &r, records, c, now, w); err != nil {
					return err
				}
			}
			out = r
			return s.notifyTx(ctx, tx, w, inTx)
		})
	})
	if err != nil {
		return nil, s.wrap("cancel run "+req.RunID, err)
	}
	if !inTx {
		s.notes.committed(w.list()...)
	}
	return &out, nil
}

// endCancelled ends r, which the transaction holds locked, cancelled at
// now (storekit.EndCancelled: under its mark, else c), with its current
// attempt, its payloads scrubbed when it keeps none, its fork's join
// changed and its children cancelled (changed); w gets its end.
func (s *Store) endCancelled(ctx context.Context, tx pgx.Tx, r *store.Run, records int, c store.Cancellation, now time.Time, w *wakes) error {
	from := storekit.EndCancelled(r, c, nil, now)
	b := &pgx.Batch{}
	if err := s.scrub(ctx, tx, b, r, nil); err != nil {
		return err
	}
	if err := s.queueSaveRun(b, r, records); err != nil {
		return err
	}
	s.queueEndAttempt(b, r, now)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	w.end(r.ID)
	return s.changed(ctx, tx, r, from, now, w)
}

// endMarked ends the held run of l cancelled if it is marked (a
// checkpoint, a release or a claim, write, found the mark), as a finish in
// Go of the group-commit writer, and returns the refusal
// (store.ErrCancelled) or why the lease is not held.
func (s *Store) endMarked(ctx context.Context, l store.Lease, write string) error {
	g := &op{kind: opFinishTx, key: l.RunID, lease: l, now: s.now(), out: &store.Outcome{Status: store.Cancelled},
		cancelOnly: write, notify: s.notes.inTx()}
	err := s.writer.do(ctx, g)
	if err == nil && !g.notify {
		s.notes.committed(g.wakes.list()...)
	}
	return err
}

// retryDeadlock runs fn again when the server aborted it to break a
// deadlock: a cancellation locks a parent, then its joins, then its
// running children to mark them, while a child's worker may hold the
// child and wait for the join; the server picks one to abort.
func (s *Store) retryDeadlock(ctx context.Context, fn func() error) error {
	for i := 0; ; i++ {
		err := fn()
		if pgCode(err) != codeDeadlock || i == 4 || ctx.Err() != nil {
			return err
		}
	}
}

// WaitRun returns the run once it has ended (succeeded, dead-lettered,
// cancelled) or is parked (awaits review, or is held). It subscribes to
// the run's id on the store's one LISTEN connection (Config.EndChannel)
// before it reads the run, so that an end committed between the read
// and the wait still wakes it, and reads the run again on each
// notification of its id and after the connection was lost and made
// again (what was notified meanwhile is lost).
func (s *Store) WaitRun(ctx context.Context, id string) (*store.Run, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	wt := s.wake.await(id)
	s.leave()
	defer s.wake.forget(wt)
	select {
	case <-s.wake.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		r, err := s.readRun(ctx, id)
		// A read is safe to repeat, and the cut that makes the waiters
		// read again may have cut the pool's idle connections too, which
		// the pool finds dead one by one.
		for try := 0; err != nil && try < readTries && !errors.Is(err, store.ErrNotFound) &&
			!errors.Is(err, store.ErrClosed) && ctx.Err() == nil; try++ {
			r, err = s.readRun(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		if storekit.WaitEnded(r.Status) {
			return &r, nil
		}
		select {
		case <-wt.c:
		case <-s.wake.stopped:
			return nil, fmt.Errorf("pgstore: wait for run %s: %w", id, store.ErrClosed)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readTries bounds the repeats of a WaitRun read that failed.
const readTries = 8

// readRun reads one run, without its timeline.
func (s *Store) readRun(ctx context.Context, id string) (store.Run, error) {
	if err := s.enter(); err != nil {
		return store.Run{}, err
	}
	defer s.leave()
	r, err := scanRun(s.pool.QueryRow(ctx, s.q.runByID, id))
	if isNoRows(err) {
		return r, fmt.Errorf("pgstore: run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, s.wrap("read run "+id, err)
	}
	return r, nil
}
