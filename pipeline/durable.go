package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/internal/ids"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// ErrNoStore is returned by the operations that need a durable store
// (Submit, Work, Replay) on a pipeline configured without one.
var ErrNoStore = errors.New("pipeline has no store: build it on a runtime with one (pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st}), st from sqlitestore.Open(\"plumb.db\", sqlitestore.Config{}), say)")

// SubmitOptions describe a submitted run. Its zero value is the default:
// every field is optional.
type SubmitOptions struct {
	// RunID names the run. Defaults to a new time-ordered id.
	RunID string
	// IdempotencyKey makes a second Submit with the same key return the
	// first run's id instead of enqueueing a duplicate: use the item's id in
	// its source system.
	IdempotencyKey string
	Trigger        step.Trigger
	// NotBefore holds the run back until then.
	NotBefore time.Time
}

// Submit enqueues a run durably and returns its id; a worker runs it. The
// input is checked against the first step's contract first: one that
// breaks it is refused with the *contract.ValidationError and nothing is
// enqueued. Invalid UTF-8 in the input's strings is replaced with U+FFFD
// when it is encoded, as encoding/json does; the run records how many
// bytes were replaced (store.Run.InputReplaced), so the change is noted.
func (p *Pipeline[In, Out]) Submit(ctx context.Context, in In, o SubmitOptions) (string, error) {
	d := p.def
	if d.err != nil {
		return "", d.err
	}
	if d.cfg.Store == nil {
		return "", ErrNoStore
	}
	raw, replaced, err := d.checkInput(in)
	if err != nil {
		return "", err
	}
	if err := d.register(ctx); err != nil {
		return "", err
	}
	if o.RunID == "" {
		o.RunID = ids.New(d.cfg.Clock.Now())
	}
	nr := store.NewRun{
		ID: o.RunID, Pipeline: d.name, Input: raw, Trigger: o.Trigger,
		IdempotencyKey: o.IdempotencyKey, NotBefore: o.NotBefore, KeepPayloads: !d.cfg.HashPayloads,
		InputReplaced: replaced, Version: d.spec.Version,
	}
	// A run due now may be handed to an idle worker of this process
	// (handoff.go); one held back until later is for the queue.
	if ho, ok := d.cfg.Store.(store.Handoff); ok && !o.NotBefore.After(d.cfg.Clock.Now()) {
		if w := d.rt.reserveHandoff(d); w != nil {
			r, created, c, err := ho.EnqueueHandoff(ctx, nr, store.HandoffTo{Worker: w.cfg.ID, Pipelines: w.names, Lease: w.cfg.Lease})
			// The worker starts the run with a copy of in, checked above:
			// the caller may change its value once Submit returns.
			var typedIn any
			if created {
				typedIn = in
			}
			w.handed(d, c, created && c == nil, typedIn)
			if err != nil {
				return "", fmt.Errorf("pipeline %s: submit: %w", d.name, err)
			}
			if created && c == nil {
				wake(d.cfg.Store)
			}
			return r.ID, nil
		}
	}
	r, _, err := d.cfg.Store.Enqueue(ctx, nr)
	if err != nil {
		return "", fmt.Errorf("pipeline %s: submit: %w", d.name, err)
	}
	wake(d.cfg.Store)
	return r.ID, nil
}

// checkInput checks a run's input against the first step's contract and
// encodes it, counting the invalid UTF-8 bytes the encoding replaced. A
// refusal is the *contract.ValidationError itself.
func (d *definition) checkInput(in any) (raw []byte, replaced int, err error) {
	first := d.stages[0]
	raw, err = first.encode(in)
	if err != nil {
		return nil, 0, retry.Permanent(fmt.Errorf("pipeline %s: the input cannot be encoded as JSON: %w", d.name, err))
	}
	if err := first.checkIn(in); err != nil {
		return nil, 0, err
	}
	return raw, replacedBytes(raw), nil
}

// replacedBytes counts the invalid UTF-8 bytes encoding/json replaced in
// raw: it writes each as the escape \ufffd (a valid U+FFFD it writes as
// is), so the escapes in the encoding are the count, and an input with none
// costs one scan. A type whose MarshalJSON writes that escape itself is
// counted too: the count says what may have changed, never less.
func replacedBytes(raw []byte) int {
	esc := []byte(`\ufffd`)
	n := 0
	for off := 0; ; {
		i := bytes.Index(raw[off:], esc)
		if i < 0 {
			return n
		}
		i += off
		// The escape counts unless its backslash is itself escaped.
		slashes := 0
		for j := i - 1; j >= 0 && raw[j] == '\\'; j-- {
			slashes++
		}
		if slashes%2 == 0 {
			n++
		}
		off = i + len(esc)
	}
}

