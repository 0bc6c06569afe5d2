package step

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
)

// Func is the work of a step: one typed value in, one out.
type Func[In, Out any] func(ctx context.Context, in In) (Out, error)

// Route says where a run goes when a step fails for good.
type Route uint8

const (
	// DeadLetter keeps everything and gives up: the default.
	DeadLetter Route = iota
	// Review hands the failure to a human, who may supply the output.
	Review
)

func (r Route) String() string {
	if r == Review {
		return "review"
	}
	return "dead_letter"
}

// Config holds a step's policies. Its zero value is the default: both
// contracts checked, the default retry policy, dead letter on failure.
// Fallback steps are not policy but composition: see Step.Or.
type Config struct {
	// Retry is the retry policy of the step's function. Defaults to
	// retry.Policy{}: 3 attempts with exponential backoff, transient
	// failures only.
	Retry retry.Policy
	// Timeout bounds each attempt, even when the function ignores its
	// context: the attempt ends at the timeout (give or take 100 ms for a
	// function that honours its context to return) as a transient
	// *retry.TimeoutError, and a call still running is abandoned. An
	// abandoned call goes on in the background and may still cause side
	// effects (an email sent, a card charged); what it returns is
	// discarded, a panic in it is recovered and logged, and it is counted
	// (plumb.step.abandoned) and logged on the run's logger. Make functions
	// with side effects honour their context, or idempotent. Defaults to
	// Retry.AttemptTimeout, which defaults to no bound.
	Timeout time.Duration
	// SkipInputContract turns off the check of the input against In's
	// contract. Defaults to checking.
	SkipInputContract bool
	// SkipOutputContract turns off the check of the output against Out's
	// contract. Defaults to checking: nothing reaches the next step unless it
	// met its contract.
	SkipOutputContract bool
	// OnFailure is where the run goes when the step and its fallbacks have
	// failed. Defaults to DeadLetter.
	OnFailure Route
	// Review sends outputs or failures to a person (see ReviewRule).
	// Defaults to no review.
	Review ReviewRule
}

// Step is a named unit of work with its policies. Make one with New. A Step
// is immutable and safe for concurrent use.
type Step[In, Out any] struct {
	// last caches the metrics of the telemetry and pipeline the step last
	// ran under, which is almost always the one it runs under next.
	last atomic.Pointer[stepMetrics]

	name string
	fn   Func[In, Out]
	cfg  Config
	// retry is cfg.Retry, ready to run under a run's clock.
	retry attempt.Retry
	// fallbacks are the steps Or added, tried in order.
	fallbacks []*Step[In, Out]
	// reviewIf is cfg.Review.If, asserted once by New.
	reviewIf func(out Out) (reason string, needed bool)
	in       *contract.Contract[In]
	out      *contract.Contract[Out]
	err      error
	spanName string
	// selfRecording: the function makes and records its own attempts (a
	// model step's calls); the step calls it once, with no retries of its
	// own. Set by the builder through attempt.Plumb.
	selfRecording bool
}

func init() {
	attempt.Hooks.Plumb = func(s any, p attempt.Plumbing) { s.(plumbable).plumb(p) }
	attempt.Hooks.CheckedRun = func(s any) any { return s.(plumbable).checkedRun() }
	attempt.Hooks.Review = func(s any) attempt.Review { return s.(plumbable).review() }
}

// plumbable is what the hooks of package attempt reach in a *Step.
type plumbable interface {
	plumb(p attempt.Plumbing)
	checkedRun() any
	review() attempt.Review
}

func (s *Step[In, Out]) plumb(p attempt.Plumbing) {
	s.selfRecording = p.SelfRecording
	if p.Err != nil {
		s.err = errors.Join(s.err, fmt.Errorf("step %q: %w", s.name, p.Err))
	}
}

func (s *Step[In, Out]) checkedRun() any {
	return func(ctx context.Context, in In, inputChecked bool) (Result[Out], error) {
		return s.runChecked(ctx, in, inputChecked)
	}
}

