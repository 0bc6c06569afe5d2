package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

const (
	eventColumns = "source, id, name, key, payload, received_at, expires_at, run_id, step, taken_at, refused"
	waitColumns  = "w.run_id, w.attempt, w.idx, w.pipeline, w.step, w.name, w.key, w.deadline, w.created_at, w.event_source, w.event_id, w.expired, w.resolved_at"
)

func scanEvent(sc rowScanner) (store.Event, error) {
	var e store.Event
	var payload []byte
	var runID sql.NullString
	var received, expires, taken int64
	err := sc.Scan(&e.Source, &e.ID, &e.Name, &e.Key, &payload, &received, &expires, &runID, &e.Step, &taken, &e.Refused)
	e.Payload, e.RunID = raw(payload), runID.String
	e.ReceivedAt, e.ExpiresAt, e.TakenAt = fromNanos(received), fromNanos(expires), fromNanos(taken)
	return e, err
}

func scanWait(sc rowScanner) (store.Wait, error) {
	var w store.Wait
	var deadline, created, resolved int64
	var expired int64
	err := sc.Scan(&w.RunID, &w.Attempt, &w.Index, &w.Pipeline, &w.Step, &w.Name, &w.Key, &deadline, &created,
		&w.EventSource, &w.EventID, &expired, &resolved)
	w.Deadline, w.CreatedAt, w.ResolvedAt, w.Expired = fromNanos(deadline), fromNanos(created), fromNanos(resolved), expired != 0
	return w, err
}

