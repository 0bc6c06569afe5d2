package pgstore

import (
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The rules of a cancellation every store keeps alike: what Cancel does
// in each status, the mark, the end, what a parent passes on to its
// branch runs, and the error of a refused write.

type cancelAction int

const (
	cancelNone cancelAction = iota
	cancelEnd               // no worker holds the run: it ends now
	cancelMark              // a worker holds it: it is marked
)

// childCancel: a run no worker holds ends, a running one is marked, an
// ended one is left.
func childCancel(status store.Status) cancelAction {
	switch status {
	case store.Queued, store.Waiting, store.AwaitingReview:
		return cancelEnd
	case store.Running:
		return cancelMark
	}
	return cancelNone
}

// planCancel: a run that has ended is a *store.FinalError (Op "cancel").
func planCancel(r *store.Run) (cancelAction, error) {
	a := childCancel(r.Status)
	if a == cancelNone {
		return cancelNone, &store.FinalError{Op: "cancel", RunID: r.ID, Reason: "it has ended " + string(r.Status)}
	}
	return a, nil
}

func cancellationOf(req store.CancelRequest, now time.Time) store.Cancellation {
	return store.Cancellation{By: req.By, Reason: req.Reason, At: now}
}

// cancelError: "cancelled by <by>: <reason>", or without a reason
// "cancelled by <by>".
func cancelError(c store.Cancellation) string {
	if c.Reason == "" {
		return "cancelled by " + c.By
	}
	return "cancelled by " + c.By + ": " + c.Reason
}

// markCancel marks a running run unless it is marked already (the first
// cancellation stands), and reports whether it changed it.
func markCancel(r *store.Run, c store.Cancellation, now time.Time) bool {
	if r.Cancel != nil {
		return false
	}
	r.Cancel = &c
	r.UpdatedAt = now
	return true
}

// endCancelledRun ends r cancelled at now under its mark, else c; Step is
// kept. It returns r's status before.
func endCancelledRun(r *store.Run, c store.Cancellation, recs []store.StepRecord, now time.Time) (from store.Status) {
	from = r.Status
	if r.Cancel == nil {
		r.Cancel = &c
	}
	r.Status = store.Cancelled
	r.Error, r.Class = cancelError(*r.Cancel), retry.ClassCancelled
	r.FinishedAt, r.UpdatedAt = now, now
	r.NotBefore = time.Time{}
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	storekit.Scrub(r, recs)
	return from
}

// childCancellation is what a run that ended cancelled passes on to its
// branch runs: by "parent <id>", for its reason, or its error when no one
// asked.
func childCancellation(parent *store.Run, now time.Time) store.Cancellation {
	reason := parent.Error
	if parent.Cancel != nil {
		reason = parent.Cancel.Reason
	}
	return store.Cancellation{By: "parent " + parent.ID, Reason: reason, At: now}
}

// cancelledWrite is the error of a write refused because its run was
// marked cancelled; it matches store.ErrCancelled.
func cancelledWrite(op, runID string) error {
	return fmt.Errorf("%s run %s: it was cancelled while held; nothing was written: %w", op, runID, store.ErrCancelled)
}

// waitEnded: WaitRun returns a run that ended or awaits review.
func waitEnded(status store.Status) bool {
	return status.Final() || status == store.AwaitingReview
}