// New makes a step of fn under the policies of cfg; the zero Config is
// the default. A problem with the step (an empty name, a nil function, a
// type that cannot have a contract, a Review.If of the wrong type) does
// not panic: it is reported by Err, and by the pipeline that the step is
// added to, when the pipeline is built.
func New[In, Out any](name string, fn Func[In, Out], cfg Config) *Step[In, Out] {
	s := &Step[In, Out]{name: name, fn: fn, cfg: cfg, spanName: observe.SpanStep + " " + name}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("step: a step needs a name"))
	}
	if fn == nil {
		errs = append(errs, fmt.Errorf("step %q: the function is nil", name))
	}
	if s.cfg.Timeout == 0 {
		s.cfg.Timeout = s.cfg.Retry.AttemptTimeout
	}
	s.retry = attempt.NewRetry(cfg.Retry)
	if !s.cfg.SkipInputContract {
		c, err := contract.For[In]()
		if err != nil {
			errs = append(errs, fmt.Errorf("step %q: input contract: %w", name, err))
		}
		s.in = c
	}
	if !s.cfg.SkipOutputContract {
		c, err := contract.For[Out]()
		if err != nil {
			errs = append(errs, fmt.Errorf("step %q: output contract: %w", name, err))
		}
		s.out = c
	}
	if f := cfg.Review.If; f != nil {
		rule, ok := f.(func(Out) (string, bool))
		if !ok {
			errs = append(errs, fmt.Errorf("step %q: Review.If is a %T; the step's output needs a %v",
				name, f, reflect.TypeFor[func(Out) (reason string, needed bool)]()))
		}
		s.reviewIf = rule
	}
	s.err = errors.Join(errs...)
	return s
}

type stepMetrics struct {
	tel      *observe.Telemetry
	pipeline string
	m        *observe.StepMetrics
}

func (s *Step[In, Out]) metrics(tel *observe.Telemetry, pipeline string) *observe.StepMetrics {
	if c := s.last.Load(); c != nil && c.tel == tel && c.pipeline == pipeline {
		return c.m
	}
	m := tel.Step(pipeline, s.name)
	s.last.Store(&stepMetrics{tel: tel, pipeline: pipeline, m: m})
	return m
}

// Name returns the step's name.
func (s *Step[In, Out]) Name() string { return s.name }

// Err reports what is wrong with the step's definition, or nil.
func (s *Step[In, Out]) Err() error { return s.err }

// OnFailure returns the step's failure route.
func (s *Step[In, Out]) OnFailure() Route { return s.cfg.OnFailure }

// InputContract returns the contract inputs are checked against, or nil
// when the check is off.
func (s *Step[In, Out]) InputContract() *contract.Contract[In] { return s.in }

// OutputContract returns the contract outputs are checked against, or nil
// when the check is off.
func (s *Step[In, Out]) OutputContract() *contract.Contract[Out] { return s.out }

// Result is a step's success: the output, who produced it and how.
type Result[Out any] struct {
	Output Out
	// By names the step or fallback that produced Output.
	By string
	// Attempts records every attempt, failed ones included.
	Attempts []Attempt
}

// Fallback reports whether a fallback produced the output.
func (r *Result[Out]) Fallback(step string) bool { return r.By != step }

// Run runs the step on in: it checks the input's contract, calls the
// function under the retry policy and per-attempt timeout, checks the
// output's contract, and tries the fallbacks in order when that fails. A
// panic in the function becomes a permanent *PanicError. On failure the
// error is a *Error holding every attempt; when ctx ends, its class is
// cancelled. The result holds the attempts in both cases.
func (s *Step[In, Out]) Run(ctx context.Context, in In) (Result[Out], error) {
	return s.runChecked(ctx, in, false)
}

