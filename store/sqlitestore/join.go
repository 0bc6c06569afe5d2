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
		if wake, err = tx.cancelChildren(r, now); err != nil {
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
	var n, limit int
	var step string
	// A child its parent's last fork at that step no longer names is no
	// part of the join.
	if live != 0 {
		err = tx.row(`UPDATE joins SET live = live + ? WHERE parent_id = ? AND idx = ?
			AND NOT EXISTS (SELECT 1 FROM runs WHERE id = ? AND dropped = 1) RETURNING live, step, lim`,
			live, p.RunID, p.Index, r.ID).Scan(&n, &step, &limit)
	} else {
		err = tx.row(joinOfChildQuery, p.RunID, p.Index, r.ID).Scan(&n, &step, &limit)
	}
	if isNoRows(err) {
		return wake, nil // no fork's join counts it (or a branch run enqueued by hand)
	}
	if err != nil {
		return false, err
	}
	if release {
		released, err := tx.release(p.RunID, p.Index, limit, now)
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

// joinOfChildQuery reads the join of child $3 ($1, $2: its parent and
// step index): its live count, step and limit; no row when the parent's
// last fork at that step no longer names the child.
const joinOfChildQuery = `SELECT live, step, lim FROM joins WHERE parent_id = ? AND idx = ?
	AND NOT EXISTS (SELECT 1 FROM runs WHERE id = ? AND dropped = 1)`

// openWaitOfRun is whether run r's current attempt has an open wait: it
// waits for an event (storekit.JoinChange).
const openWaitOfRun = `EXISTS (SELECT 1 FROM waits w WHERE w.run_id = r.id AND w.attempt = r.attempt AND w.resolved_at = 0)`

// activeChildrenQuery counts a join's children that hold a slot: queued
// or running, and not waiting for an event. Whether any wait is open at
// all is asked once (SQLite runs a subquery that names no outer column
// once), so that a store with none looks up no child's.
const activeChildrenQuery = `SELECT count(*) FROM runs r INDEXED BY runs_active_children
	WHERE r.parent_id = ? AND r.parent_index = ? AND r.status IN ('queued', 'running') AND r.dropped IS NULL
	AND (NOT EXISTS (SELECT 1 FROM waits INDEXED BY waits_open WHERE resolved_at = 0) OR NOT ` + openWaitOfRun + `)`

// releaseQuery queues up to a number (-1: all) of a join's children
// waiting for a slot, in branch order.
const releaseQuery = `UPDATE runs SET status = 'queued', updated_at = ? WHERE id IN (SELECT id FROM runs INDEXED BY runs_waiting_children
	WHERE parent_id = ? AND parent_index = ? AND status = 'waiting' AND dropped IS NULL ORDER BY branch LIMIT ?)`

// release queues the fork's first children waiting for a slot, in branch
// order, as many as its limit has room for (storekit.Releases).
func (tx *writer) release(parent string, index, limit int, now time.Time) (bool, error) {
	room := -1
	if limit > 0 {
		var active int
		if err := tx.row(activeChildrenQuery, parent, index).Scan(&active); err != nil {
			return false, err
		}
		if room = storekit.Releases(limit, active, limit); room == 0 {
			return false, nil
		}
	}
	// A released child's attempt reads as queued from the run
	// (storekit.SyncCurrentAttempt): its row is not written.
	res, err := tx.exec(releaseQuery, nanos(now), parent, index, room)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// releaseOf gives the slot of branch run r, which has just started to
// wait for an event, to the next of its siblings waiting for one; it
// reports whether one became claimable.
func (tx *writer) releaseOf(r *store.Run, now time.Time) (bool, error) {
	p := r.Parent
	if p == nil {
		return false, nil
	}
	var live, limit int
	var step string
	err := tx.row(joinOfChildQuery, p.RunID, p.Index, r.ID).Scan(&live, &step, &limit)
	if isNoRows(err) || err == nil && limit <= 0 {
		return false, nil // no fork's join counts it, or no limit holds a sibling back
	}
	if err != nil {
		return false, err
	}
	return tx.release(p.RunID, p.Index, limit, now)
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

// cancelChildrenQuery lists a parent's live children in its forks' joins.
const cancelChildrenQuery = `SELECT r.id, r.status FROM runs r JOIN joins j ON j.parent_id = r.parent_id AND j.idx = r.parent_index
	WHERE r.parent_id = ? AND r.status IN ('waiting', 'queued', 'awaiting_review', 'held', 'running') AND r.dropped IS NULL
	ORDER BY r.parent_index, r.branch`

// cancelChildren applies the children hook of parent, a run that has
// ended cancelled (storekit.ChildCancel, ChildCancellation): its children
// no worker holds end cancelled, and theirs with them; running ones are
// marked, to end at their workers' next word. It ends them all before it
// applies the changes to the joins, so that none is released only to be
// cancelled.
func (tx *writer) cancelChildren(parent *store.Run, now time.Time) (bool, error) {
	type child struct {
		id     string
		status store.Status
	}
	rows, err := tx.query(cancelChildrenQuery, parent.ID)
	if err != nil {
		return false, err
	}
	var kids []child
	for rows.Next() {
		var c child
		if err := rows.Scan(&c.id, &c.status); err != nil {
			rows.Close()
			return false, err
		}
		kids = append(kids, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	cancel := storekit.ChildCancellation(parent, now)
	type change struct {
		run  store.Run
		from store.Status
	}
	var changes []change
	for _, k := range kids {
		switch storekit.ChildCancel(k.status) {
		case storekit.CancelMark:
			c := cancel
			if err := tx.markCancel(k.id, &c, now); err != nil {
				return false, err
			}
		case storekit.CancelEnd:
			r, err := tx.loadRun(k.id, "cancel")
			if err != nil {
				return false, err
			}
			from, err := tx.setCancelled(&r, cancel, now)
			if err != nil {
				return false, err
			}
			changes = append(changes, change{r, from})
		}
	}
	wake := false
	for i := range changes {
		w, err := tx.changed(&changes[i].run, changes[i].from, now)
		if err != nil {
			return false, err
		}
		wake = wake || w
	}
	return wake, nil
}
