package sqlitestore

import (
	"errors"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// A fork's join is a row of joins; the rules of what a child's change of
// status does to it are storekit's (JoinChange, Settle), applied here
// inside the write that changes the child, so that the join, the release
// of a waiting sibling and the settling of the parent commit with it.

// changed applies r's change of status, from from to r.Status, to its
// fork's join: live children counted, a waiting sibling released, and the
// parent settled once the fork's last live child has ended; and when r
// ended cancelled, it cancels r's own children that no worker holds. It
// reports whether a run became claimable, for the caller to wake the
// workers once the write has committed.
func (tx *writer) changed(r *store.Run, from store.Status, now time.Time) (wake bool, err error) {
	to := r.Status
	// The hot path: a top-level run has no join, and only a cancelled one
	// may have children to cancel.
	if r.Parent == nil && to != store.Cancelled {
		return false, nil
	}
	if to == store.Cancelled && from != store.Cancelled {
		if wake, err = tx.cancelChildren(r.ID, now); err != nil {
			return false, err
		}
	}
	if r.Parent == nil || from == to {
		return wake, nil
	}
	live, release := storekit.JoinChange(from, to)
	if live == 0 && !release {
		return wake, nil
	}
	p := r.Parent
	var n int
	var step string
	if live != 0 {
		err = tx.row("UPDATE joins SET live = live + ? WHERE parent_id = ? AND idx = ? RETURNING live, step", live, p.RunID, p.Index).Scan(&n, &step)
	} else {
		err = tx.row("SELECT live, step FROM joins WHERE parent_id = ? AND idx = ?", p.RunID, p.Index).Scan(&n, &step)
	}
	if isNoRows(err) {
		return wake, nil // a branch run enqueued by hand has no fork
	}
	if err != nil {
		return false, err
	}
	if release {
		released, err := tx.releaseOne(p.RunID, p.Index, now)
		if err != nil {
			return false, err
		}
		wake = wake || released
	}
	if live >= 0 || n != 0 {
		return wake, nil
	}
	settled, err := tx.settle(r, step, now)
	return wake || settled, err
}

const releaseQuery = `UPDATE runs SET status = 'queued', updated_at = ? WHERE id = (SELECT id FROM runs INDEXED BY runs_waiting_children
	WHERE parent_id = ? AND parent_index = ? AND status = 'waiting' ORDER BY branch LIMIT 1) RETURNING id, attempt`

// releaseOne queues the fork's first child waiting for a slot, by branch.
func (tx *writer) releaseOne(parent string, index int, now time.Time) (bool, error) {
	var id string
	var attempt int
	err := tx.row(releaseQuery, nanos(now), parent, index).Scan(&id, &attempt)
	if isNoRows(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = tx.exec("UPDATE attempts SET status = 'queued' WHERE run_id = ? AND attempt = ?", id, attempt)
	return err == nil, err
}

// settle applies storekit.Settle to the parent of child, the run whose end
// left its fork at step with no live child.
func (tx *writer) settle(child *store.Run, step string, now time.Time) (bool, error) {
	p, err := tx.loadRun(child.Parent.RunID, "settle the parent of")
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	switch storekit.Settle(&p, step, child) {
	case storekit.SettleQueue:
		_, err := tx.exec("UPDATE runs SET status = 'queued', not_before = 0, updated_at = ? WHERE id = ?", nanos(now), p.ID)
		return err == nil, err
	case storekit.SettleReplay:
		recs, _, err := tx.runSteps(p.ID)
		if err != nil {
			return false, err
		}
		def, err := tx.pipeline(p.Pipeline)
		if err != nil {
			return false, err
		}
		plan, refused := storekit.PlanReplay(&p, recs, def, store.ReplayRequest{RunID: p.ID, From: step,
			Reason: storekit.RecoveredReason(child.ID)})
		if refused != nil {
			// A parent that kept no payloads has no input left to join
			// with: it stays dead-lettered until it is replayed with one.
			return false, nil
		}
		from := p.Status
		if err := tx.replay(&p, plan, store.Queued, now); err != nil {
			return false, err
		}
		// The parent is live again: its own fork's join counts it.
		if _, err := tx.changed(&p, from, now); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

const cancelChildrenQuery = `SELECT r.id FROM runs r JOIN joins j ON j.parent_id = r.parent_id AND j.idx = r.parent_index
	WHERE r.parent_id = ? AND r.status IN ('waiting', 'queued', 'awaiting_review') ORDER BY r.parent_index, r.branch`

// cancelChildren cancels the children of parent that no worker holds
// (waiting, queued, awaiting review), and theirs. Each child's change
// applies to its join as any change does, so a cancelled child that held
// a slot releases the next, which is cancelled in its turn.
func (tx *writer) cancelChildren(parent string, now time.Time) (bool, error) {
	rows, err := tx.query(cancelChildrenQuery, parent)
	if err != nil {
		return false, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return false, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	wake := false
	for _, id := range ids {
		c, err := tx.loadRun(id, "cancel")
		if err != nil {
			return false, err
		}
		from := c.Status
		if from != store.Waiting && from != store.Queued && from != store.AwaitingReview {
			continue
		}
		c.Status, c.FinishedAt, c.UpdatedAt = store.Cancelled, now, now
		c.Step, c.Error = "", "parent "+parent+" was cancelled"
		if err := tx.record(&c, nil); err != nil {
			return false, err
		}
		if err := tx.saveRun(&c); err != nil {
			return false, err
		}
		if err := tx.endAttempt(&c, now); err != nil {
			return false, err
		}
		w, err := tx.changed(&c, from, now)
		if err != nil {
			return false, err
		}
		wake = wake || w
	}
	return wake, nil
}