// runChecked is Run for callers that have already checked in against the
// step's input contract (a pipeline passing on a value that met the same
// contract as the previous step's output) and set inputChecked.
func (s *Step[In, Out]) runChecked(ctx context.Context, in In, inputChecked bool) (Result[Out], error) {
	var res Result[Out]
	if s.err != nil {
		return res, &Error{Step: s.name, Class: retry.ClassPermanent, Err: s.err}
	}
	tel := observe.FromContext(ctx)
	pipeline := ""
	if ri := RunInfoFrom(ctx); ri != nil {
		pipeline = ri.Pipeline
	}
	m := s.metrics(tel, pipeline)
	clock := s.retry.For(ctx).Clock
	ic := attempt.InterceptorFrom(ctx)
	ctx, span := tel.Tracer().Start(ctx, s.spanName)
	recording := span.IsRecording()
	if recording {
		span.SetAttributes(observe.AttrStep.String(s.name), observe.AttrPipeline.String(pipeline))
	}
	start := clock.Now()

	out, err := s.runWithFallbacks(ctx, in, inputChecked, start, &res, m, span, recording, ic)
	outcome := observe.OutcomeSucceeded
	if err != nil {
		outcome = observe.OutcomeFailed
	} else if res.By != s.name {
		outcome = observe.OutcomeFallback
	}
	// The last attempt's end is the step's end, give or take the
	// bookkeeping after it: one clock read fewer on every step.
	end := start
	if n := len(res.Attempts); n > 0 {
		end = res.Attempts[n-1].Start.Add(res.Attempts[n-1].Duration)
	}
	m.Done(ctx, end.Sub(start), outcome)
	if recording {
		span.SetAttributes(observe.AttrOutcome.String(outcome))
		if outcome == observe.OutcomeFallback {
			span.SetAttributes(observe.AttrFallback.String(res.By))
		}
		if err == nil {
			s.recordPayload(span, tel, observe.AttrOutput, out)
		}
	}
	if err != nil {
		endWithError(span, err)
		return res, err
	}
	span.End()
	res.Output = out
	return res, nil
}

func (s *Step[In, Out]) runWithFallbacks(ctx context.Context, in In, inputChecked bool, start time.Time, res *Result[Out], m *observe.StepMetrics, span trace.Span, recording bool, ic attempt.Interceptor) (Out, error) {
	var zero Out
	if recording {
		s.recordPayload(span, observe.FromContext(ctx), observe.AttrInput, in)
	}
	if s.in != nil && !inputChecked {
		if err := s.in.Check(in); err != nil {
			a := Attempt{Step: s.name, Number: len(res.Attempts) + 1, Kind: AttemptInputContract, Note: "input contract", Start: start}
			a.SetError(err)
			res.Attempts = append(res.Attempts, a)
			m.Attempt(ctx, classLabel(a.Class))
			// A bad input is bad for every fallback too.
			return zero, &Error{Step: s.name, Class: retry.ClassContract, Attempts: res.Attempts, Err: err}
		}
	}
	out, err := s.runOwn(ctx, in, start, res, m, span, recording, ic)
	if err == nil {
		res.By = s.name
		return out, nil
	}
	class := retry.Classify(err)
	var deferred *DeferredError
	errors.As(err, &deferred)
	for _, fb := range s.fallbacks {
		if !fallsBack(class) {
			break
		}
		if recording {
			span.AddEvent("plumb.fallback", trace.WithAttributes(observe.AttrFallback.String(fb.name)))
		}
		var fres Result[Out]
		fout, ferr := fb.runWithFallbacks(ctx, in, true, fb.retry.For(ctx).Clock.Now(), &fres, m, span, recording, ic)
		for _, a := range fres.Attempts {
			a.Number = len(res.Attempts) + 1
			res.Attempts = append(res.Attempts, a)
		}
		if ferr == nil {
			res.By = fres.By
			return fout, nil
		}
		err, class = ferr, retry.Classify(ferr)
	}
	if deferred != nil {
		// No fallback could answer now: wait for the step itself.
		err, class = deferred, retry.ClassTransient
	}
	unclassified := !retry.Known(err)
	if unclassified && class == retry.ClassTransient {
		// The retries are spent and nothing says the failure will pass:
		// waiting it out in the queue would make a data bug look like an
		// outage for hours.
		class = retry.ClassPermanent
	}
	return zero, &Error{Step: s.name, Class: class, Unclassified: unclassified, Attempts: res.Attempts, Err: unwrapStepError(err)}
}

