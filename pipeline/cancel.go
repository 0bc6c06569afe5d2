package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// ErrRunCancelled matches every *CancelledError: a run an operator (or a
// program, or its parent) cancelled. It is the cause (context.Cause) of
// a step's context when its run is cancelled while it runs.
var ErrRunCancelled = errors.New("run cancelled")

// CancelledError says who cancelled a run, why and when. Wait returns it
// for a cancelled run, and it is the context.Cause of a step whose run was
// cancelled while it ran. It matches ErrRunCancelled and
// retry.ErrCancelled.
type CancelledError struct {
	RunID  string
	By     string
	Reason string
	At     time.Time
}

func (e *CancelledError) Error() string {
	s := fmt.Sprintf("run %s was cancelled", e.RunID)
	if e.By != "" {
		s += " by " + e.By
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s + "; replay it to run it again (plumb replay " + e.RunID + ", or Pipeline.Replay)"
}

// Is matches ErrRunCancelled and retry.ErrCancelled.
func (e *CancelledError) Is(target error) bool {
	return target == ErrRunCancelled || target == retry.ErrCancelled
}

func cancelledError(run *store.Run) *CancelledError {
	e := &CancelledError{RunID: run.ID}
	if c := run.Cancel; c != nil {
		e.By, e.Reason, e.At = c.By, c.Reason, c.At
	}
	return e
}

// CancelOptions say who cancels and why. Its zero value is the default.
type CancelOptions struct {
	// By names who cancels, on the run's record and in the notification.
	// Defaults to "api".
	By string
	// Reason says why, on the run's record and in the notification.
	// Defaults to none.
	Reason string
	// DryRun makes CancelMatching list the runs its filter matches
	// without cancelling any. Cancel ignores it.
	DryRun bool
	// Progress, when set, is called by CancelMatching after each run it
	// cancelled (or failed to). Cancel ignores it.
	Progress func(done, total int, runID string, err error)
}

func (o CancelOptions) by() string {
	if o.By == "" {
		return "api"
	}
	return o.By
}

// Cancel cancels a run of any pipeline in the runtime's store that has
// not ended. A run no worker holds (queued, deferred, waiting for its
// branches, awaiting review) ends cancelled at once; a running one is
// marked, its worker cancels the step's context at its next heartbeat
// (context.Cause is a *CancelledError) and the run ends cancelled when
// the step returns. Either way its live branch runs are cancelled with it.
// It returns the run as the store left it: Status store.Cancelled, or
// store.Running with Cancel set. A run that has ended is a
// *store.FinalError (errors.Is store.ErrFinal); no such run is
// store.ErrNotFound. A cancelled run can be replayed.
//
// The cancellation is notified (notify.Cancelled) and counted (the runs
// metric, outcome cancelled) once the run has ended: here when it ends at
// once, else by the worker that held it.
func (rt *Runtime) Cancel(ctx context.Context, runID string, o CancelOptions) (*store.Run, error) {
	if rt.cfg.Store == nil {
		return nil, ErrNoStore
	}
	return rt.cancel(ctx, runID, o)
}

func (rt *Runtime) cancel(ctx context.Context, runID string, o CancelOptions) (*store.Run, error) {
	run, err := rt.cfg.Store.Cancel(ctx, store.CancelRequest{RunID: runID, By: o.by(), Reason: o.Reason})
	if err != nil {
		return nil, fmt.Errorf("cancel run %s: %w", runID, err)
	}
	if run.Status == store.Cancelled {
		rt.cancelled(ctx, run)
	}
	// A parent cancelled at once may have queued nothing, but its branch
	// runs' workers should hear of it soon: wake them.
	wake(rt.cfg.Store)
	return run, nil
}

// CancelMatching cancels every run in the runtime's store that f matches
// and that has not ended (f.Status defaults to queued, running, waiting
// and awaiting review; an end status is refused), up to f.Limit (defaults
// to 1,000; the result's More counts those past it). With o.DryRun it only
// lists them. Each is cancelled as Cancel does.
func (rt *Runtime) CancelMatching(ctx context.Context, f store.RunFilter, o CancelOptions) (*store.CancelResult, error) {
	if rt.cfg.Store == nil {
		return nil, ErrNoStore
	}
	return rt.cancelMatching(ctx, f, o)
}

func (rt *Runtime) cancelMatching(ctx context.Context, f store.RunFilter, o CancelOptions) (*store.CancelResult, error) {
	res, err := store.CancelMatching(ctx, rt.cfg.Store, f, o.by(), o.Reason, o.DryRun, o.Progress)
	if res == nil || o.DryRun {
		return res, err
	}
	// The store's batch says which it cancelled, not how each ended:
	// announce those that ended at once.
	for _, id := range res.Cancelled {
		if det, gerr := rt.cfg.Store.GetRun(context.WithoutCancel(ctx), id); gerr == nil && det.Run.Status == store.Cancelled {
			rt.cancelled(ctx, &det.Run)
		}
	}
	wake(rt.cfg.Store)
	return res, err
}

// Cancel cancels a run of this pipeline, as Runtime.Cancel does; a run of
// another pipeline is refused (store.ErrConflict).
func (p *Pipeline[In, Out]) Cancel(ctx context.Context, runID string, o CancelOptions) (*store.Run, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	det, err := d.cfg.Store.GetRun(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: cancel run %s: %w", d.name, runID, err)
	}
	if det.Run.Pipeline != d.name {
		return nil, fmt.Errorf("pipeline %s: cancel run %s: the run belongs to pipeline %s (cancel it there, or with Runtime.Cancel): %w",
			d.name, runID, det.Run.Pipeline, store.ErrConflict)
	}
	return d.rt.cancel(ctx, runID, o)
}

// CancelMatching cancels the runs of this pipeline that f matches, as
// Runtime.CancelMatching does.
func (p *Pipeline[In, Out]) CancelMatching(ctx context.Context, f store.RunFilter, o CancelOptions) (*store.CancelResult, error) {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return nil, err
	}
	f.Pipeline = d.name
	return d.rt.cancelMatching(ctx, f, o)
}

