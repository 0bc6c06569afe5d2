package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/internal/ids"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// RunOptions describe one run. Its zero value is the default: every field
// is optional.
type RunOptions struct {
	// Trigger says what started the run.
	Trigger step.Trigger
	// RunID names the run. Defaults to a new time-ordered id.
	RunID string
	// IdempotencyKey, with a store, makes a second Run or Submit with the
	// same key return the first run instead of making a duplicate.
	IdempotencyKey string
}

// Run runs in through every step and returns the last step's output, which
// met its contract, as did every value passed between steps.
//
// When a step fails for good (its retries and fallbacks spent), the run is
// dead-lettered: the letter reaches every configured sink and Run returns a
// *deadletter.Error (errors.As yields the letter; errors.Is matches the
// failure's class, e.g. retry.ErrContract). When ctx ends, Run returns an
// error of class cancelled and no letter: a cancelled run is not a failure.
//
// With a Store, Run is durable: the run is recorded, claimed by this
// process and checkpointed step by step, so that a crash leaves it for a
// worker to resume. A run that must wait (a durable retry wait, a review)
// returns a *PendingError saying so; a worker finishes it.
func (p *Pipeline[In, Out]) Run(ctx context.Context, in In, o RunOptions) (Out, error) {
	var zero Out
	if p.def.err != nil {
		return zero, p.def.err
	}
	var out any
	var err error
	if p.def.cfg.Store != nil {
		out, err = p.def.runDurably(ctx, o, in)
	} else {
		r := p.def.newRun(o.RunID, o.Trigger, p.def.cfg.Clock.Now(), store.Spend{})
		out, err = p.def.execute(ctx, r, 0, in)
	}
	if err != nil {
		return zero, err
	}
	return out.(Out), nil
}

// runState is one execution of a run.
type runState struct {
	// info is what the run's context carries: the description step
	// functions read, and the machinery's Env.
	info attempt.Run[step.RunInfo]
	// spend is what info.Spend points to: kept here, so that a run's
	// counter costs no allocation of its own.
	spend   attempt.Spend
	started time.Time
	span    trace.Span
	// lease is the claim a durable run executes under; nil in memory.
	lease *store.Lease
	// leaseFor is how long the claim holds without a heartbeat: a write
	// the store refuses is retried no longer than that.
	leaseFor time.Duration
	// deferrals is how many durable waits the attempt has had.
	deferrals int
	// stepStart is when the current step started.
	stepStart time.Time
	// probe marks the one run a tripped breaker lets through.
	probe bool
	// attempt is the run attempt being executed (replays count up).
	attempt int
	// first is the root span of the run's first execution, when this is a
	// later one (after a deferral, a review, a replay or a reclaim): the
	// root span links to it, so that one trace leads to the others.
	first trace.SpanContext
	// parent is the root span of the parent's execution that forked this
	// branch run: a branch's first execution sits in its parent's trace.
	parent trace.SpanContext
	// inputChecked says that the input the execution starts with met the
	// contract of the step it starts at (checked at Submit, or by its
	// decoding from the store): that step does not check it again.
	inputChecked bool
	// succeeded is set once the store acknowledged the finish that made
	// the run succeeded.
	succeeded bool
}

// newRun starts the state of one execution. Its spend counts every model
// call of the run against the pipeline's RunBudget and, tighter where it
// is, against limit: what a branch's parent had left when it forked.
func (d *definition) newRun(id string, trig step.Trigger, now time.Time, limit store.Spend) *runState {
	if id == "" {
		id = ids.New(now)
	}
	r := &runState{started: now}
	r.info = attempt.Run[step.RunInfo]{Info: step.RunInfo{Pipeline: d.name, RunID: id, Trigger: trig, Attempt: 1},
		Env: attempt.Env{Logger: d.cfg.Logger, Clock: d.cfg.Clock}}
	b := d.cfg.RunBudget
	if limit.Tokens > 0 && (b.Tokens <= 0 || limit.Tokens < b.Tokens) {
		b.Tokens = limit.Tokens
	}
	if limit.Cost > 0 && (b.Cost <= 0 || limit.Cost < b.Cost) {
		b.Cost = limit.Cost
	}
	// A run without a budget still counts what it spends: its outcome
	// records it, and a parent's budget covers its branches.
	r.spend.Bound(b.Tokens, b.Cost)
	r.info.Spend = &r.spend
	return r
}

