package storekit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// ApplyDecision applies a review decision to a run awaiting review. It
// returns the step record to append: the approved output as the reviewed
// step's checkpoint, or the rejection. A store calls it inside the
// transaction that writes the result, so that the check that d.Review is
// the run's current review and the decision land together: a decision on
// any other review is a *StaleReviewError, one on a review already
// decided a *FinalError.
func ApplyDecision(r *store.Run, d store.Decision, now time.Time) (*store.StepRecord, error) {
	if d.Review.IsZero() {
		return nil, fmt.Errorf("decide run %s: the decision names no review: %w", r.ID, store.ErrConflict)
	}
	if cur := r.ReviewRef(); cur != d.Review {
		return nil, &store.StaleReviewError{RunID: r.ID, Decided: d.Review, Current: cur}
	}
	if r.Review.Decision != nil {
		return nil, &store.FinalError{Op: "decide", RunID: r.ID, Reason: "review " + d.Review.String() + " is decided"}
	}
	if r.Status != store.AwaitingReview {
		return nil, fmt.Errorf("decide run %s: it is %s, not awaiting review: %w", r.ID, r.Status, store.ErrConflict)
	}
	if d.Reviewer == "" {
		return nil, fmt.Errorf("decide run %s: the decision names no reviewer: %w", r.ID, store.ErrConflict)
	}
	rv := r.Review
	d.At = now
	rec := &store.StepRecord{RunID: r.ID, RunAttempt: r.Attempt, Index: rv.Index, Step: rv.Step,
		Input: rv.Input, StartedAt: rv.CreatedAt, FinishedAt: now}
	if d.Approved {
		out := d.Output
		if out == nil {
			out = rv.Proposed
		}
		if out == nil {
			return nil, fmt.Errorf("decide run %s: the step proposed no output, so an approval must supply one: %w", r.ID, store.ErrConflict)
		}
		d.Edited = d.Output != nil && rv.Proposed != nil && !jsonEqual(d.Output, rv.Proposed) || rv.Proposed == nil
		d.Output = out
		rec.Status, rec.Output, rec.By = store.StepSucceeded, out, "review:"+d.Reviewer
		rec.Note = "approved by " + d.Reviewer
		if d.Edited {
			rec.Note = "edited and approved by " + d.Reviewer
		}
		// The attempt goes on: it is live again, so it has no end.
		r.Status, r.FinishedAt = store.Queued, time.Time{}
		r.Step, r.Error, r.Class = "", "", 0
	} else {
		reason := d.Reason
		if reason == "" {
			reason = "no reason given"
		}
		rec.Status, rec.Class = store.StepFailed, retry.ClassNeedsReview
		rec.Error = "rejected by " + d.Reviewer + ": " + reason
		rec.Note = rec.Error
		r.Status, r.FinishedAt = store.DeadLettered, now
		r.Step, r.Error, r.Class = rv.Step, rec.Error, retry.ClassNeedsReview
	}
	rv.Decision = &d
	r.UpdatedAt = now
	return rec, nil
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// NoteTrace records on r the trace of the first execution that writes a
// record carrying one: a run submitted for a worker learns its trace from
// its first checkpoint or finish, so that no execution pays an extra write
// for it. An execution's trace is kept once set.
func NoteTrace(r *store.Run, rec *store.StepRecord) {
	if r.TraceID == "" && rec != nil && rec.TraceID != "" {
		r.TraceID, r.SpanID = rec.TraceID, rec.SpanID
	}
}
