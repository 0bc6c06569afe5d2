package sqlitestore

import (
	"context"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// A cancellation asked while a worker holds the run is the runs row's
// cancel column (NULL on every run nobody cancels). The hot path's writes
// of a held run test "cancel IS NULL" in the statement they run anyway
// (Heartbeat, Checkpoint, Release) or read it with the row they read
// anyway (Finish, Fork, and Claim's expired leases), and only when it is
// set take the slow path here: the run ends cancelled in the same
// transaction.

// Cancel cancels a run: at once when no worker holds it; a running run is
// marked, and ends at its worker's next word for it (storekit.PlanCancel).
func (s *Store) Cancel(ctx context.Context, req store.CancelRequest) (*store.Run, error) {
	var out *store.Run
	var wake bool
	err := s.write(ctx, func(tx *writer) error {
		out, wake = nil, false
		r, err := tx.loadRun(req.RunID, "cancel")
		if err != nil {
			return err
		}
		action, err := storekit.PlanCancel(&r)
		if err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		now := s.clock.Now()
		c := storekit.Cancellation(req, now)
		switch action {
		case storekit.CancelMark:
			if storekit.MarkCancel(&r, c, now) {
				if err := tx.markCancel(r.ID, r.Cancel, now); err != nil {
					return err
				}
			}
		case storekit.CancelEnd:
			if wake, err = tx.endCancelled(&r, c, now); err != nil {
				return err
			}
		}
		out = &r
		return nil
	})
	if err != nil {
		return nil, err
	}
	if wake {
		s.signal.Notify()
	}
	return out, nil
}

// markCancel sets a running run's cancellation, unless it has one.
func (tx *writer) markCancel(id string, c *store.Cancellation, now time.Time) error {
	b, err := cancelBlob(c)
	if err != nil {
		return err
	}
	_, err = tx.exec("UPDATE runs SET cancel = ?, updated_at = ? WHERE id = ? AND cancel IS NULL", b, nanos(now), id)
	return err
}

// endCancelled ends r (read by any of the run queries, with or without
// its input) cancelled under the cancellation it carries, else c
// (storekit.EndCancelled): its attempt ended, its payloads scrubbed when
// it keeps none, its join changed and its children cancelled. It reports
// whether a run became claimable.
func (tx *writer) endCancelled(r *store.Run, c store.Cancellation, now time.Time) (bool, error) {
	from, err := tx.setCancelled(r, c, now)
	if err != nil {
		return false, err
	}
	return tx.changed(r, from, now)
}

// setCancelled writes r ended cancelled, leaving its join to the caller;
// it returns r's status before.
func (tx *writer) setCancelled(r *store.Run, c store.Cancellation, now time.Time) (store.Status, error) {
	// tx.record scrubs the records and the input it reads; r's own
	// fields are scrubbed here.
	from := storekit.EndCancelled(r, c, nil, now)
	if err := tx.record(r, nil); err != nil {
		return from, err
	}
	if err := tx.saveRun(r); err != nil {
		return from, err
	}
	return from, tx.endAttempt(r, now)
}

// refuseCancelled ends cancelled a marked run its worker holds and writes
// for (op), and returns the error that write gets.
func (tx *writer) refuseCancelled(op string, r *store.Run, now time.Time) (refused error, wake bool, err error) {
	if wake, err = tx.endCancelled(r, *r.Cancel, now); err != nil {
		return nil, false, err
	}
	return fmt.Errorf("sqlitestore: %w", storekit.CancelledWrite(op, r.ID)), wake, nil
}

// heldCancelled is refuseCancelled for a write whose statement found no
// row held under l free of a cancellation: a run not held under l is
// ErrLeaseLost (or ErrNotFound), as the write would have been.
func (tx *writer) heldCancelled(op string, l store.Lease, now time.Time) (refused error, wake bool, err error) {
	r, err := tx.held(l)
	if err != nil {
		return nil, false, err
	}
	if r.Cancel == nil {
		return nil, false, fmt.Errorf("sqlitestore: run %s (lease %s): %w", l.RunID, l.Token, store.ErrLeaseLost)
	}
	return tx.refuseCancelled(op, &r, now)
}
