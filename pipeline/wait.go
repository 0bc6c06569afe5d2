package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// ErrDeadLettered matches every *DeadLetteredError: a run Wait found
// dead-lettered.
var ErrDeadLettered = errors.New("run dead-lettered")

// DeadLetteredError is what Wait returns for a run that gave up: the step
// it failed at, the class of the failure (errors.Is matches the class's
// sentinel, retry.ErrPermanent say, and ErrDeadLettered) and the error.
// The run keeps everything: look at it, fix the cause, and replay it.
type DeadLetteredError struct {
	RunID    string
	Pipeline string
	Step     string
	Class    retry.Class
	// Message is the run's error, as the store keeps it.
	Message string
}

func (e *DeadLetteredError) Error() string {
	return fmt.Sprintf("pipeline %s: run %s was dead-lettered at step %q (%s): %s; see why with plumb runs show %s, then replay it once fixed (plumb replay %s, or Pipeline.Replay)",
		e.Pipeline, e.RunID, e.Step, e.Class, e.Message, e.RunID, e.RunID)
}

// Is matches ErrDeadLettered and the sentinel of the failure's class.
func (e *DeadLetteredError) Is(target error) bool {
	return target == ErrDeadLettered || target != nil && target == e.Class.Sentinel()
}

// Wait waits until the run has ended, and returns its output: the last
// step's output, decoded and checked against its contract, when it
// succeeded. A run that did not succeed is an error: a
// *DeadLetteredError (errors.Is matches its class) when it was
// dead-lettered, a *CancelledError (who and why; errors.Is matches
// retry.ErrCancelled) when it was cancelled, and a *PendingError with
// Status store.AwaitingReview when it waits for a person, whose decision
// starts it again: Wait once more for its end; Status store.Held when a
// worker of a changed definition held it (its records break the new
// contracts), until a replay or a cancel. A run of another pipeline
// is refused (store.ErrConflict), a missing one is store.ErrNotFound, and
// ctx's end returns ctx's error: bound the wait with a deadline.
//
// The store wakes Wait when the run ends, from any process that shares it:
// nothing polls. Runs of a runtime with RuntimeConfig.HashPayloads keep no
// output once they end: Wait returns an error saying so.
//
// When a worker of this process executes the run, and it succeeds, Wait
// returns the last step's output from memory once the store has
// acknowledged the end (a copy, as decoding the stored output would give
// it), without reading the run back; every other end is read from the
// store.
func (p *Pipeline[In, Out]) Wait(ctx context.Context, runID string) (Out, error) {
	var zero Out
	d := p.def
	if err := d.ready(ctx); err != nil {
		return zero, err
	}
	if c := d.local.wait(runID); c != nil {
		select {
		case res := <-c:
			if out, ok := res.out.(Out); res.ok && ok {
				memoryCounts.localResults.Add(1)
				return out, nil
			}
		case <-ctx.Done():
			d.local.cancel(runID, c)
			return zero, ctx.Err()
		}
	}
	run, err := d.cfg.Store.WaitRun(ctx, runID)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return zero, err
		}
		return zero, fmt.Errorf("pipeline %s: wait for run %s: %w", d.name, runID, err)
	}
	if run.Pipeline != d.name {
		return zero, fmt.Errorf("pipeline %s: wait for run %s: the run belongs to pipeline %s: %w", d.name, runID, run.Pipeline, store.ErrConflict)
	}
	out, err := d.outcome(run)
	if err != nil {
		return zero, err
	}
	return out.(Out), nil
}

// outcome is what a run in an end state gives its caller.
func (d *definition) outcome(run *store.Run) (any, error) {
	switch run.Status {
	case store.Succeeded:
		if run.Output == nil {
			return nil, fmt.Errorf("pipeline %s: run %s succeeded, but the store keeps no output of it (RuntimeConfig.HashPayloads): read what it did from the step's side effects",
				d.name, run.ID)
		}
		return d.stages[len(d.stages)-1].decodeOut(run.Output)
	case store.DeadLettered:
		return nil, &DeadLetteredError{RunID: run.ID, Pipeline: run.Pipeline, Step: run.Step, Class: run.Class, Message: run.Error}
	case store.Cancelled:
		return nil, cancelledError(run)
	case store.AwaitingReview:
		pe := &PendingError{RunID: run.ID, Status: store.AwaitingReview, Step: run.Step}
		if rv := run.Review; rv != nil {
			pe.Step, pe.Reason = rv.Step, rv.Reason
		}
		return nil, pe
	case store.Held:
		return nil, &PendingError{RunID: run.ID, Status: store.Held, Step: run.Step, Reason: run.Error}
	}
	return nil, fmt.Errorf("pipeline %s: run %s is %s, not ended: %w", d.name, run.ID, run.Status, store.ErrConflict)
}

// SubmitAndWait submits a run and waits for its end (Submit, then Wait):
// a web handler's one call, as simple as Run, but durable, with the run's
// steps executed by the workers. Give the request's idempotency key in
// o.IdempotencyKey: a retried request then waits for the run the first
// one submitted, and gets the same answer. When ctx ends first, the run
// goes on in the store; Wait for it again by its id (PendingError and the
// other errors name it; a ctx error does not: Submit and Wait apart when
// the caller needs it).
func (p *Pipeline[In, Out]) SubmitAndWait(ctx context.Context, in In, o SubmitOptions) (Out, error) {
	id, err := p.Submit(ctx, in, o)
	if err != nil {
		var zero Out
		return zero, err
	}
	return p.Wait(ctx, id)
}