// cancelled announces a run that has ended cancelled, through its
// pipeline's notifier when the runtime has its definition.
func (rt *Runtime) cancelled(ctx context.Context, run *store.Run) {
	rt.mu.Lock()
	d := rt.defs[run.Pipeline]
	rt.mu.Unlock()
	if d != nil {
		d.countRun(context.WithoutCancel(ctx), observe.OutcomeCancelled)
		d.notifyCancelled(ctx, run.ID, run.Step, cancelledError(run))
		return
	}
	// A pipeline this binary does not build: the runtime's own settings.
	(&definition{name: run.Pipeline, cfg: newSettings(rt, Policy{})}).notifyCancelled(ctx, run.ID, run.Step, cancelledError(run))
}

func (d *definition) notifyCancelled(ctx context.Context, runID, step string, ce *CancelledError) {
	reason := "cancelled by " + ce.By
	if ce.Reason != "" {
		reason += ": " + ce.Reason
	}
	d.notify(ctx, notify.Event{Kind: notify.Cancelled, Pipeline: d.name, RunID: runID, Step: step,
		Class: retry.ClassCancelled.String(), Reason: reason})
}

// endCancelled ends an execution whose run an operator cancelled: the
// store has ended it cancelled (it refused a write, or took the run back
// on Release). It notifies, counts and returns the *CancelledError.
func (d *definition) endCancelled(ctx context.Context, r *runState, step string) error {
	ce := &CancelledError{RunID: r.info.Info.RunID}
	if det, err := d.cfg.Store.GetRun(context.WithoutCancel(ctx), ce.RunID); err == nil {
		ce = cancelledError(&det.Run)
		if step == "" {
			step = det.Run.Step
		}
		if det.Run.Status != store.Cancelled {
			d.cfg.Logger.Warn("plumb: a cancelled run did not end cancelled", slog.String("pipeline", d.name),
				slog.String("run_id", ce.RunID), slog.String("status", string(det.Run.Status)))
		}
	}
	d.cfg.Logger.Info("plumb: run cancelled", slog.String("pipeline", d.name), slog.String("run_id", ce.RunID),
		slog.String("by", ce.By), slog.String("reason", ce.Reason))
	// Counted before it is told, so that whoever hears of it finds it
	// counted.
	err := d.end(ctx, r, observe.OutcomeCancelled, ce)
	d.notifyCancelled(ctx, ce.RunID, step, ce)
	return err
}

// cancelCause tells, for a run the store reported among Heartbeat's lost
// leases, whether an operator cancelled it while this lease holds it
// (then the step's context ends with a *CancelledError), or another
// worker has it.
func cancelCause(ctx context.Context, st store.Store, l store.Lease) error {
	det, err := st.GetRun(ctx, l.RunID)
	if err == nil && det.Run.Cancel != nil && det.Run.Status == store.Running && det.Run.LeaseToken == l.Token {
		return cancelledError(&det.Run)
	}
	return errLeaseLost
}

// errLeaseLost is the cause of a step's context when its worker lost the
// run's lease: another worker has the run.
var errLeaseLost = fmt.Errorf("the worker lost the run's lease; another worker has it: %w", store.ErrLeaseLost)
