package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Finish ends or defers the current attempt of a held run. The common
// case is one row of a group-commit batch (heldSQL): the lease check, the
// run's new state, the last step record, the attempt's outcome and the
// wake-up commit together. A run that keeps no payloads and ends for good
// is scrubbed (storekit.Scrub), and a branch run that ends or parks
// (awaits review, or is held: store.Status.Parked) updates its fork's
// join (join.go): such finishes, whose rules are in Go, are ops of the
// writer too (opFinishTx), written together in a transaction the batch
// opens (batchtx.go).
func (s *Store) Finish(ctx context.Context, l store.Lease, out store.Outcome) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	switch out.Status {
	case store.Queued, store.AwaitingReview, store.Held, store.Succeeded, store.DeadLettered, store.Cancelled:
	default:
		return fmt.Errorf("pgstore: finish run %s with status %q: %w", l.RunID, out.Status, store.ErrConflict)
	}
	now := s.now()
	o := &op{kind: opFinish, key: l.RunID, lease: l, now: now, out: &out, dict: s.dicts.Get(l.RunID, l.Attempt)}
	defer s.dicts.Drop(l.RunID)
	if out.Record != nil {
		rec := *out.Record
		rec.RunID = l.RunID
		att, err := attemptsJSON(&rec)
		if err != nil {
			return err
		}
		o.rec, o.att = &rec, att
	}
	var review *store.Review
	if out.Status == store.AwaitingReview && out.Review != nil {
		rv := *out.Review
		rv.CreatedAt = now
		b, err := jsonBlob(rv)
		if err != nil {
			return err
		}
		o.review, review = b, &rv
	}
	if !s.goLeases.take(l.Token, out.Status) {
		wake := out.Status == store.Queued && !out.NotBefore.After(now)
		o.notify = wake && s.notes.inTx()
		if err := s.writer.do(ctx, o); err != nil {
			return s.wrap("finish run "+l.RunID, err)
		}
		if o.ok {
			if wake && !o.notify {
				s.notes.committed(o.pipeline)
			}
			return nil
		}
	}
	// A branch run's end, or nothing changed: the lease is not held, the
	// run must be scrubbed, or its end changes a join. The rules in Go,
	// in a batch of the writer too (batchtx.go).
	g := &op{kind: opFinishTx, key: l.RunID, lease: l, now: now, out: &out, rv: review, notify: s.notes.inTx()}
	if err := s.writer.do(ctx, g); err != nil {
		return s.wrap("finish run "+l.RunID, err)
	}
	if !g.notify {
		s.notes.committed(g.wakes.list()...)
	}
	return nil
}

