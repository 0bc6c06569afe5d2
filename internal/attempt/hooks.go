package attempt

import (
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Plumbing is what a step's builder knows about it beyond its
// step.Config.
type Plumbing struct {
	// SelfRecording says the function makes and records its own attempts
	// (Record): a model step's calls, retries, re-asks and fallback
	// models. The step calls it once, with no retries of its own, and
	// keeps what it recorded.
	SelfRecording bool
	// Err is a problem with the definition the builder found (a nil
	// model): the step's Err reports it, and a pipeline refuses to run.
	Err error
}

// Hooks are set by package step in its init.
var Hooks struct {
	// Plumb applies p to s, a *step.Step that nothing has run yet.
	Plumb func(s any, p Plumbing)
	// CheckedRun returns, for a *step.Step[In, Out], a
	// func(context.Context, In, bool) (step.Result[Out], error) that runs
	// it, skipping the input contract when the bool says the input was
	// checked already.
	CheckedRun func(s any) any
	// Review returns the review rule of s, a *step.Step, as a pipeline
	// applies it.
	Review func(s any) Review
}

// Review is a step's review rule as a pipeline applies it: whether an
// output needs a person (Needs takes the step's Out), whether a failure of
// a class goes to one, and the deadline and its default (a
// step.ReviewDefault).
type Review struct {
	Needs    func(out any) (reason string, needed bool)
	Failure  func(c retry.Class) bool
	Deadline time.Duration
	Default  uint8
}

// ReviewOf returns the review rule of s, a *step.Step.
func ReviewOf(s any) Review { return Hooks.Review(s) }

// Plumb applies p to s, a *step.Step just made by step.New, and returns s.
func Plumb[S any](s S, p Plumbing) S {
	Hooks.Plumb(s, p)
	return s
}

// CheckedRun returns the checked-run function of s (see Hooks.CheckedRun)
// as F, or the zero F when s has none of that type.
func CheckedRun[F any](s any) F {
	f, _ := Hooks.CheckedRun(s).(F)
	return f
}