// spent is what the execution's model calls (and its joined branches)
// have spent.
func (r *runState) spent() store.Spend {
	t, c := r.info.Spend.Total()
	return store.Spend{Tokens: t, Cost: c}
}

// remaining is what the run's budget has left, as a branch's cap; zero
// where the budget bounds nothing. A spent dimension leaves the smallest
// cap there is, never zero (which would be no cap): the join's check of
// the branches' spending is what refuses the overrun.
func (r *runState) remaining() store.Spend {
	lt, lc := r.info.Spend.Limit()
	st, sc := r.info.Spend.Total()
	var b store.Spend
	if lt > 0 {
		b.Tokens = max(lt-st, 1)
	}
	if lc > 0 {
		b.Cost = max(lc-sc, math.SmallestNonzeroFloat64)
	}
	return b
}

// execute runs the stages from index from on, in holding that stage's
// input. It returns the last output, or the error that ended the run.
func (d *definition) execute(ctx context.Context, r *runState, from int, in any) (any, error) {
	if r.lease != nil {
		r.info.LongWait = d.cfg.LongWait
	}
	if r.span == nil {
		ctx = d.startSpan(ctx, r)
	}
	cur := in
	for i := from; i < len(d.stages); i++ {
		st := d.stages[i]
		r.stepStart = d.cfg.Clock.Now()
		var out any
		var res stageResult
		var err error
		if b := st.branching(); b != nil {
			var halt error
			out, res, halt, err = d.branch(ctx, r, i, b, cur)
			var pe *PendingError
			switch {
			case errors.As(halt, &pe):
				return nil, d.end(ctx, r, observe.OutcomeWaiting, halt)
			case halt != nil:
				return nil, d.end(ctx, r, observe.OutcomeFailed, halt)
			}
		} else if aw := awaiterOf(st); aw != nil {
			var halt error
			if out, res, halt, err = d.await(ctx, r, i, aw, cur); halt != nil {
				var pe *PendingError
				if errors.As(halt, &pe) {
					return nil, d.end(ctx, r, observe.OutcomeWaiting, halt)
				}
				return nil, d.end(ctx, r, observe.OutcomeFailed, halt)
			}
		} else if ts, ok := st.(typed); ok && i == from && r.inputChecked {
			out, res, err = ts.runInputChecked(stepContext(ctx, r, st.name()), cur)
		} else {
			out, res, err = st.run(stepContext(ctx, r, st.name()), cur)
		}
		if err != nil {
			return nil, d.fail(ctx, r, i, cur, res, err)
		}
		d.stepOutcome(ctx, r, i, nil)
		if reason, needed := st.review(out); needed {
			return nil, d.park(ctx, r, i, cur, out, res, reason, nil)
		}
		if err := d.checkpoint(ctx, r, i, out, res); err != nil {
			return nil, d.end(ctx, r, observe.OutcomeFailed, err)
		}
		cur = out
	}
	if r.attempt > 1 {
		d.recovered(ctx, r)
	}
	return cur, d.end(ctx, r, observe.OutcomeSucceeded, nil)
}

// stepContext is the context a step runs in: the run's, with the step's
// name and its tries (step.RunInfo.Step, Try) in a copy of the run's
// description, so that the step's IdempotencyKey names it. Each call of
// the step's functions passes the interceptor first, which counts it.
func stepContext(ctx context.Context, r *runState, name string) context.Context {
	info := r.info
	info.Info.Step, info.Info.Try = name, 0
	ctx = attempt.WithRun(ctx, &info)
	next := attempt.InterceptorFrom(ctx)
	return attempt.WithInterceptor(ctx, func(ctx context.Context, stepName string, n int) error {
		info.Info.Try++
		if next != nil {
			return next(ctx, stepName, n)
		}
		return nil
	})
}

