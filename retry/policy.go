package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Policy says how often and how patiently a failing call is tried again. Its
// zero value is a sensible default: 3 attempts, exponential backoff from
// 200 ms with 50% jitter, at most 2 minutes in all.
type Policy struct {
	// MaxAttempts is the most attempts, the first one included. Defaults to
	// 3. Set 1 for no retries.
	MaxAttempts int
	// InitialInterval is the first wait. Defaults to 200 ms.
	InitialInterval time.Duration
	// MaxInterval caps any single wait computed by the backoff (a longer
	// Retry-After is still honoured). Defaults to 30 s.
	MaxInterval time.Duration
	// Multiplier grows the wait after each attempt. Defaults to 2.
	Multiplier float64
	// Jitter is the randomization factor: each wait is drawn from
	// [w·(1-Jitter), w·(1+Jitter)]. Defaults to 0.5; a negative value means
	// no jitter.
	Jitter float64
	// MaxElapsed bounds the time from the first attempt to the start of the
	// last, waits included: a wait that would cross it is not taken.
	// Defaults to 2 minutes; a negative value means no bound.
	MaxElapsed time.Duration
	// AttemptTimeout bounds each attempt. An attempt that runs out of time
	// fails as transient. Defaults to no bound.
	AttemptTimeout time.Duration
	// Retryable says which classes are retried. Defaults to ClassTransient
	// only.
	Retryable func(Class) bool
	// Clock is the time source. Defaults to SystemClock.
	Clock Clock
}

// Never is a policy that makes one attempt and never retries.
var Never = Policy{MaxAttempts: 1}

// Defaults, as documented on Policy's fields.
const (
	DefaultMaxAttempts     = 3
	DefaultInitialInterval = 200 * time.Millisecond
	DefaultMaxInterval     = 30 * time.Second
	DefaultMultiplier      = 2.0
	DefaultJitter          = 0.5
	DefaultMaxElapsed      = 2 * time.Minute
)

