package step

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/plumb-dev/plumb/retry"
)

// ErrPanic matches a *PanicError.
var ErrPanic = errors.New("panic in step function")

// ErrAbandoned is inside the *retry.TimeoutError of an attempt that ended
// at its timeout while the function, ignoring its context, was still
// running: the call was abandoned, and may still cause side effects.
var ErrAbandoned = errors.New("the function had not returned: its call was abandoned and its result will be discarded")

// Error is a step that failed for good: its retries and fallbacks are spent
// or its failure's class allows none. It keeps every attempt.
type Error struct {
	// Step is the step that failed (a fallback's failure is reported under
	// the step it stood in for).
	Step string
	// Class is the class of the failure that decided the outcome.
	Class retry.Class
	// Unclassified says the failure that decided the outcome had no class
	// of its own (retry.Known is false). The step retried it as transient
	// and then gave up on it as permanent: nothing said waiting would help.
	Unclassified bool
	// Attempts is every attempt, of the step and of its fallbacks, in order.
	Attempts []Attempt
	// Err is the last error.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("step ")
	b.WriteString(strconv.Quote(e.Step))
	b.WriteString(" failed (")
	b.WriteString(e.Class.String())
	b.WriteString(")")
	if n := len(e.Attempts); n > 0 {
		fmt.Fprintf(&b, " after %d attempt", n)
		if n > 1 {
			b.WriteByte('s')
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the last error.
func (e *Error) Unwrap() error { return e.Err }

// Is matches the sentinel of the failure's class in package retry:
// errors.Is(err, retry.ErrContract) holds for a contract failure.
func (e *Error) Is(target error) bool { return target != nil && target == e.Class.Sentinel() }

// ClassKnown reports whether the class was stated rather than given to an
// unclassified failure, so that retry.Known sees through Is.
func (e *Error) ClassKnown() bool { return !e.Unclassified }

var _ retry.ClassKnower = (*Error)(nil)

// PanicError is a panic inside a step function, caught. It is permanent:
// the same input would panic again.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Is matches ErrPanic and retry.ErrPermanent.
func (e *PanicError) Is(target error) bool {
	return target == ErrPanic || target == retry.ErrPermanent
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func newPanicError(v any) *PanicError { return &PanicError{Value: v, Stack: debug.Stack()} }