// startSpan starts the execution's root span, linked to the first
// execution's when this is a later one, and returns the context the steps
// run in.
func (d *definition) startSpan(ctx context.Context, r *runState) context.Context {
	tel := d.cfg.Telemetry
	ctx = observe.WithTelemetry(ctx, tel)
	ctx = attempt.WithRun(ctx, &r.info)
	var opts []trace.SpanStartOption
	if r.first.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: r.first}))
	}
	if !r.first.IsValid() && r.parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, r.parent)
	}
	ctx, r.span = tel.Tracer().Start(ctx, observe.SpanRun+" "+d.name, opts...)
	if r.span.IsRecording() {
		r.span.SetAttributes(observe.AttrPipeline.String(d.name), observe.AttrRunID.String(r.info.Info.RunID))
		if p := r.info.Info.Parent; p != "" {
			r.span.SetAttributes(observe.AttrParentRunID.String(p))
		}
		if r.info.Info.Trigger.Source != "" {
			r.span.SetAttributes(observe.AttrTrigger.String(r.info.Info.Trigger.Source))
		}
	}
	return ctx
}

// traceIDs are the trace and root span ids of the execution, as a store
// records them; empty without a tracer.
func (r *runState) traceIDs() (traceID, spanID string) {
	if r.span == nil {
		return "", ""
	}
	if sc := r.span.SpanContext(); sc.IsValid() {
		return sc.TraceID().String(), sc.SpanID().String()
	}
	return "", ""
}

// firstSpan is the remote span context of a run's first execution, as its
// record names it; invalid when it names none.
func firstSpan(run *store.Run) trace.SpanContext { return remoteSpan(run.TraceID, run.SpanID) }

// remoteSpan is the remote span context of the hex ids a record keeps;
// invalid when they name none.
func remoteSpan(traceID, spanID string) trace.SpanContext {
	tid, err1 := trace.TraceIDFromHex(traceID)
	sid, err2 := trace.SpanIDFromHex(spanID)
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, Remote: true})
}

// recovered records how long a replayed run took to recover, from its
// last dead letter to this success.
func (d *definition) recovered(ctx context.Context, r *runState) {
	det, err := d.cfg.Store.GetRun(context.WithoutCancel(ctx), r.info.Info.RunID)
	if err != nil {
		return
	}
	if rt, ok := store.RecoveryTime(&det.Run, det.Attempts); ok {
		d.cfg.Telemetry.Recovery.Record(ctx, rt.Seconds(), metric.WithAttributes(observe.AttrPipeline.String(d.name)))
	}
}

// end closes the run's span and counts its outcome; it returns err.
func (d *definition) end(ctx context.Context, r *runState, outcome string, err error) error {
	if outcome != observe.OutcomeCancelled && errors.Is(err, store.ErrCancelled) {
		// The store refused a write of a run an operator cancelled, and
		// ended it cancelled: that is the run's outcome.
		return d.endCancelled(ctx, r, "")
	}
	if outcome != observe.OutcomeFailed {
		d.countRun(context.WithoutCancel(ctx), outcome)
	}
	r.span.SetAttributes(observe.AttrOutcome.String(outcome))
	if err != nil && outcome != observe.OutcomeDeferred && outcome != observe.OutcomeAwaitingReview && outcome != observe.OutcomeWaiting && outcome != observe.OutcomeReleased {
		class := retry.Classify(err)
		r.span.SetAttributes(observe.AttrErrorClass.String(class.String()), observe.AttrErrorType.String(class.String()))
		r.span.SetStatus(codes.Error, err.Error())
	}
	r.span.End()
	return err
}

func (d *definition) countRun(ctx context.Context, outcome string) {
	d.cfg.Telemetry.Runs.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		observe.AttrPipeline.String(d.name), observe.AttrOutcome.String(outcome))))
}

