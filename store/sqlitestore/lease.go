package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// held returns the run (without its input) if l is its current lease.
func (tx *writer) held(l store.Lease) (store.Run, error) {
	r, err := scanRun(tx.row(selectRunLite+" WHERE r.id = ?", l.RunID))
	if isNoRows(err) {
		return r, fmt.Errorf("sqlitestore: run %s: %w", l.RunID, store.ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token {
		return r, fmt.Errorf("sqlitestore: run %s (lease %s): %w", l.RunID, l.Token, store.ErrLeaseLost)
	}
	return r, nil
}

// Heartbeat extends leases and reports the runs no longer held under them
// and those asked to cancel.
func (s *Store) Heartbeat(ctx context.Context, leases []store.Lease, d time.Duration) ([]string, error) {
	var lost []string
	err := s.write(ctx, func(tx *writer) error {
		lost = nil
		exp := nanos(s.clock.Now().Add(d))
		for _, l := range leases {
			n, err := affected(tx.exec("UPDATE runs SET lease_expires = ? WHERE id = ? AND status = 'running' AND lease_token = ? AND cancel IS NULL", exp, l.RunID, l.Token))
			if err != nil {
				return err
			}
			if n == 0 {
				// Lost, or held but asked to cancel: that lease is
				// extended all the same, for its worker to give it back.
				if _, err := tx.exec("UPDATE runs SET lease_expires = ? WHERE id = ? AND status = 'running' AND lease_token = ?", exp, l.RunID, l.Token); err != nil {
					return err
				}
				lost = append(lost, l.RunID)
			}
		}
		return nil
	})
	return lost, err
}

// Checkpoint records a step of a held run.
func (s *Store) Checkpoint(ctx context.Context, l store.Lease, rec store.StepRecord) error {
	var refused error
	var wake bool
	err := s.write(ctx, func(tx *writer) error {
		refused, wake = nil, false
		var pipeline string
		// The run's first trace rides on the update the checkpoint makes
		// anyway (storekit.NoteTrace): both CASEs read the row as it was.
		err := tx.row(`UPDATE runs SET updated_at = ?,
			span_id = CASE WHEN trace_id = '' AND ? <> '' THEN ? ELSE span_id END,
			trace_id = CASE WHEN trace_id = '' AND ? <> '' THEN ? ELSE trace_id END
			WHERE id = ? AND status = 'running' AND lease_token = ? AND cancel IS NULL RETURNING pipeline, attempt`,
			nanos(s.clock.Now()), rec.TraceID, rec.SpanID, rec.TraceID, rec.TraceID, l.RunID, l.Token).Scan(&pipeline, &rec.RunAttempt)
		if isNoRows(err) {
			// Not found, lease lost, or asked to cancel: then the run
			// ends cancelled instead.
			refused, wake, err = tx.heldCancelled("checkpoint", l, s.clock.Now())
			return err
		}
		if err != nil {
			return err
		}
		rec.RunID = l.RunID
		return tx.insertStep(pipeline, &rec)
	})
	return s.refused(err, refused, wake)
}

// refused returns what a write that may have ended its run cancelled
// returns: its own error, or the refusal it committed.
func (s *Store) refused(err, refused error, wake bool) error {
	if err != nil {
		return err
	}
	if wake {
		s.signal.Notify()
	}
	return refused
}

// Finish ends or defers the current attempt of a held run.
func (s *Store) Finish(ctx context.Context, l store.Lease, o store.Outcome) error {
	var wake bool
	var refused error
	err := s.write(ctx, func(tx *writer) error {
		wake, refused = false, nil
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		if r.Cancel != nil {
			refused, wake, err = tx.refuseCancelled("finish", &r, now)
			return err
		}
		var rec *store.StepRecord
		if o.Record != nil {
			c := *o.Record
			c.RunID, c.RunAttempt = r.ID, r.Attempt
			rec = &c
		}
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.UpdatedAt = now
		r.Step, r.Error, r.Class = o.Step, o.Error, o.Class
		r.Spent = o.Spent
		switch o.Status {
		case store.Queued:
			r.Status, r.NotBefore = store.Queued, o.NotBefore
			r.Deferrals++
		case store.AwaitingReview:
			r.Status, r.FinishedAt = store.AwaitingReview, now
			if o.Review != nil {
				rv := *o.Review
				rv.CreatedAt = now
				r.Review = &rv
			}
		case store.Held:
			// Parked like a review, with no review: Step, Error and
			// Class say why.
			r.Status, r.FinishedAt = store.Held, now
		case store.Succeeded, store.DeadLettered, store.Cancelled:
			r.Status, r.FinishedAt = o.Status, now
			r.Output = o.Output
		default:
			return fmt.Errorf("sqlitestore: finish run %s with status %q: %w", r.ID, o.Status, store.ErrConflict)
		}
		storekit.NoteTrace(&r, rec)
		if err := tx.record(&r, rec); err != nil {
			return err
		}
		if err := tx.saveRun(&r); err != nil {
			return err
		}
		if o.Status == store.DeadLettered {
			if _, err := tx.exec("UPDATE runs SET unclassified = ? WHERE id = ?", storekit.Unclassified(o), r.ID); err != nil {
				return err
			}
		}
		// A deferral does not end the attempt.
		if o.Status != store.Queued {
			if err := tx.endAttempt(&r, now); err != nil {
				return err
			}
		}
		// Free for a top-level run that does not end cancelled: held read
		// its parent_id (NULL) with the row.
		wake, err = tx.changed(&r, store.Running, now)
		return err
	})
	return s.refused(err, refused, wake)
}

// record appends rec (when not nil) to the run's records and, once a run
// that keeps no payloads has ended, scrubs the run and all its records
// with storekit.Scrub.
func (tx *writer) record(r *store.Run, rec *store.StepRecord) error {
	if !r.Status.Final() || r.KeepPayloads {
		if rec == nil {
			return nil
		}
		return tx.insertStep(r.Pipeline, rec)
	}
	recs, seqs, err := tx.runSteps(r.ID)
	if err != nil {
		return err
	}
	if rec != nil {
		recs = append(recs, *rec)
	}
	var input []byte
	if err := tx.row("SELECT input FROM attempts WHERE run_id = ? AND attempt = ?", r.ID, r.Attempt).Scan(&input); err != nil && !isNoRows(err) {
		return err
	}
	r.Input = raw(input)
	storekit.Scrub(r, recs)
	for i, seq := range seqs {
		att, err := attemptsBlob(&recs[i])
		if err != nil {
			return err
		}
		if _, err := tx.exec("UPDATE steps SET input = ?, output = ?, output_hash = ?, output_size = ?, attempts = ? WHERE seq = ?",
			blob(recs[i].Input), blob(recs[i].Output), recs[i].OutputHash, recs[i].OutputSize, att, seq); err != nil {
			return err
		}
	}
	if rec != nil {
		return tx.insertStep(r.Pipeline, &recs[len(recs)-1])
	}
	return nil
}

func (tx *writer) runSteps(id string) ([]store.StepRecord, []int64, error) {
	rows, err := tx.query("SELECT "+stepColumns+" FROM steps WHERE run_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, nil, err
	}
	return scanSteps(rows)
}

// endAttempt copies the run's outcome to its current attempt, as memstore
// does: a final outcome also stamps the end and, without payloads, drops
// the attempt's input.
func (tx *writer) endAttempt(r *store.Run, now time.Time) error {
	if !r.Status.Final() {
		// Awaiting review (or held), the attempt has ended until a
		// decision (or a replay); an approval makes it live again
		// (r.FinishedAt zero).
		_, err := tx.exec("UPDATE attempts SET status = ?, step = ?, error = ?, class = ?, finished_at = ? WHERE run_id = ? AND attempt = ?",
			string(r.Status), r.Step, r.Error, int64(r.Class), nanos(r.FinishedAt), r.ID, r.Attempt)
		return err
	}
	_, err := tx.exec(`UPDATE attempts SET status = ?, step = ?, error = ?, class = ?, finished_at = ?,
		input = CASE WHEN ? THEN input END WHERE run_id = ? AND attempt = ?`,
		string(r.Status), r.Step, r.Error, int64(r.Class), nanos(now), boolInt(r.KeepPayloads), r.ID, r.Attempt)
	return err
}

// Release gives back held runs for another worker to take at once; one
// asked to cancel ends cancelled instead.
func (s *Store) Release(ctx context.Context, leases []store.Lease) error {
	err := s.write(ctx, func(tx *writer) error {
		now := s.clock.Now()
		for _, l := range leases {
			n, err := affected(tx.exec(`UPDATE runs SET status = 'queued', lease_owner = '', lease_token = '', lease_expires = 0,
				updated_at = ? WHERE id = ? AND status = 'running' AND lease_token = ? AND cancel IS NULL`, nanos(now), l.RunID, l.Token))
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			// A lease no longer held is released already.
			if _, _, err := tx.heldCancelled("release", l, now); err != nil && !errors.Is(err, store.ErrLeaseLost) && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.signal.Notify()
	}
	return err
}