// register records the pipeline's definition in the store, once.
func (d *definition) register(ctx context.Context) error {
	if d.registered.Load() {
		return nil
	}
	if err := d.cfg.Store.RegisterPipeline(ctx, d.definition()); err != nil {
		return fmt.Errorf("pipeline %s: register with the store: %w", d.name, err)
	}
	d.registered.Store(true)
	return nil
}

// runDurably records a run already claimed by this process and executes it
// at once.
func (d *definition) runDurably(ctx context.Context, o RunOptions, in any) (any, error) {
	raw, replaced, err := d.checkInput(in)
	if err != nil {
		return nil, err
	}
	if err := d.register(ctx); err != nil {
		return nil, err
	}
	now := d.cfg.Clock.Now()
	if o.RunID == "" {
		o.RunID = ids.New(now)
	}
	// The span starts before the run is recorded, so that the record
	// names its first trace from the start.
	r := d.newRun(o.RunID, o.Trigger, now, store.Spend{})
	ctx = d.startSpan(ctx, r)
	traceID, spanID := r.traceIDs()
	run, created, err := d.cfg.Store.Enqueue(ctx, store.NewRun{
		ID: o.RunID, Pipeline: d.name, Input: raw, Trigger: o.Trigger, IdempotencyKey: o.IdempotencyKey,
		KeepPayloads: !d.cfg.HashPayloads, ClaimFor: processWorker, Lease: defaultLease,
		TraceID: traceID, SpanID: spanID, InputReplaced: replaced, Version: d.spec.Version,
	})
	if err != nil {
		return nil, d.end(ctx, r, observe.OutcomeFailed, fmt.Errorf("pipeline %s: record the run: %w", d.name, err))
	}
	if !created {
		// Nothing executes: the span says which run it found.
		r.span.SetAttributes(observe.AttrRunID.String(run.ID))
		r.span.End()
		return nil, &PendingError{RunID: run.ID, Status: run.Status, Step: run.Step, NotBefore: run.NotBefore,
			Reason: "a run with this idempotency key exists"}
	}
	r.info.Info.Trigger, r.started = run.Trigger, run.CreatedAt
	r.attempt, r.info.Info.Attempt = run.Attempt, run.Attempt
	lease := run.Lease()
	r.lease, r.leaseFor = &lease, defaultLease
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	stop := d.keepAlive(ctx, r, cancelRun)
	defer stop()
	// checkInput checked in against the first step's contract.
	r.inputChecked = true
	return d.execute(ctx, r, 0, in)
}

// resume executes a claimed run from its first unfinished step. typedIn,
// when not nil, is the run's input as it was submitted in this process
// and checked against the first step's contract there (handoff.go), a
// copy nobody else holds: the first step starts on it, without decoding
// the stored input. It returns the last step's output when this execution
// ended the run succeeded (the store acknowledged it), for the waiters of
// this process (local.go).
func (d *definition) resume(ctx context.Context, c store.Claimed, probe bool, leaseFor time.Duration, typedIn any) (any, bool, error) {
	r := d.newRun(c.Run.ID, c.Run.Trigger, c.Run.CreatedAt, c.Run.Budget)
	r.lease, r.leaseFor = &c.Lease, leaseFor
	r.probe, r.attempt = probe, c.Run.Attempt
	r.info.Info.Attempt = c.Run.Attempt
	r.deferrals = c.Run.Deferrals
	r.first = firstSpan(&c.Run)
	if p := c.Run.Parent; p != nil {
		r.info.Info.Parent = p.RunID
		// The parent's execution was traced when it forked (it recorded
		// its ids): its branches are sampled with it.
		r.parent = remoteSpan(p.TraceID, p.SpanID).WithTraceFlags(trace.FlagsSampled)
	}
	from := 0
	for _, cp := range c.Checkpoints {
		if cp.Index != from {
			break
		}
		from++
		for _, a := range cp.Attempts {
			r.info.Spend.Add(a.InputTokens+a.OutputTokens, a.Cost)
		}
	}
	from = min(from, len(d.stages))
	// A run started under another definition (a deploy changed a step or
	// a contract since) is checked before any step runs; a run of this
	// very definition, the common case, costs the comparison alone.
	other := c.Run.Version.Fingerprint != d.spec.Version.Fingerprint
	if other {
		if err := d.checkVersion(ctx, r, &c); err != nil {
			return nil, false, err
		}
	}
	if err := d.branchesSpent(ctx, r, from); err != nil {
		d.release(r)
		return nil, false, err
	}
	if err := d.deferralsSpent(ctx, r, &c.Run); err != nil {
		d.release(r)
		return nil, false, err
	}
	var in any
	var err error
	switch {
	case from == 0 && typedIn != nil && !other && len(c.Checkpoints) == 0:
		in, r.inputChecked = typedIn, true
		memoryCounts.typedStarts.Add(1)
	case from == 0:
		// The decoding checks the input against the first step's
		// contract: the step need not check it again.
		in, err = d.stages[0].decodeIn(c.Run.Input)
		r.inputChecked = err == nil
	default:
		in, err = d.stages[from-1].decodeOut(c.Checkpoints[from-1].Output)
	}
	if err != nil && other {
		// The check passed, but the code reads the stored value under a
		// contract it does not name (the output contract of the step
		// before a branching one): the run waits for a person all the same.
		return nil, false, d.hold(ctx, r, d.undecodable(&c.Run, from, err))
	}
	if err != nil {
		// The stored value does not fit the code: no retry can help.
		i := max(from, 0)
		if i == len(d.stages) {
			i--
		}
		_, err = d.executeFailure(ctx, r, i, err)
		return nil, false, err
	}
	if from == len(d.stages) {
		// Every step is done (a replay carried them all): finish.
		return nil, false, d.finish(ctx, r, store.Outcome{Status: store.Succeeded, Output: c.Checkpoints[from-1].Output})
	}
	out, err := d.execute(ctx, r, from, in)
	return out, err == nil && r.succeeded, err
}