// fail ends a run whose step failed for good. A cancelled run stays
// resumable; a failure that can wait goes back to the queue; a failure a
// person must judge goes to review; everything else is dead-lettered,
// loudly.
func (d *definition) fail(ctx context.Context, r *runState, i int, in any, res stageResult, err error) error {
	st := d.stages[i]
	class := retry.Classify(err)
	r.span.SetAttributes(observe.AttrStep.String(st.name()))
	if class == retry.ClassCancelled {
		// The store ends a run an operator cancelled when it is given
		// back; any other stop leaves it to the queue, to resume.
		d.release(r)
		if r.lease != nil && errors.Is(context.Cause(ctx), ErrRunCancelled) {
			return d.endCancelled(ctx, r, st.name())
		}
		if r.lease != nil {
			return d.end(ctx, r, observe.OutcomeReleased, err)
		}
		return d.end(ctx, r, observe.OutcomeCancelled, err)
	}
	if r.lease != nil && d.cfg.Breaker.on() && d.cfg.Breaker.counts(class) {
		d.breaker.tripMu.Lock()
		defer d.breaker.tripMu.Unlock()
	}
	if r.lease != nil {
		if p := d.stepOutcome(ctx, r, i, err); p != nil {
			// The intake is shut: this run waits for the pipeline to heal
			// rather than be dead-lettered into a known outage.
			until := p.ProbeAfter
			if until.IsZero() {
				until = d.cfg.Clock.Now().Add(d.cfg.Breaker.coolDown())
			}
			return d.end(ctx, r, observe.OutcomeDeferred, d.deferRun(ctx, r, i, res, err, until))
		}
		if until, ok := d.waitUntil(r, err); ok {
			return d.end(ctx, r, observe.OutcomeDeferred, d.deferRun(ctx, r, i, res, err, until))
		}
	}
	if st.reviewsFailure(class) {
		return d.park(ctx, r, i, in, nil, res, err.Error(), err)
	}
	l := d.letter(r, st, in, res, err, class)
	r.span.SetAttributes(observe.AttrNeedsHuman.Bool(l.NeedsHuman))
	return d.end(ctx, r, observe.OutcomeDeadLettered, d.deadLetter(context.WithoutCancel(ctx), r, i, l, err))
}

// waitUntil says whether a failure should wait in the queue, and until
// when: a deferral the step asked for, or the next wait of the outage
// schedule for a failure known to be transient (retry.Known) that
// outlasted the retry policy. An unclassified error is no sign of an
// outage: it is dead-lettered once the retry policy is spent.
func (d *definition) waitUntil(r *runState, err error) (time.Time, bool) {
	var de *step.DeferredError
	if errors.As(err, &de) {
		return de.Until, true
	}
	if retry.Classify(err) == retry.ClassTransient && retry.Known(err) && r.deferrals < len(d.cfg.Outage) {
		return d.cfg.Clock.Now().Add(d.cfg.Outage[r.deferrals]), true
	}
	return time.Time{}, false
}

// letter builds the dead letter of a failed step.
func (d *definition) letter(r *runState, st stage, in any, res stageResult, err error, class retry.Class) *deadletter.Letter {
	l := &deadletter.Letter{
		Pipeline:  d.name,
		RunID:     r.info.Info.RunID,
		Step:      st.name(),
		Trigger:   r.info.Info.Trigger,
		Class:     class,
		Error:     err.Error(),
		Attempts:  res.attempts,
		StartedAt: r.started,
		FailedAt:  d.cfg.Clock.Now(),
	}
	l.NeedsHuman = deadletter.NeedsHuman(class) || st.route() == step.Review
	if raw, merr := st.encode(in); merr == nil {
		l.InputHash, l.InputSize = store.Hash(raw), len(raw)
		if !d.cfg.HashPayloads {
			l.Input = raw
		}
	}
	for i := len(res.attempts) - 1; i >= 0; i-- {
		if res.attempts[i].Raw != "" {
			l.LastOutput = res.attempts[i].Raw
			break
		}
	}
	l.TraceID, l.SpanID = r.traceIDs()
	return l
}

