package step

import (
	"errors"
	"fmt"
	"slices"

	"github.com/plumb-dev/plumb/retry"
)

// Or returns a copy of s that, when s fails with a class other than
// cancelled, needs_review or budget, tries fallbacks in order: a cheaper
// model, a rule, a cached answer. Each fallback keeps its own policies;
// its failure route and review rule are those of s. Fallbacks given to
// earlier calls of Or come first. s itself is unchanged, so one step may
// be the start of several chains. A nil fallback, or one whose definition
// is wrong, is reported by the copy's Err.
func (s *Step[In, Out]) Or(fallbacks ...*Step[In, Out]) *Step[In, Out] {
	if s == nil {
		return &Step[In, Out]{err: errors.New("step: Or called on a nil step")}
	}
	c := &Step[In, Out]{name: s.name, fn: s.fn, cfg: s.cfg, retry: s.retry, reviewIf: s.reviewIf, in: s.in, out: s.out,
		spanName: s.spanName, selfRecording: s.selfRecording}
	c.fallbacks = append(slices.Clip(s.fallbacks), fallbacks...)
	errs := []error{s.err}
	for i, fb := range fallbacks {
		n := len(s.fallbacks) + i
		switch {
		case fb == nil:
			errs = append(errs, fmt.Errorf("step %q: fallback %d is nil", s.name, n))
		case fb.err != nil:
			errs = append(errs, fmt.Errorf("step %q: fallback %d: %w", s.name, n, fb.err))
		}
	}
	c.err = errors.Join(errs...)
	return c
}

// Fallbacks returns the names of the step's fallbacks, in order.
func (s *Step[In, Out]) Fallbacks() []string {
	names := make([]string, len(s.fallbacks))
	for i, fb := range s.fallbacks {
		if fb != nil {
			names[i] = fb.name
		}
	}
	return names
}

// unwrapStepError keeps a fallback's *Error from nesting inside the step's.
func unwrapStepError(err error) error {
	var se *Error
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// fallsBack says which failures a fallback may answer: not a cancelled run,
// not one a human must see, not a spent budget.
func fallsBack(c retry.Class) bool {
	return c != retry.ClassCancelled && c != retry.ClassNeedsReview && c != retry.ClassBudget
}
