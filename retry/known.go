package retry

import (
	"context"
	"io"
	"syscall"
)

// ClassKnower is implemented by an error whose Is answers for a class it
// took from the errors it wraps (step.Error does). Known asks it whether
// that class was stated or defaulted, instead of believing its Is.
type ClassKnower interface {
	ClassKnown() bool
}

// Known reports whether err's class was stated or recognised, rather than
// defaulted by Classify's last rule. It walks the chain, outermost first,
// and the first error that tells wins:
//   - a *Error (Transient, Permanent, After, ...) or anything whose Is
//     matches a class sentinel (a model adapter's error, a contract
//     violation);
//   - a ClassKnower, which says for itself;
//   - a context error (Canceled, DeadlineExceeded);
//   - a timeout (a net.Error or *TimeoutError whose Timeout is true), a reset,
//     refused or aborted connection, a broken pipe, ETIMEDOUT;
//   - io.ErrUnexpectedEOF: a connection cut in the middle of an answer;
//   - an error with a RetryAfter() time.Duration method: the other side said
//     when to come back.
//
// Anything else (errors.New("field x is malformed"), io.EOF) is
// unclassified. Classify still calls it transient, so the step's retry
// policy retries it, but nothing says it will pass: it is not waited out in
// the queue, and a step that gives up on it reports it as permanent.
// Known(nil) is false.
func Known(err error) bool {
	known, _ := knownIn(err)
	return known
}

// knownIn walks err's chain depth first, as errors.Is does; told is false
// when nothing in it said anything.
func knownIn(err error) (known, told bool) {
	for err != nil {
		if k, ok := node(err); ok {
			return k, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if k, t := knownIn(e); t {
					return k, true
				}
			}
			return false, false
		default:
			return false, false
		}
	}
	return false, false
}

// node says what one error of a chain, on its own, tells of the class.
func node(err error) (known, told bool) {
	switch e := err.(type) {
	case *Error:
		return e.Class != 0, true
	case ClassKnower:
		return e.ClassKnown(), true
	case syscall.Errno:
		switch e {
		case syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE, syscall.ETIMEDOUT:
			return true, true
		}
		return false, false
	case interface{ Timeout() bool }: // a net.Error, a *TimeoutError
		if e.Timeout() {
			return true, true
		}
	case retryAfterer:
		return true, true
	}
	switch err {
	case context.Canceled, context.DeadlineExceeded, io.ErrUnexpectedEOF:
		return true, true
	}
	if x, ok := err.(interface{ Is(error) bool }); ok {
		for c := ClassTransient; c <= ClassRefusal; c++ {
			if x.Is(c.Sentinel()) {
				return true, true
			}
		}
	}
	for c := ClassTransient; c <= ClassRefusal; c++ {
		if err == c.Sentinel() {
			return true, true
		}
	}
	return false, false
}