// deadLetter records l: in the store, when the run is durable (the
// canonical record), and in every configured sink. A sink that fails is
// counted, logged and reported in the returned error: the letter is never
// lost silently.
func (d *definition) deadLetter(ctx context.Context, r *runState, i int, l *deadletter.Letter, cause error) error {
	tel := d.cfg.Telemetry
	tel.DeadLetters.Add(ctx, 1, metric.WithAttributes(observe.AttrPipeline.String(d.name),
		observe.AttrStep.String(l.Step), observe.AttrErrorClass.String(l.Class.String())))
	var sinkErrs []error
	if r.lease != nil {
		rec := d.record(r, i, store.StepFailed, nil, stageResult{attempts: l.Attempts})
		rec.Input, rec.Error, rec.Class = l.Input, l.Error, l.Class
		err := d.finish(ctx, r, store.Outcome{Status: store.DeadLettered, Record: &rec, Step: l.Step, Error: l.Error, Class: l.Class})
		if errors.Is(err, store.ErrCancelled) {
			// Cancelled before it could give up: no dead letter.
			return err
		}
		if err != nil {
			sinkErrs = append(sinkErrs, &deadletter.SinkError{Sink: "store", RunID: l.RunID, Err: err})
		}
	}
	for _, s := range d.cfg.DeadLetters {
		if err := s.Send(ctx, l); err != nil {
			name := deadletter.SinkName(s)
			sinkErrs = append(sinkErrs, &deadletter.SinkError{Sink: name, RunID: l.RunID, Err: err})
			tel.SinkFailures.Add(ctx, 1, metric.WithAttributes(observe.AttrPipeline.String(d.name), observe.AttrSink.String(name)))
			d.notify(ctx, notify.Event{Kind: notify.SinkFailed, Pipeline: d.name, RunID: l.RunID, Step: l.Step,
				Reason: "dead-letter sink " + name + " refused the letter: " + err.Error()})
		}
	}
	kind := notify.DeadLettered
	if l.Class == retry.ClassBudget {
		kind = notify.BudgetExceeded
	}
	d.notify(ctx, notify.Event{Kind: kind, Pipeline: d.name, RunID: l.RunID, Step: l.Step, Class: l.Class.String(), Reason: l.Error})
	sinkErr := errors.Join(sinkErrs...)
	if sinkErr != nil {
		// The last place the letter can be kept: the log.
		d.cfg.Logger.LogAttrs(ctx, slog.LevelError, "plumb: dead letter not kept by every sink",
			slog.String("pipeline", l.Pipeline), slog.String("run_id", l.RunID), slog.String("step", l.Step),
			slog.String("sink_error", sinkErr.Error()), slog.Any("letter", l))
	}
	return &deadletter.Error{Letter: l, Err: cause, SinkErr: sinkErr}
}

// PendingError is what Run returns for a durable run that is not finished
// but waiting: in the queue until NotBefore (Status store.Queued), for a
// person's review (store.AwaitingReview), or for the branch runs its step
// forked (store.Waiting: a fan-out, a route, parallel sub-pipelines; the
// store queues the run again once they have ended, and a worker joins
// them), or held (store.Held: a worker of a changed definition could not
// go on with its records; Reason says why, and it waits for a replay or
// a cancel). A worker carries it on; its id finds it in the store.
type PendingError struct {
	RunID     string
	Status    store.Status
	Step      string
	NotBefore time.Time
	Reason    string
	// Event, for a run whose await step waits for an event (Status
	// store.Queued, until NotBefore, the wait's deadline), names the
	// event: "payment invoice:42". Such a wait is no failure: Is matches
	// no class.
	Event string
}

func (e *PendingError) Error() string {
	switch e.Status {
	case store.AwaitingReview:
		return fmt.Sprintf("run %s awaits review at step %q: %s", e.RunID, e.Step, e.Reason)
	case store.Waiting:
		return fmt.Sprintf("run %s %s at step %q", e.RunID, e.Reason, e.Step)
	case store.Held:
		return fmt.Sprintf("run %s is held at step %q: %s", e.RunID, e.Step, e.Reason)
	}
	if e.Event != "" {
		return fmt.Sprintf("run %s waits for event %s at step %q until %s", e.RunID, e.Event, e.Step, e.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("run %s waits in the queue until %s at step %q: %s", e.RunID, e.NotBefore.UTC().Format(time.RFC3339), e.Step, e.Reason)
}

// Is matches retry.ErrNeedsReview for a review, retry.ErrTransient for a
// wait in the queue, retry.ErrContract for a held run (a record breaks a
// contract of the new definition), and no class for a wait for
// branches, which is no failure at all.
func (e *PendingError) Is(target error) bool {
	if e.Event != "" {
		return false
	}
	switch e.Status {
	case store.AwaitingReview:
		return target == retry.ErrNeedsReview
	case store.Held:
		return target == retry.ErrContract
	case store.Waiting:
		return false
	}
	return target == retry.ErrTransient
}