// deferralsSpent adds to a resumed run's spending what the model calls
// of the executions its deferrals ended spent in the step they deferred
// (the StepDeferred records' attempts), which no checkpoint holds, so
// that a wait in the queue gives the run none of its budget back. A run
// whose last deferral recorded no spending (Run.Spent, written by each
// deferral with all that the attempt had spent) costs no read.
func (d *definition) deferralsSpent(ctx context.Context, r *runState, run *store.Run) error {
	if run.Deferrals == 0 || run.Spent == (store.Spend{}) {
		return nil
	}
	got, err := d.cfg.Store.GetRun(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("pipeline %s: run %s: read what its deferrals spent: %w", d.name, run.ID, err)
	}
	for _, rec := range got.Steps {
		if rec.RunAttempt != run.Attempt || rec.Status != store.StepDeferred {
			continue
		}
		for _, a := range rec.Attempts {
			r.info.Spend.Add(a.InputTokens+a.OutputTokens, a.Cost)
		}
	}
	return nil
}

// executeFailure fails a run before any step ran in this execution.
func (d *definition) executeFailure(ctx context.Context, r *runState, i int, err error) (any, error) {
	ctx = d.startSpan(ctx, r)
	a := step.Attempt{Step: d.stages[i].name(), Number: 1, Note: "resume", Start: d.cfg.Clock.Now()}
	a.SetError(err)
	return nil, d.fail(ctx, r, i, nil, stageResult{attempts: []step.Attempt{a}}, &step.Error{
		Step: d.stages[i].name(), Class: retry.ClassPermanent, Attempts: []step.Attempt{a}, Err: err})
}

// record builds the step record of stage i.
func (d *definition) record(r *runState, i int, status store.StepStatus, output []byte, res stageResult) store.StepRecord {
	rec := store.StepRecord{
		RunID: r.info.Info.RunID, Index: i, Step: d.stages[i].name(), Status: status, By: res.by, Note: res.note,
		Output: output, Attempts: store.AttemptRecords(res.attempts), StartedAt: r.stepStart, FinishedAt: d.cfg.Clock.Now(),
	}
	// The execution's trace rides on its writes: the store learns the
	// run's first trace from them, at no extra round trip.
	rec.TraceID, rec.SpanID = r.traceIDs()
	return rec
}

// checkpoint records a finished step; the last step's record finishes the
// run in the same write. In memory it does nothing.
func (d *definition) checkpoint(ctx context.Context, r *runState, i int, out any, res stageResult) error {
	if r.lease == nil {
		return nil
	}
	raw, err := d.stages[i].encode(out)
	if err != nil {
		return retry.Permanent(fmt.Errorf("pipeline %s: encode the output of step %s: %w", d.name, d.stages[i].name(), err))
	}
	rec := d.record(r, i, store.StepSucceeded, raw, res)
	if i == len(d.stages)-1 {
		if err := d.finish(ctx, r, store.Outcome{Status: store.Succeeded, Record: &rec, Output: raw}); err != nil {
			return err
		}
		r.succeeded = true
		return nil
	}
	return d.write(ctx, r, func(ctx context.Context) error { return d.cfg.Store.Checkpoint(ctx, *r.lease, rec) })
}

// finish ends (or defers) the run's attempt, recording what it spent.
func (d *definition) finish(ctx context.Context, r *runState, o store.Outcome) error {
	o.Spent = r.spent()
	return d.write(ctx, r, func(ctx context.Context) error { return d.cfg.Store.Finish(ctx, *r.lease, o) })
}

