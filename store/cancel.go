package store

import (
	"context"
	"errors"
	"time"
)

// Cancelling a run is an intent an operator writes to the store, as a
// replay is. A run that no worker holds (queued, deferred, waiting or
// awaiting review) ends cancelled at once. A running run is marked
// (Run.Cancel), and its worker is told at its next heartbeat: the run's id
// comes back among Heartbeat's lost leases, the worker cancels the step's
// context, and the store ends the run cancelled when the worker gives it
// back (Release), writes for it (Checkpoint, Fork, Finish: refused with
// ErrCancelled, the run cancelled in the same call), or dies (a Claim of
// its expired lease cancels it instead of claiming it). However it ends,
// a cancelled run records the error "cancelled by <by>: <reason>", class
// retry.ClassCancelled, and the step where it stopped. A run that ends
// cancelled takes its live branch runs with it, by "parent <id>" for the
// parent's reason (its error, when its worker ended it cancelled with no
// one asking): those no worker holds end cancelled, running ones are
// marked the same way, and so on down the tree. A cancelled run can be
// replayed; the replay clears Run.Cancel.

// Cancellation says who cancelled a run, why and when it was asked.
type Cancellation struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// CancelRequest asks for a run to be cancelled.
type CancelRequest struct {
	RunID string
	// By names who cancels: an operator, "parent <id>" for a branch run.
	By string
	// Reason is recorded on the run.
	Reason string
}

// ErrCancelled: the run was cancelled while its worker held it; the write
// was refused and the run has ended cancelled.
var ErrCancelled = errors.New("run cancelled")

// CancelMatching cancels the runs the filter matches that have not ended
// (queued, running, waiting, awaiting review, held), or with dry only lists
// them. progress, when set, is called after each one.
func CancelMatching(ctx context.Context, s Ops, f RunFilter, by, reason string, dry bool, progress func(done, total int, id string, err error)) (*CancelResult, error) {
	if len(f.Status) == 0 {
		f.Status = []Status{Queued, Running, Waiting, AwaitingReview, Held}
	}
	for _, st := range f.Status {
		if st.Final() {
			return nil, errors.New("cancel: runs that have ended cannot be cancelled; filter on queued, running, waiting, awaiting_review or held")
		}
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	page, err := s.ListRuns(ctx, f)
	if err != nil {
		return nil, err
	}
	res := &CancelResult{Matched: page.Runs, More: page.More, Failed: map[string]error{}}
	if dry {
		return res, nil
	}
	for i, r := range page.Runs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		_, err := s.Cancel(ctx, CancelRequest{RunID: r.ID, By: by, Reason: reason})
		if err != nil {
			res.Failed[r.ID] = err
		} else {
			res.Cancelled = append(res.Cancelled, r.ID)
		}
		if progress != nil {
			progress(i+1, len(page.Runs), r.ID, err)
		}
	}
	return res, nil
}

// CancelResult is what CancelMatching did.
type CancelResult struct {
	// Matched are the runs the filter matched (up to its limit); More
	// counts those past it.
	Matched []Run
	More    int
	// Cancelled lists the runs cancelled (a running one: marked, ended
	// by its worker once its next heartbeat tells it); Failed the others,
	// with why.
	Cancelled []string
	Failed    map[string]error
}