// Attempts returns the most attempts the policy allows.
func (p *Policy) Attempts() int {
	if p.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

// ClockOrDefault returns the policy's clock.
func (p *Policy) ClockOrDefault() Clock {
	if p.Clock == nil {
		return SystemClock
	}
	return p.Clock
}

// Retries reports whether the policy retries failures of class c.
func (p *Policy) Retries(c Class) bool {
	if p.Retryable != nil {
		return p.Retryable(c)
	}
	return c == ClassTransient
}

func (p *Policy) exponential() *backoff.ExponentialBackOff {
	or := func(d, def time.Duration) time.Duration {
		if d == 0 {
			return def
		}
		return d
	}
	b := &backoff.ExponentialBackOff{
		InitialInterval:     or(p.InitialInterval, DefaultInitialInterval),
		MaxInterval:         or(p.MaxInterval, DefaultMaxInterval),
		Multiplier:          p.Multiplier,
		RandomizationFactor: p.Jitter,
		Stop:                backoff.Stop,
		Clock:               backoffClock{p.ClockOrDefault()},
	}
	if b.Multiplier <= 0 {
		b.Multiplier = DefaultMultiplier
	}
	switch {
	case b.RandomizationFactor == 0:
		b.RandomizationFactor = DefaultJitter
	case b.RandomizationFactor < 0:
		b.RandomizationFactor = 0
	}
	// Elapsed time is bounded by Schedule itself, which also counts
	// Retry-After waits; the backoff only computes intervals.
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// Schedule is one use of a policy: it decides, failure by failure, whether
// and when to try again. Start one per call; it is not safe for concurrent
// use. The zero Schedule is not usable; call Policy.Start.
type Schedule struct {
	p        *Policy
	start    time.Time
	attempts int
	b        *backoff.ExponentialBackOff // made on the first failure
}

// Start begins a schedule at the clock's current time. It allocates nothing
// until the first failure, so a call that succeeds at once pays almost nothing
// for its policy.
func (p *Policy) Start() Schedule {
	return p.StartAt(p.ClockOrDefault().Now())
}

// StartAt begins a schedule at a time the caller has already read from the
// policy's clock.
func (p *Policy) StartAt(t time.Time) Schedule {
	return Schedule{p: p, start: t}
}

// Plan is what a Schedule says follows a failed attempt: another attempt
// after Wait, or none, and why.
type Plan struct {
	// Retry is true when another attempt should be made after Wait.
	Retry bool
	// Wait is how long to wait first: the backoff, or the Retry-After the
	// error carried when that is longer.
	Wait time.Duration
	// Class is the failure's class.
	Class Class
	// Reason says why no retry follows, when Retry is false:
	// ReasonNotRetryable, ReasonAttempts or ReasonTimeBudget.
	Reason string
}

// The reasons a Schedule gives for not retrying.
const (
	ReasonNotRetryable = "not retryable"
	ReasonAttempts     = "attempts exhausted"
	// ReasonTimeBudget: the next wait (Wait) would cross MaxElapsed. A
	// durable caller may still take it in the queue.
	ReasonTimeBudget = "time budget exhausted"
)

// Waits reports whether the plan is to wait Wait before another try, in
// memory (Retry) or, past the policy's time budget, in a durable queue.
func (p Plan) Waits() bool {
	return p.Retry || p.Reason == ReasonTimeBudget && p.Wait > 0
}

// Next records a failed attempt and plans what follows.
func (s *Schedule) Next(err error) Plan {
	s.attempts++
	c := Classify(err)
	if !s.p.Retries(c) {
		return Plan{Class: c, Reason: ReasonNotRetryable}
	}
	if s.attempts >= s.p.Attempts() {
		return Plan{Class: c, Reason: ReasonAttempts}
	}
	if s.b == nil {
		s.b = s.p.exponential()
	}
	wait := s.b.NextBackOff()
	if ra := RetryAfter(err); ra > wait {
		wait = ra
	}
	maxElapsed := s.p.MaxElapsed
	if maxElapsed == 0 {
		maxElapsed = DefaultMaxElapsed
	}
	if maxElapsed > 0 && s.p.ClockOrDefault().Now().Add(wait).Sub(s.start) > maxElapsed {
		return Plan{Class: c, Wait: wait, Reason: ReasonTimeBudget}
	}
	return Plan{Retry: true, Wait: wait, Class: c}
}

// Attempts returns how many failed attempts the schedule has seen.
func (s *Schedule) Attempts() int { return s.attempts }

// Do calls fn until it succeeds, fails with a class the policy does not
// retry, or the policy is spent, and returns the last error. Each attempt
// gets its own context bounded by AttemptTimeout. When ctx ends, Do stops at
// once and returns an error of ClassCancelled wrapping ctx's error.
func (p Policy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	s := p.Start()
	clock := p.ClockOrDefault()
	for {
		err := Attempt(ctx, p.AttemptTimeout, fn)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return Mark(ClassCancelled, ctx.Err())
		}
		d := s.Next(err)
		if !d.Retry {
			return err
		}
		if serr := clock.Sleep(ctx, d.Wait); serr != nil {
			return Mark(ClassCancelled, serr)
		}
	}
}

// Attempt runs fn once under a per-attempt timeout (none when timeout is 0).
// A timeout that expires while ctx is still live is reported as a transient
// *TimeoutError. Attempt waits for fn to return, so it bounds only a fn that
// honours its context; a step's Timeout also bounds one that does not (see
// package step).
func Attempt(ctx context.Context, timeout time.Duration, fn func(ctx context.Context) error) error {
	if timeout <= 0 {
		return fn(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	err := fn(actx)
	cancel()
	if err != nil && ctx.Err() == nil && actx.Err() == context.DeadlineExceeded {
		return &Error{Class: ClassTransient, Err: &TimeoutError{After: timeout, Err: err}}
	}
	return err
}

// TimeoutError says an attempt ran past its per-attempt timeout.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return "attempt timed out after " + e.After.String() + ": " + e.Err.Error()
}

// Unwrap returns the attempt's own error.
func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout reports true, as a net.Error does.
func (e *TimeoutError) Timeout() bool { return true }