// write makes a store write, retrying a store that is down for as long as
// the lease lasts: the step's output exists only in memory until it is
// written. A lost lease ends the attempt at once: another worker has the
// run.
func (d *definition) write(ctx context.Context, r *runState, fn func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	policy := retry.Policy{MaxAttempts: 1 << 20, InitialInterval: 50 * time.Millisecond, MaxInterval: 2 * time.Second,
		MaxElapsed: max(r.leaseFor, time.Second), Clock: d.cfg.Clock}
	err := policy.Do(ctx, func(ctx context.Context) error {
		err := fn(ctx)
		// A lost lease, a closed store, a missing run and a run cancelled
		// while held (the store has ended it cancelled) are final.
		if err != nil && (errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrNotFound) ||
			errors.Is(err, store.ErrCancelled)) {
			return retry.Permanent(err)
		}
		if err != nil {
			d.cfg.Logger.Warn("plumb: store write failed; retrying", slog.String("pipeline", d.name),
				slog.String("run_id", r.info.Info.RunID), slog.String("error", err.Error()))
		}
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrLeaseLost) {
			d.cfg.Logger.Warn("plumb: lease lost; another worker has the run, this one stops", slog.String("pipeline", d.name),
				slog.String("run_id", r.info.Info.RunID))
		}
		return fmt.Errorf("pipeline %s: run %s: store write: %w", d.name, r.info.Info.RunID, err)
	}
	return nil
}

// release gives a durable run back to the queue unfinished (cancelled,
// shutting down): it stays resumable.
func (d *definition) release(r *runState) {
	if r.lease == nil {
		return
	}
	if err := d.cfg.Store.Release(context.Background(), []store.Lease{*r.lease}); err != nil {
		d.cfg.Logger.Warn("plumb: release failed; the lease will expire", slog.String("run_id", r.info.Info.RunID), slog.String("error", err.Error()))
	}
}

// deferRun puts a run back in the queue until a later time.
func (d *definition) deferRun(ctx context.Context, r *runState, i int, res stageResult, cause error, until time.Time) error {
	rec := d.record(r, i, store.StepDeferred, nil, res)
	rec.Error, rec.Class = cause.Error(), retry.ClassTransient
	err := d.finish(ctx, r, store.Outcome{Status: store.Queued, NotBefore: until, Record: &rec,
		Step: d.stages[i].name(), Error: cause.Error(), Class: retry.ClassTransient})
	if err != nil {
		return err
	}
	return &PendingError{RunID: r.info.Info.RunID, Status: store.Queued, Step: d.stages[i].name(), NotBefore: until, Reason: cause.Error()}
}

// park sends a step's output (or its failure, with out nil) to a person.
func (d *definition) park(ctx context.Context, r *runState, i int, in, out any, res stageResult, reason string, cause error) error {
	st := d.stages[i]
	if r.lease == nil {
		// Without a store nothing can wait for a person: the run gives up
		// with everything kept, marked for a human.
		if cause == nil {
			cause = retry.NeedsReview(errors.New(reason + " (the pipeline has no store to wait in)"))
		}
		l := d.letter(r, st, in, res, cause, retry.ClassNeedsReview)
		l.NeedsHuman = true
		return d.end(ctx, r, observe.OutcomeDeadLettered, d.deadLetter(context.WithoutCancel(ctx), r, i, l, cause))
	}
	rv := &store.Review{Step: st.name(), Index: i, Reason: reason, OutputSchema: st.def().OutputSchema}
	if raw, err := st.encode(in); err == nil {
		rv.Input = raw
	}
	var output []byte
	if out != nil {
		raw, err := st.encode(out)
		if err != nil {
			return d.end(ctx, r, observe.OutcomeFailed, err)
		}
		rv.Proposed, output = raw, raw
	}
	if dl, _ := st.reviewPolicy(); dl > 0 {
		rv.Deadline = d.cfg.Clock.Now().Add(dl)
	}
	rec := d.record(r, i, store.StepReview, output, res)
	rec.Note = reason
	if cause != nil {
		rec.Error, rec.Class = cause.Error(), retry.Classify(cause)
	}
	err := d.finish(ctx, r, store.Outcome{Status: store.AwaitingReview, Record: &rec, Step: st.name(), Review: rv})
	if err != nil {
		return d.end(ctx, r, observe.OutcomeFailed, err)
	}
	d.reviewOpened(ctx, r, st.name(), reason)
	return d.end(ctx, r, observe.OutcomeAwaitingReview,
		&PendingError{RunID: r.info.Info.RunID, Status: store.AwaitingReview, Step: st.name(), Reason: reason})
}

// reviewOpened announces a new review.
func (d *definition) reviewOpened(ctx context.Context, r *runState, step, reason string) {
	d.notify(ctx, notify.Event{Kind: notify.ReviewNeeded, Pipeline: d.name, RunID: r.info.Info.RunID, Step: step, Reason: reason})
}
