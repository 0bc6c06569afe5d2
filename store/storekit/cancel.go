package storekit

import (
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// The rules of a cancellation (store.Cancellation), shared by every store
// so that they keep them alike: what Cancel does to a run in each status
// (PlanCancel), the mark a held run carries until its worker gives it up
// (MarkCancel), the end a cancelled run comes to whatever the path
// (EndCancelled, EndAttempt), what the children hook does to each branch
// run (ChildCancel, ChildCancellation), and the error a refused write
// returns (CancelledWrite).

// CancelAction is what a cancellation does to one run.
type CancelAction int

const (
	// CancelNone: the run has ended; nothing changes.
	CancelNone CancelAction = iota
	// CancelEnd: no worker holds the run: it ends cancelled now
	// (EndCancelled, then EndAttempt, the join change from its old status
	// and the children hook).
	CancelEnd
	// CancelMark: a worker holds the run: it is marked (MarkCancel), and
	// ends cancelled when its worker gives it back, writes for it, or
	// dies.
	CancelMark
)

// ChildCancel says what a cancellation does to a run in status: a run no
// worker holds (queued, waiting, awaiting review, held) ends, a running one is
// marked, an ended one is left.
func ChildCancel(status store.Status) CancelAction {
	switch status {
	case store.Queued, store.Waiting, store.AwaitingReview, store.Held:
		return CancelEnd
	case store.Running:
		return CancelMark
	}
	return CancelNone
}

// PlanCancel says what Ops.Cancel does to r: a run that has ended is a
// *store.FinalError (Op "cancel").
func PlanCancel(r *store.Run) (CancelAction, error) {
	a := ChildCancel(r.Status)
	if a == CancelNone {
		return CancelNone, &store.FinalError{Op: "cancel", RunID: r.ID, Reason: "it has ended " + string(r.Status)}
	}
	return a, nil
}

// Cancellation is the cancellation req asks for at now.
func Cancellation(req store.CancelRequest, now time.Time) store.Cancellation {
	return store.Cancellation{By: req.By, Reason: req.Reason, At: now}
}

// CancelError is the error a run cancelled by c records: "cancelled by
// <by>: <reason>", or "cancelled by <by>" without a reason.
func CancelError(c store.Cancellation) string {
	if c.Reason == "" {
		return "cancelled by " + c.By
	}
	return "cancelled by " + c.By + ": " + c.Reason
}

// MarkCancel marks a running run with c, unless it carries a
// cancellation already (the first one asked stands). It reports whether
// it changed the run.
func MarkCancel(r *store.Run, c store.Cancellation, now time.Time) bool {
	if r.Cancel != nil {
		return false
	}
	r.Cancel = &c
	r.UpdatedAt = now
	return true
}

// EndCancelled ends r cancelled at now, under the cancellation it carries
// (a marked run), else c: Status, Cancel, Error (CancelError), Class
// retry.ClassCancelled, FinishedAt and UpdatedAt now, no lease and no
// NotBefore; Step is kept, where the run stopped. It scrubs r and recs
// when r keeps no payloads. It returns r's status before, for
// JoinChange. The store then ends the current attempt (EndAttempt),
// applies the join change and runs the children hook, in the same
// transaction.
func EndCancelled(r *store.Run, c store.Cancellation, recs []store.StepRecord, now time.Time) (from store.Status) {
	from = r.Status
	if r.Cancel == nil {
		r.Cancel = &c
	}
	r.Status = store.Cancelled
	r.Error, r.Class = CancelError(*r.Cancel), retry.ClassCancelled
	r.FinishedAt, r.UpdatedAt = now, now
	r.NotBefore = time.Time{}
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	Scrub(r, recs)
	return from
}

// EndAttempt copies how r's current attempt ended into a, its summary:
// status, step, error, class and FinishedAt (an attempt awaiting review has
// ended until a decision resumes it); a final attempt of a run that keeps
// no payloads keeps no input.
func EndAttempt(a *store.RunAttempt, r *store.Run) {
	copyOutcome(a, r)
	if r.Status.Final() && !r.KeepPayloads {
		a.Input = nil
	}
}

// SyncCurrentAttempt gives the last of d's attempts, when it is the run's
// current one, the run's own status, step, error, class and FinishedAt,
// as EndAttempt copies them. Every store's GetRun calls it, so that a
// store that keeps the current attempt's outcome only in the run (the
// attempt's row is written when the attempt starts and again only when
// the next one starts: pgstore) reads the same as one that copies it at
// each end, and a running attempt reads as running.
func SyncCurrentAttempt(d *store.RunDetail) {
	n := len(d.Attempts)
	if n == 0 || d.Attempts[n-1].Attempt != d.Run.Attempt {
		return
	}
	copyOutcome(&d.Attempts[n-1], &d.Run)
}

// copyOutcome copies how r's current attempt stands into a.
func copyOutcome(a *store.RunAttempt, r *store.Run) {
	a.Status, a.Step, a.Error, a.Class = r.Status, r.Step, r.Error, r.Class
	a.FinishedAt = r.FinishedAt
}

// ChildCancellation is the cancellation a run that ended cancelled passes
// on to its branch runs: by "parent <id>", for the reason the parent was
// cancelled, or, when no one asked (its worker ended it cancelled), the
// parent's error.
func ChildCancellation(parent *store.Run, now time.Time) store.Cancellation {
	reason := parent.Error
	if parent.Cancel != nil {
		reason = parent.Cancel.Reason
	}
	return store.Cancellation{By: "parent " + parent.ID, Reason: reason, At: now}
}

// CancelledWrite is the error of a write (op: "checkpoint", "finish",
// "fork") under the held lease of a run marked cancelled: the write was
// refused and the run ended cancelled. It matches store.ErrCancelled.
func CancelledWrite(op, runID string) error {
	return fmt.Errorf("%s run %s: it was cancelled while held; nothing was written: %w", op, runID, store.ErrCancelled)
}

// WaitEnded reports whether WaitRun returns a run in status: succeeded,
// dead-lettered, cancelled, or parked (awaiting review, held).
func WaitEnded(status store.Status) bool {
	return status.Final() || status.Parked()
}