// runOwn runs the step's own function under its retry policy, through the
// attempt loop model steps share.
func (s *Step[In, Out]) runOwn(ctx context.Context, in In, start time.Time, res *Result[Out], m *observe.StepMetrics, span trace.Span, recording bool, ic attempt.Interceptor) (Out, error) {
	var out Out
	pol := s.retry.For(ctx)
	clock := pol.Clock
	loop := attempt.Loop{Schedule: pol.StartAt(start), Clock: clock}
	t0, kind := start, AttemptCall
	err, until := loop.Run(ctx, func() attempt.Outcome {
		if kind != AttemptCall {
			t0 = clock.Now()
		}
		var log *attempt.Log[Attempt]
		actx := ctx
		if s.selfRecording {
			log = &attempt.Log[Attempt]{}
			actx = attempt.WithLog(ctx, log)
		}
		var err error
		out, err = s.attempt(actx, in, ic, len(res.Attempts)+1)
		brokenOutput := false
		if err == nil && s.out != nil {
			err = s.out.Check(out)
			brokenOutput = err != nil
		}
		if log != nil {
			s.appendOwn(ctx, res, log, err, m)
		} else {
			a := Attempt{Step: s.name, Number: len(res.Attempts) + 1, Kind: kind, Start: t0, Duration: clock.Now().Sub(t0)}
			a.SetError(err)
			if brokenOutput {
				// Keep what the function returned: it is the first thing
				// anyone diagnosing the failure wants to see.
				a.Raw = rawOf(out)
			}
			res.Attempts = append(res.Attempts, a)
			m.Attempt(ctx, classLabel(a.Class))
		}
		last := &res.Attempts[len(res.Attempts)-1]
		if recording {
			addAttemptEvent(span, last)
		}
		kind = AttemptRetry
		then := attempt.Backoff
		if s.selfRecording {
			// The function retried, re-asked and fell back on its own.
			then = attempt.Stop
		}
		return attempt.Outcome{Err: err, Then: then, Wait: &last.Wait}
	})
	if err != nil {
		var zero Out
		if !until.IsZero() {
			return zero, &DeferredError{Until: until, Err: err}
		}
		return zero, err
	}
	return out, nil
}

// appendOwn moves the attempts a self-recording function made into the
// result, adding one for the outcome when the function's own records do not
// already tell it (an error before any call, or a broken output contract):
// the last record tells it when it holds the very error the function
// returned, or succeeded when the function did.
func (s *Step[In, Out]) appendOwn(ctx context.Context, res *Result[Out], log *attempt.Log[Attempt], err error, m *observe.StepMetrics) {
	own := log.Take()
	for _, a := range own {
		a.Number = len(res.Attempts) + 1
		if a.Step == "" {
			a.Step = s.name
		}
		res.Attempts = append(res.Attempts, a)
		m.Attempt(ctx, classLabel(a.Class))
	}
	told := false
	if n := len(own); n > 0 {
		last := &own[n-1]
		told = err == nil && last.err == nil && last.Error == "" || err != nil && attempt.Same(last.err, err)
	}
	if !told {
		a := Attempt{Step: s.name, Number: len(res.Attempts) + 1, Kind: AttemptOutcome, Note: "step outcome", Start: s.retry.For(ctx).Clock.Now()}
		a.SetError(err)
		res.Attempts = append(res.Attempts, a)
		m.Attempt(ctx, classLabel(a.Class))
	}
}

func classLabel(c retry.Class) string {
	if c == 0 {
		return ""
	}
	return c.String()
}

// attempt calls the function once, under the per-attempt timeout (see
// bounded), turning a panic into a *PanicError.
func (s *Step[In, Out]) attempt(ctx context.Context, in In, ic attempt.Interceptor, n int) (out Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newPanicError(r)
		}
	}()
	if ic != nil {
		if err := ic(ctx, s.name, n); err != nil {
			return out, err
		}
	}
	if s.cfg.Timeout > 0 {
		return s.bounded(ctx, in, n)
	}
	return s.fn(ctx, in)
}

func addAttemptEvent(span trace.Span, a *Attempt) {
	outcome := observe.OutcomeSucceeded
	if a.Error != "" {
		outcome = observe.OutcomeFailed
	}
	attrs := []attribute.KeyValue{observe.AttrAttempt.Int(a.Number), observe.AttrStep.String(a.Step), observe.AttrOutcome.String(outcome)}
	if a.Error != "" {
		attrs = append(attrs, observe.AttrErrorClass.String(a.Class.String()))
	}
	span.AddEvent(observe.SpanAttempt, trace.WithAttributes(attrs...))
}

func endWithError(span trace.Span, err error) {
	class := retry.Classify(err)
	if span.IsRecording() {
		span.SetAttributes(observe.AttrErrorClass.String(class.String()), observe.AttrErrorType.String(class.String()))
		if errors.Is(err, ErrPanic) {
			span.SetAttributes(observe.AttrPanic.Bool(true))
		}
		span.RecordError(err)
	}
	span.SetStatus(codes.Error, err.Error())
	span.End()
}
