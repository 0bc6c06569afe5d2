package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The event statements. Every transaction that writes a wait or an event
// first takes the advisory lock of their name and key (keyLockSQL), then
// the run's row: so one event goes to one wait, and no two of them
// deadlock.
const (
	eventColsSQL = "source, id, name, key, payload, received_at, expires_at, run_id, step, taken_at, refused"
	waitColsSQL  = "w.run_id, w.attempt, w.idx, w.pipeline, w.step, w.name, w.key, w.deadline, w.created_at, w.event_source, w.event_id, w.expired, w.resolved_at"

	keyLockSQL    = "SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(1) || $2 || chr(1) || $3, 0))"
	waitOfSQL     = "SELECT " + waitColsSQL + " FROM {s}.waits w WHERE w.run_id = $1 AND w.attempt = $2 AND w.idx = $3"
	eventByIDSQL  = "SELECT " + eventColsSQL + " FROM {s}.events WHERE source = $1 AND id = $2"
	eventRetaken  = "SELECT " + eventColsSQL + " FROM {s}.events WHERE run_id = $1 AND step = $2 AND name = $3 AND key = $4 ORDER BY taken_at DESC LIMIT 1"
	eventKeptSQL  = "SELECT " + eventColsSQL + " FROM {s}.events WHERE run_id IS NULL AND refused = '' AND name = $1 AND key = $2 AND expires_at > $3 ORDER BY received_at, source, id LIMIT 1"
	waitInsertSQL = `INSERT INTO {s}.waits (run_id, attempt, idx, pipeline, step, name, key, deadline, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
	waitTakeSQL   = "UPDATE {s}.waits SET event_source = $4, event_id = $5, resolved_at = $6 WHERE run_id = $1 AND attempt = $2 AND idx = $3"
	waitExpireSQL = "UPDATE {s}.waits SET expired = true, resolved_at = $4 WHERE run_id = $1 AND attempt = $2 AND idx = $3"
	eventTakeSQL  = "UPDATE {s}.events SET run_id = $3, step = $4, taken_at = $5 WHERE source = $1 AND id = $2"
	eventInsert   = "INSERT INTO {s}.events (" + eventColsSQL + ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
	// openWaitsSQL are the open waits of a name and key before their
	// deadline, oldest first; sendEvent locks each one's run and checks it
	// (storekit.WaitMatches) before it gives it the event.
	openWaitsSQL = `SELECT w.run_id, w.attempt, w.idx, w.step FROM {s}.waits w
		WHERE w.name = $1 AND w.key = $2 AND w.resolved_at IS NULL AND w.deadline > $3 ORDER BY w.created_at, w.run_id`
	runWaitsSQL = "SELECT status, attempt FROM {s}.runs WHERE id = $1 FOR NO KEY UPDATE"
	runDueSQL   = "UPDATE {s}.runs SET not_before = NULL, updated_at = $2 WHERE id = $1"
	// eventsExpireSQL deletes a batch of kept events past their keep.
	eventsExpireSQL = `DELETE FROM {s}.events WHERE (source, id) IN (SELECT source, id FROM {s}.events
		WHERE run_id IS NULL AND refused = '' AND expires_at <= $1 LIMIT $2)`
	eventDeleteSQL = "DELETE FROM {s}.events WHERE source = $1 AND id = $2"
)

func (s *Store) evq(sql string) string { return strings.ReplaceAll(sql, "{s}", s.q.schema) }

func scanEvent(row pgx.Row) (store.Event, error) {
	var e store.Event
	var payload []byte
	var runID *string
	var received, expires, taken pgtype.Timestamptz
	err := row.Scan(&e.Source, &e.ID, &e.Name, &e.Key, &payload, &received, &expires, &runID, &e.Step, &taken, &e.Refused)
	e.Payload = raw(payload)
	if runID != nil {
		e.RunID = *runID
	}
	e.ReceivedAt, e.ExpiresAt, e.TakenAt = fromTS(received), fromTS(expires), fromTS(taken)
	return e, err
}

func scanWait(row pgx.Row) (store.Wait, error) {
	var w store.Wait
	var deadline, created, resolved pgtype.Timestamptz
	err := row.Scan(&w.RunID, &w.Attempt, &w.Index, &w.Pipeline, &w.Step, &w.Name, &w.Key, &deadline, &created,
		&w.EventSource, &w.EventID, &w.Expired, &resolved)
	w.Deadline, w.CreatedAt, w.ResolvedAt = fromTS(deadline), fromTS(created), fromTS(resolved)
	return w, err
}

// event reads one event, or nil.
func (s *Store) event(ctx context.Context, tx pgx.Tx, q string, args ...any) (*store.Event, error) {
	e, err := scanEvent(tx.QueryRow(ctx, s.evq(q), args...))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// Await gives a held run's await step its event, expires its wait, or
// records the wait and queues the run until the deadline, in one
// transaction (storekit.PlanAwait).
func (s *Store) Await(ctx context.Context, l store.Lease, a store.Await) (store.AwaitResult, error) {
	if err := s.enter(); err != nil {
		return store.AwaitResult{}, err
	}
	defer s.leave()
	if err := storekit.CheckAwait(l.RunID, a); err != nil {
		return store.AwaitResult{}, fmt.Errorf("pgstore: %w", err)
	}
	a.Deadline = micros(a.Deadline)
	now := s.now()
	inTx := s.notes.inTx()
	w := newWakes()
	var res store.AwaitResult
	var refusal error
	err := s.retryDeadlock(ctx, func() error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			w.reset()
			refusal = nil
			var err error
			res, err = s.await(ctx, tx, l, a, now, w, inTx)
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
	if err != nil {
		return store.AwaitResult{}, s.wrap("await in run "+l.RunID, err)
	}
	return res, nil
}

func (s *Store) await(ctx context.Context, tx pgx.Tx, l store.Lease, a store.Await, now time.Time, w *wakes, inTx bool) (store.AwaitResult, error) {
	if _, err := tx.Exec(ctx, keyLockSQL, s.cfg.Schema, a.Name, a.Key); err != nil {
		return store.AwaitResult{}, err
	}
	r, records, err := s.lockRun(ctx, tx, l.RunID)
	if err != nil {
		return store.AwaitResult{}, err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token {
		return store.AwaitResult{}, fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", l.RunID, l.Token, r.Status, store.ErrLeaseLost)
	}
	if r.Cancel != nil {
		if err := s.endCancelled(ctx, tx, &r, records, *r.Cancel, now, w); err != nil {
			return store.AwaitResult{}, err
		}
		if err := s.notifyTx(ctx, tx, w, inTx); err != nil {
			return store.AwaitResult{}, err
		}
		return store.AwaitResult{}, &refused{fmt.Errorf("pgstore: %w", storekit.CancelledWrite("await", r.ID))}
	}
	idx := a.Record.Index
	var st storekit.AwaitStep
	wt, err := scanWait(tx.QueryRow(ctx, s.evq(waitOfSQL), r.ID, r.Attempt, idx))
	switch {
	case err == nil:
		st.Wait = &wt
	case !isNoRows(err):
		return store.AwaitResult{}, err
	}
	if st.Wait != nil && wt.EventID != "" {
		if st.Taken, err = s.event(ctx, tx, eventByIDSQL, wt.EventSource, wt.EventID); err != nil {
			return store.AwaitResult{}, err
		}
	}
	if st.Retaken, err = s.event(ctx, tx, eventRetaken, r.ID, a.Record.Step, a.Name, a.Key); err != nil {
		return store.AwaitResult{}, err
	}
	if st.Kept, err = s.event(ctx, tx, eventKeptSQL, a.Name, a.Key, now); err != nil {
		return store.AwaitResult{}, err
	}
	plan := storekit.PlanAwait(a, st, now)
	if plan.Resolved {
		return plan.Result(), nil
	}
	b := &pgx.Batch{}
	if st.Wait == nil {
		b.Queue(s.evq(waitInsertSQL), r.ID, r.Attempt, idx, r.Pipeline, a.Record.Step, a.Name, a.Key, plan.Deadline, now)
	}
	switch plan.Action {
	case storekit.AwaitTake:
		ev := plan.Event
		b.Queue(s.evq(waitTakeSQL), r.ID, r.Attempt, idx, ev.Source, ev.ID, now)
		if ev.RunID == "" {
			ev.RunID, ev.Step, ev.TakenAt = r.ID, a.Record.Step, now
			b.Queue(s.evq(eventTakeSQL), ev.Source, ev.ID, ev.RunID, ev.Step, now)
		}
	case storekit.AwaitExpire:
		b.Queue(s.evq(waitExpireSQL), r.ID, r.Attempt, idx, now)
	case storekit.AwaitWait:
		rec := a.Record
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		storekit.NoteTrace(&r, &rec)
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.Status, r.NotBefore = store.Queued, plan.Deadline
		r.Step, r.Error, r.Class = a.Record.Step, "", 0
		r.UpdatedAt = now
		if err := s.queueInsertStep(b, r.Pipeline, &rec); err != nil {
			return store.AwaitResult{}, err
		}
		if err := s.queueSaveRun(b, &r, records+1); err != nil {
			return store.AwaitResult{}, err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return store.AwaitResult{}, err
	}
	if plan.Action == storekit.AwaitWait && r.Parent != nil {
		if err := s.releaseOf(ctx, tx, &r, now, w); err != nil {
			return store.AwaitResult{}, err
		}
		if err := s.notifyTx(ctx, tx, w, inTx); err != nil {
			return store.AwaitResult{}, err
		}
	}
	return plan.Result(), nil
}

// SendEvent keeps an event and gives it to the oldest open wait for it,
// making that run due now and waking the workers, in one transaction.
func (s *Store) SendEvent(ctx context.Context, ne store.NewEvent) (store.Delivery, error) {
	if err := s.enter(); err != nil {
		return store.Delivery{}, err
	}
	defer s.leave()
	now := s.now()
	ev, err := storekit.PrepareEvent(ne, now)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("pgstore: %w", err)
	}
	ev.ExpiresAt = micros(ev.ExpiresAt)
	inTx := s.notes.inTx()
	w := newWakes()
	var d store.Delivery
	err = s.retryDeadlock(ctx, func() error {
		return s.tx(ctx, func(tx pgx.Tx) error {
			w.reset()
			var err error
			d, err = s.sendEvent(ctx, tx, ev, now, w, inTx)
			return err
		})
	})
	if err != nil {
		return store.Delivery{}, s.wrap("send event "+ev.Name+" "+ev.Key, err)
	}
	if !inTx {
		s.notes.committed(w.list()...)
	}
	return d, nil
}

func (s *Store) sendEvent(ctx context.Context, tx pgx.Tx, ev store.Event, now time.Time, w *wakes, inTx bool) (store.Delivery, error) {
	if _, err := tx.Exec(ctx, keyLockSQL, s.cfg.Schema, ev.Name, ev.Key); err != nil {
		return store.Delivery{}, err
	}
	old, err := s.event(ctx, tx, eventByIDSQL, ev.Source, ev.ID)
	if err != nil {
		return store.Delivery{}, err
	}
	if old != nil && !storekit.Replaces(old, ev) {
		return store.Delivery{Event: *old, Duplicate: true}, nil
	}
	if old != nil {
		if _, err := tx.Exec(ctx, s.evq(eventDeleteSQL), ev.Source, ev.ID); err != nil {
			return store.Delivery{}, err
		}
	}
	if _, err := tx.Exec(ctx, s.evq(eventsExpireSQL), now, storekit.ExpiredBatch); err != nil {
		return store.Delivery{}, err
	}
	type open struct {
		run          string
		attempt, idx int
		step         string
	}
	var opens []open
	if !ev.IsRefused() { // a refused event is given to no wait
		rows, err := tx.Query(ctx, s.evq(openWaitsSQL), ev.Name, ev.Key, now)
		if err != nil {
			return store.Delivery{}, err
		}
		var o open
		if _, err := pgx.ForEachRow(rows, []any{&o.run, &o.attempt, &o.idx, &o.step}, func() error {
			opens = append(opens, o)
			return nil
		}); err != nil {
			return store.Delivery{}, err
		}
	}
	var taker *open
	var pipeline string
	for i := range opens {
		var status string
		var attempt int
		err := tx.QueryRow(ctx, s.evq(runWaitsSQL), opens[i].run).Scan(&status, &attempt)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return store.Delivery{}, err
		}
		wt := store.Wait{Attempt: opens[i].attempt, Deadline: now.Add(time.Nanosecond)}
		if storekit.WaitMatches(&wt, &store.Run{Status: store.Status(status), Attempt: attempt}, now) {
			taker = &opens[i]
			break
		}
	}
	b := &pgx.Batch{}
	var runArg any
	if taker != nil {
		ev.RunID, ev.Step, ev.TakenAt = taker.run, taker.step, now
		runArg = taker.run
	}
	b.Queue(s.evq(eventInsert), ev.Source, ev.ID, ev.Name, ev.Key, blob(ev.Payload), ev.ReceivedAt, ev.ExpiresAt, runArg, ev.Step, ts(ev.TakenAt), ev.Refused)
	d := store.Delivery{Event: ev, Replaced: old != nil}
	if taker != nil {
		b.Queue(s.evq(waitTakeSQL), taker.run, taker.attempt, taker.idx, ev.Source, ev.ID, now)
		b.Queue(s.evq(runDueSQL), taker.run, now)
		if err := tx.QueryRow(ctx, s.evq("SELECT pipeline FROM {s}.runs WHERE id = $1"), taker.run).Scan(&pipeline); err != nil {
			return store.Delivery{}, err
		}
		w.add(pipeline)
		d.Woke = taker.run
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return store.Delivery{}, err
	}
	return d, s.notifyTx(ctx, tx, w, inTx)
}

// Events lists waits and events.
func (s *Store) Events(ctx context.Context, f store.EventFilter) (store.EventList, error) {
	if err := s.enter(); err != nil {
		return store.EventList{}, err
	}
	defer s.leave()
	limit := storekit.EventLimit(f)
	var wc, ec []string
	var wa, ea []any
	add := func(col, v string) {
		if v != "" {
			wa, ea = append(wa, v), append(ea, v)
			wc = append(wc, fmt.Sprintf("w.%s = $%d", col, len(wa)))
			ec = append(ec, fmt.Sprintf("%s = $%d", col, len(ea)))
		}
	}
	add("name", f.Name)
	add("key", f.Key)
	add("run_id", f.RunID)
	switch {
	case f.Refused:
		wc = append(wc, "false") // only refused events, no waits
		ec = append(ec, "refused <> ''")
	case !f.All:
		wc = append(wc, "w.resolved_at IS NULL", "r.attempt = w.attempt", "r.status IN ('queued', 'running')")
		ea = append(ea, s.now())
		ec = append(ec, "run_id IS NULL", "refused = ''", fmt.Sprintf("expires_at > $%d", len(ea)))
	}
	where := func(c []string) string {
		if len(c) == 0 {
			return ""
		}
		return " WHERE " + strings.Join(c, " AND ")
	}
	out := store.EventList{Waits: []store.Wait{}, Events: []store.Event{}}
	wa = append(wa, limit)
	rows, err := s.pool.Query(ctx, s.evq("SELECT "+waitColsSQL+" FROM {s}.waits w JOIN {s}.runs r ON r.id = w.run_id"+where(wc)+
		fmt.Sprintf(" ORDER BY w.created_at, w.run_id, w.attempt, w.idx LIMIT $%d", len(wa))), wa...)
	if err != nil {
		return out, s.wrap("list waits", err)
	}
	for rows.Next() {
		wt, err := scanWait(rows)
		if err != nil {
			rows.Close()
			return out, s.wrap("list waits", err)
		}
		out.Waits = append(out.Waits, wt)
	}
	if err := rows.Err(); err != nil {
		return out, s.wrap("list waits", err)
	}
	ea = append(ea, limit)
	rows, err = s.pool.Query(ctx, s.evq("SELECT "+eventColsSQL+" FROM {s}.events"+where(ec)+
		fmt.Sprintf(" ORDER BY received_at, source, id LIMIT $%d", len(ea))), ea...)
	if err != nil {
		return out, s.wrap("list events", err)
	}
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			rows.Close()
			return out, s.wrap("list events", err)
		}
		out.Events = append(out.Events, e)
	}
	if err := rows.Err(); err != nil {
		return out, s.wrap("list events", err)
	}
	return out, nil
}