// finishTx is Finish in a transaction in Go: the lease check on the
// locked row, the outcome as heldSQL writes it, the payloads scrubbed
// when the run keeps none and ended for good (the records already written
// included), then the change applied to the run's fork's join and, for a
// cancellation, to its children (changed). A run marked cancelled ends
// cancelled instead, and the finish is refused with store.ErrCancelled;
// with cancelOnly (the write, "checkpoint", "release" or "claim", that
// found the mark), a run that is not marked is left as it is.
func (s *Store) finishTx(ctx context.Context, tx pgx.Tx, l store.Lease, o store.Outcome, review *store.Review, now time.Time, cancelOnly string, w *wakes) error {
	r, records, err := s.lockRun(ctx, tx, l.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return &refused{err}
	}
	if err != nil {
		return err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token || cancelOnly != "" && r.Cancel == nil {
		return &refused{fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", l.RunID, l.Token, r.Status, store.ErrLeaseLost)}
	}
	if r.Cancel != nil {
		if err := s.endCancelled(ctx, tx, &r, records, *r.Cancel, now, w); err != nil {
			return err
		}
		return &refused{fmt.Errorf("pgstore: %w", storekit.CancelledWrite(cmp.Or(cancelOnly, "finish"), r.ID))}
	}
	from := r.Status
	rec := s.applyOutcome(&r, o, review, now, w)
	if rec != nil {
		records++
	}
	b := &pgx.Batch{}
	if err := s.scrub(ctx, tx, b, &r, rec); err != nil {
		return err
	}
	if err := s.queueSaveRun(b, &r, records); err != nil {
		return err
	}
	if r.Status == store.DeadLettered {
		b.Queue("UPDATE "+s.q.schema+".runs SET unclassified = $2 WHERE id = $1", r.ID, storekit.Unclassified(o))
	}
	if r.Status != store.Queued {
		s.queueEndAttempt(b, &r, now)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return s.changed(ctx, tx, &r, from, now, w)
}

// applyOutcome applies the outcome o of a held run's attempt to r, and
// returns its step record, if any, with the run's id and attempt.
func (s *Store) applyOutcome(r *store.Run, o store.Outcome, review *store.Review, now time.Time, w *wakes) *store.StepRecord {
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	r.UpdatedAt = now
	r.Step, r.Error, r.Class = o.Step, o.Error, o.Class
	r.Spent = o.Spent
	switch o.Status {
	case store.Queued:
		r.Status, r.NotBefore = store.Queued, micros(o.NotBefore)
		r.Deferrals++
		if !r.NotBefore.After(now) {
			w.add(r.Pipeline)
		}
	case store.AwaitingReview:
		r.Status, r.FinishedAt = store.AwaitingReview, now
		if review != nil {
			r.Review = review
		}
	case store.Held:
		// Parked like a review, with no review to decide: the payloads
		// stay, for the replay that moves the run on.
		r.Status, r.FinishedAt = store.Held, now
	default:
		r.Status, r.FinishedAt, r.Output = o.Status, now, o.Output
	}
	if storekit.WaitEnded(r.Status) {
		w.end(r.ID)
	}
	var rec *store.StepRecord
	if o.Record != nil {
		c := *o.Record
		c.RunID, c.RunAttempt = r.ID, r.Attempt
		rec = &c
	}
	storekit.NoteTrace(r, rec)
	return rec
}

// scrub queues, in b, the writes that record rec (when not nil) and, once a
// run that keeps no payloads has ended, drop the payloads of the run and
// of all its records (storekit.Scrub): the same rule as every store.
func (s *Store) scrub(ctx context.Context, tx pgx.Tx, b *pgx.Batch, r *store.Run, rec *store.StepRecord) error {
	if !r.Status.Final() || r.KeepPayloads {
		if rec != nil {
			return s.queueInsertStep(b, r.Pipeline, rec)
		}
		return nil
	}
	rows, err := tx.Query(ctx, s.q.getSteps, r.ID)
	if err != nil {
		return err
	}
	recs, seqs, err := scanSteps(rows)
	if err != nil {
		return err
	}
	if rec != nil {
		recs = append(recs, *rec)
	}
	storekit.Scrub(r, recs)
	for i, seq := range seqs {
		att, err := attemptsBlob(&recs[i])
		if err != nil {
			return err
		}
		b.Queue(s.q.scrubStep, r.ID, seq, blob(recs[i].Input), blob(recs[i].Output), recs[i].OutputHash, recs[i].OutputSize, att)
	}
	if rec != nil {
		return s.queueInsertStep(b, r.Pipeline, &recs[len(recs)-1])
	}
	return nil
}

func (s *Store) queueInsertStep(b *pgx.Batch, pipeline string, rec *store.StepRecord) error {
	args, err := stepArgs(pipeline, rec, s.dicts.Get(rec.RunID, rec.RunAttempt))
	if err != nil {
		return err
	}
	b.Queue(s.q.insertStep, args...)
	return nil
}

// queueSaveRun queues the write of everything a write in Go may change in
// a run, and the count of its current attempt's records.
func (s *Store) queueSaveRun(b *pgx.Batch, r *store.Run, records int) error {
	review, err := reviewBlob(r.Review)
	if err != nil {
		return err
	}
	output := r.Output
	// A top-level run that keeps its payloads has its output packed
	// against its current attempt's input (its attempt's row): a branch
	// run's output is read by its parent's join, and stays as it is.
	if r.Output != nil && r.KeepPayloads && r.Parent == nil {
		output = storekit.PackPayload(r.Output, r.Input)
	}
	args := []any{r.ID, string(r.Status), r.Attempt, blob(runInput(r)), r.InputHash, r.InputSize, blob(output),
		r.Step, r.Error, int16(r.Class), ts(r.NotBefore), r.Deferrals, r.LeaseOwner, r.LeaseToken, ts(r.LeaseExpires),
		r.UpdatedAt, ts(r.FinishedAt), review, records, r.TraceID, r.SpanID, r.Spent.Tokens, r.Spent.Cost}
	b.Queue(s.q.saveRun, append(args, cancelArgs(r.Cancel)...)...)
	return nil
}

// queueEndAttempt queues what the end of r's attempt writes to its
// attempt's row: nothing, unless the run ended final without payloads,
// whose input goes. The current attempt's outcome is the run's
// (storekit.SyncCurrentAttempt): the row, with the input in it, is not
// rewritten at each end, so that under MVCC the input is written once.
// queueCloseAttempt writes the outcome when the next attempt starts.
func (s *Store) queueEndAttempt(b *pgx.Batch, r *store.Run, _ time.Time) {
	if r.Status.Final() && !r.KeepPayloads {
		b.Queue(s.q.dropInput, r.ID, r.Attempt)
	}
}

// queueCloseAttempt copies how r's current attempt ended (r as it stands
// before the next attempt starts) to the attempt's row, which keeps it
// from then on.
func (s *Store) queueCloseAttempt(b *pgx.Batch, r *store.Run) {
	b.Queue(s.q.closeAttempt, r.ID, r.Attempt, string(r.Status), r.Step, r.Error, int16(r.Class), ts(r.FinishedAt))
}