// event reads one event, or nil.
func (tx *writer) event(q string, args ...any) (*store.Event, error) {
	e, err := scanEvent(tx.row("SELECT "+eventColumns+" FROM events WHERE "+q, args...))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Await gives a held run's await step its event, expires its wait, or
// records the wait and queues the run until the deadline, in one write
// (storekit.PlanAwait).
func (s *Store) Await(ctx context.Context, l store.Lease, a store.Await) (store.AwaitResult, error) {
	var res store.AwaitResult
	var refused error
	var wake bool
	err := s.write(ctx, func(tx *writer) error {
		res, refused, wake = store.AwaitResult{}, nil, false
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if r.Cancel != nil {
			refused, wake, err = tx.refuseCancelled("await", &r, now)
			return err
		}
		if err := storekit.CheckAwait(r.ID, a); err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		idx := a.Record.Index
		var st storekit.AwaitStep
		w, err := scanWait(tx.row("SELECT "+waitColumns+" FROM waits w WHERE w.run_id = ? AND w.attempt = ? AND w.idx = ?", r.ID, r.Attempt, idx))
		switch {
		case err == nil:
			st.Wait = &w
		case !isNoRows(err):
			return err
		}
		if st.Wait != nil && w.EventID != "" {
			if st.Taken, err = tx.event("source = ? AND id = ?", w.EventSource, w.EventID); err != nil {
				return err
			}
		}
		if st.Retaken, err = tx.event("run_id = ? AND step = ? AND name = ? AND key = ? ORDER BY taken_at DESC LIMIT 1",
			r.ID, a.Record.Step, a.Name, a.Key); err != nil {
			return err
		}
		if st.Kept, err = tx.event("run_id IS NULL AND refused = '' AND name = ? AND key = ? AND expires_at > ? ORDER BY received_at, source, id LIMIT 1",
			a.Name, a.Key, nanos(now)); err != nil {
			return err
		}
		plan := storekit.PlanAwait(a, st, now)
		res = plan.Result()
		if plan.Resolved {
			return nil
		}
		if st.Wait == nil {
			if _, err := tx.exec(`INSERT INTO waits (run_id, attempt, idx, pipeline, step, name, key, deadline, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Attempt, idx, r.Pipeline, a.Record.Step, a.Name, a.Key,
				nanos(plan.Deadline), nanos(now)); err != nil {
				return err
			}
		}
		switch plan.Action {
		case storekit.AwaitTake:
			ev := plan.Event
			if _, err := tx.exec("UPDATE waits SET event_source = ?, event_id = ?, resolved_at = ? WHERE run_id = ? AND attempt = ? AND idx = ?",
				ev.Source, ev.ID, nanos(now), r.ID, r.Attempt, idx); err != nil {
				return err
			}
			if ev.RunID == "" {
				ev.RunID, ev.Step, ev.TakenAt = r.ID, a.Record.Step, now
				if _, err := tx.exec("UPDATE events SET run_id = ?, step = ?, taken_at = ? WHERE source = ? AND id = ?",
					ev.RunID, ev.Step, nanos(now), ev.Source, ev.ID); err != nil {
					return err
				}
			}
			return nil
		case storekit.AwaitExpire:
			_, err := tx.exec("UPDATE waits SET expired = 1, resolved_at = ? WHERE run_id = ? AND attempt = ? AND idx = ?",
				nanos(now), r.ID, r.Attempt, idx)
			return err
		}
		rec := a.Record
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		storekit.NoteTrace(&r, &rec)
		if err := tx.insertStep(r.Pipeline, &rec); err != nil {
			return err
		}
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.Status, r.NotBefore = store.Queued, plan.Deadline
		r.Step, r.Error, r.Class = a.Record.Step, "", 0
		r.UpdatedAt = now
		if err := tx.saveRun(&r); err != nil {
			return err
		}
		wake, err = tx.releaseOf(&r, now)
		return err
	})
	if err := s.refused(err, refused, wake); err != nil {
		return store.AwaitResult{}, err
	}
	return res, nil
}

// SendEvent keeps an event and gives it to the oldest open wait for it,
// making that run due now, in one write.
func (s *Store) SendEvent(ctx context.Context, ne store.NewEvent) (store.Delivery, error) {
	var d store.Delivery
	err := s.write(ctx, func(tx *writer) error {
		d = store.Delivery{}
		now := s.clock.Now()
		ev, err := storekit.PrepareEvent(ne, now)
		if err != nil {
			return fmt.Errorf("sqlitestore: %w", err)
		}
		old, err := tx.event("source = ? AND id = ?", ev.Source, ev.ID)
		if err != nil {
			return err
		}
		if old != nil && !storekit.Replaces(old, ev) {
			d = store.Delivery{Event: *old, Duplicate: true}
			return nil
		}
		if old != nil {
			if _, err := tx.exec("DELETE FROM events WHERE source = ? AND id = ?", ev.Source, ev.ID); err != nil {
				return err
			}
			d.Replaced = true
		}
		if _, err := tx.exec(`DELETE FROM events WHERE rowid IN (SELECT rowid FROM events
			WHERE run_id IS NULL AND refused = '' AND expires_at <= ? LIMIT ?)`, nanos(now), storekit.ExpiredBatch); err != nil {
			return err
		}
		// The oldest open wait of a run queued in the attempt that
		// waits, before its deadline (storekit.WaitMatches).
		var runID string
		var attempt, idx int
		var step string
		err = sql.ErrNoRows // a refused event is given to no wait
		if !ev.IsRefused() {
			err = tx.row(`SELECT w.run_id, w.attempt, w.idx, w.step FROM waits w JOIN runs r ON r.id = w.run_id
			WHERE w.name = ? AND w.key = ? AND w.resolved_at = 0 AND w.deadline > ? AND r.status = 'queued' AND r.attempt = w.attempt
			ORDER BY w.created_at, w.run_id LIMIT 1`, ev.Name, ev.Key, nanos(now)).Scan(&runID, &attempt, &idx, &step)
		}
		switch {
		case err == nil:
			ev.RunID, ev.Step, ev.TakenAt = runID, step, now
		case !isNoRows(err):
			return err
		}
		var runArg any
		if ev.RunID != "" {
			runArg = ev.RunID
		}
		if _, err := tx.exec("INSERT INTO events ("+eventColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			ev.Source, ev.ID, ev.Name, ev.Key, blob(ev.Payload), nanos(ev.ReceivedAt), nanos(ev.ExpiresAt), runArg, ev.Step, nanos(ev.TakenAt), ev.Refused); err != nil {
			return err
		}
		if ev.RunID != "" {
			if _, err := tx.exec("UPDATE waits SET event_source = ?, event_id = ?, resolved_at = ? WHERE run_id = ? AND attempt = ? AND idx = ?",
				ev.Source, ev.ID, nanos(now), runID, attempt, idx); err != nil {
				return err
			}
			if _, err := tx.exec("UPDATE runs SET not_before = ?, updated_at = ? WHERE id = ?", nanos(now), nanos(now), runID); err != nil {
				return err
			}
			d.Woke = runID
		}
		d.Event = ev
		return nil
	})
	if err != nil {
		return store.Delivery{}, err
	}
	if d.Woke != "" {
		s.signal.Notify()
	}
	return d, nil
}

// Events lists waits and events.
func (s *Store) Events(ctx context.Context, f store.EventFilter) (store.EventList, error) {
	if err := s.enter(); err != nil {
		return store.EventList{}, err
	}
	defer s.leave()
	limit := storekit.EventLimit(f)
	now := nanos(s.clock.Now())
	var wc, ec []string
	var wa, ea []any
	add := func(col, v string) {
		if v != "" {
			wc, wa = append(wc, "w."+col+" = ?"), append(wa, v)
			ec, ea = append(ec, col+" = ?"), append(ea, v)
		}
	}
	add("name", f.Name)
	add("key", f.Key)
	add("run_id", f.RunID)
	switch {
	case f.Refused:
		wc = append(wc, "0") // only refused events, no waits
		ec = append(ec, "refused <> ''")
	case !f.All:
		wc = append(wc, "w.resolved_at = 0", "r.attempt = w.attempt", "r.status IN ('queued', 'running')")
		ec, ea = append(ec, "run_id IS NULL", "refused = ''", "expires_at > ?"), append(ea, now)
	}
	where := func(c []string) string {
		if len(c) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(c, " AND ")
	}
	out := store.EventList{Waits: []store.Wait{}, Events: []store.Event{}}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return out, fmt.Errorf("sqlitestore: events: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	err = scanAll(ctx, tx, "SELECT "+waitColumns+" FROM waits w JOIN runs r ON r.id = w.run_id"+where(wc)+
		" ORDER BY w.created_at, w.run_id, w.attempt, w.idx LIMIT ?", append(wa, limit), func(rows *sql.Rows) error {
		w, err := scanWait(rows)
		out.Waits = append(out.Waits, w)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("sqlitestore: events: %w", err)
	}
	err = scanAll(ctx, tx, "SELECT "+eventColumns+" FROM events"+where(ec)+" ORDER BY received_at, source, id LIMIT ?",
		append(ea, limit), func(rows *sql.Rows) error {
			e, err := scanEvent(rows)
			out.Events = append(out.Events, e)
			return err
		})
	if err != nil {
		return out, fmt.Errorf("sqlitestore: events: %w", err)
	}
	return out, nil
}
