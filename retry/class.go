package retry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Class is the kind of a failure. The class decides the path a failure takes:
// retry, re-ask, fallback, review or dead letter.
type Class uint8

// The failure classes: the one vocabulary every layer (steps, stores,
// telemetry, the CLI) uses for why something failed. The zero Class means
// "no failure"; Classify never returns it for a non-nil error.
const (
	// Transient failures are retried with backoff (timeouts, 429, 5xx).
	ClassTransient Class = iota + 1
	// Permanent failures are not retried; fallbacks and the on-failure route
	// take over (400, 401, a panic, a bad input).
	ClassPermanent
	// Contract failures are values that broke their contract: re-asked or
	// repaired where the step knows how, then fallbacks, then the route.
	ClassContract
	// NeedsReview failures go straight to a human.
	ClassNeedsReview
	// Cancelled means the context ended: the run stays resumable and is
	// never dead-lettered.
	ClassCancelled
	// Budget means a token, cost or attempt budget is spent.
	ClassBudget
	// Refusal means a model declined to answer or a content filter stopped
	// it. It is not retried; fallbacks may try another model and a step may
	// route it to review.
	ClassRefusal
)

var classNames = [...]string{"", "transient", "permanent", "contract", "needs_review", "cancelled", "budget", "refusal"}

// String returns the class's name as stores, span attributes and the CLI
// spell it: "transient", "permanent", "contract", "needs_review",
// "cancelled", "budget", "refusal".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass is the inverse of Class.String. It reports false for a name it
// does not know.
func ParseClass(s string) (Class, bool) {
	for i, n := range classNames {
		if i > 0 && n == s {
			return Class(i), true
		}
	}
	return 0, false
}

// Sentinels, one per class: errors.Is(err, retry.ErrTransient) holds for every
// error of that class, whether made here, by the contract package or by a
// model adapter.
var (
	ErrTransient   = errors.New("transient failure")
	ErrPermanent   = errors.New("permanent failure")
	ErrContract    = errors.New("contract violated")
	ErrNeedsReview = errors.New("needs human review")
	ErrCancelled   = errors.New("cancelled")
	ErrBudget      = errors.New("budget exceeded")
	ErrRefusal     = errors.New("model refused")
)

// Sentinel returns the sentinel error of a class, or nil for the zero class.
func (c Class) Sentinel() error {
	switch c {
	case ClassTransient:
		return ErrTransient
	case ClassPermanent:
		return ErrPermanent
	case ClassContract:
		return ErrContract
	case ClassNeedsReview:
		return ErrNeedsReview
	case ClassCancelled:
		return ErrCancelled
	case ClassBudget:
		return ErrBudget
	case ClassRefusal:
		return ErrRefusal
	}
	return nil
}

// Error is a classified error: the class that decides its path, the cause,
// and for transient errors the wait the server asked for.
type Error struct {
	Class Class
	Err   error
	// After is the wait the other side asked for (an HTTP Retry-After), zero
	// when it did not say.
	After time.Duration
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Class.String() + " failure"
	}
	return e.Class.String() + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's class.
func (e *Error) Is(target error) bool { return target != nil && target == e.Class.Sentinel() }

// RetryAfter returns the wait the other side asked for.
func (e *Error) RetryAfter() time.Duration { return e.After }

// Mark wraps err with class c. A nil err stays nil.
func Mark(c Class, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Err: err}
}

// Transient marks err as worth retrying with backoff.
func Transient(err error) error { return Mark(ClassTransient, err) }

// Permanent marks err as not worth retrying: fallbacks and the on-failure
// route take over at once.
func Permanent(err error) error { return Mark(ClassPermanent, err) }

// NeedsReview marks err as one a human must look at.
func NeedsReview(err error) error { return Mark(ClassNeedsReview, err) }

// Budget marks err as a spent token, cost or attempt budget.
func Budget(err error) error { return Mark(ClassBudget, err) }

// Refusal marks err as a model's refusal or a content filter's block.
func Refusal(err error) error { return Mark(ClassRefusal, err) }

// After marks err as transient with a wait the other side asked for, as an
// HTTP 429 or 503 with Retry-After does. The wait is honoured: the next
// attempt starts no sooner.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &Error{Class: ClassTransient, Err: err, After: d}
}

// retryAfterer is what an error from an HTTP client carries when the server
// said how long to wait.
type retryAfterer interface{ RetryAfter() time.Duration }

// Classify returns the class of err. The rules, first match wins:
//   - a *Error has its own class; so does anything whose Is matches a class
//     sentinel (a *contract.ValidationError is ClassContract);
//   - context.Canceled is ClassCancelled;
//   - anything else, a deadline, a network timeout or an unknown error, is
//     ClassTransient: retried within the policy's limits, then sent down the
//     on-failure route. Mark errors you know to be final with Permanent.
//
// The last rule is a default, not a verdict: Known tells an error whose
// class was stated or recognised (a network timeout) from one that was
// merely defaulted (errors.New("field x is malformed")), and only the
// former is waited out as an outage.
//
// Classify(nil) is the zero Class.
func Classify(err error) Class {
	if err == nil {
		return 0
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Class
	}
	for c := ClassTransient; c <= ClassRefusal; c++ {
		if errors.Is(err, c.Sentinel()) {
			return c
		}
	}
	if errors.Is(err, context.Canceled) {
		return ClassCancelled
	}
	return ClassTransient
}

// RetryAfter returns the wait err asks for, if any error in its chain has a
// RetryAfter() time.Duration method.
func RetryAfter(err error) time.Duration {
	var ra retryAfterer
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// IsTimeout reports whether err is a deadline, a network timeout or an
// attempt's *TimeoutError: anything in its chain whose Timeout() is true.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool } // a net.Error, a *TimeoutError
	return errors.As(err, &te) && te.Timeout()
}

// MarshalText encodes the class as its name, so records store "transient",
// not a number.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText decodes a class name; the empty string is the zero Class.
func (c *Class) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*c = 0
		return nil
	}
	v, ok := ParseClass(string(b))
	if !ok {
		return fmt.Errorf("retry: unknown error class %q", b)
	}
	*c = v
	return nil
}
