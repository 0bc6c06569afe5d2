package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ReviewRef names one review of a run: the run attempt it was opened in
// and the index of the step it reviews. An attempt reviews a step at most
// once (an approval resumes after it; a rejection ends the attempt), so a
// ref never names two reviews of a run, and records written before refs
// existed have one too.
type ReviewRef struct {
	Attempt int `json:"attempt"`
	Index   int `json:"index"`
}

// IsZero reports whether the ref names no review (attempts count from 1).
func (r ReviewRef) IsZero() bool { return r.Attempt == 0 }

// String is the ref as the review inbox's form and the CLI carry it:
// "attempt.index", e.g. "2.1".
func (r ReviewRef) String() string { return strconv.Itoa(r.Attempt) + "." + strconv.Itoa(r.Index) }

// ParseReviewRef reads a ref written by ReviewRef.String.
func ParseReviewRef(s string) (ReviewRef, error) {
	a, i, ok := strings.Cut(s, ".")
	attempt, err1 := strconv.Atoi(a)
	index, err2 := strconv.Atoi(i)
	if !ok || err1 != nil || err2 != nil || attempt < 1 || index < 0 {
		return ReviewRef{}, fmt.Errorf("review %q is not attempt.index (e.g. 1.0)", s)
	}
	return ReviewRef{Attempt: attempt, Index: index}, nil
}

// ReviewRef returns the ref of the run's review (pending or decided), or
// the zero ref when it has none.
func (r *Run) ReviewRef() ReviewRef {
	if r.Review == nil {
		return ReviewRef{}
	}
	return ReviewRef{Attempt: r.Attempt, Index: r.Review.Index}
}

// ErrStaleReview: a decision names a review that is no longer the run's
// current one (another decision came first and the run moved on). It also
// matches ErrConflict.
var ErrStaleReview = errors.New("stale review")

// StaleReviewError is the error of a decision on a review that is not the
// run's current one. Current is the zero ref when the run has no review.
type StaleReviewError struct {
	RunID   string
	Decided ReviewRef
	Current ReviewRef
}

func (e *StaleReviewError) Error() string {
	cur := "none"
	if !e.Current.IsZero() {
		cur = e.Current.String()
	}
	return fmt.Sprintf("decide run %s: the decision is for review %s, but the run's review is %s", e.RunID, e.Decided, cur)
}

// Is matches ErrStaleReview and ErrConflict.
func (e *StaleReviewError) Is(target error) bool {
	return target == ErrStaleReview || target == ErrConflict
}

// FinalError says that an operation would change a run, or a review, that
// is final: replaying a succeeded run, deciding a decided review. It
// matches ErrFinal and ErrConflict, so that callers that answer every
// conflict alike keep doing so.
type FinalError struct {
	// Op is the operation refused: "replay", "decide".
	Op     string
	RunID  string
	Reason string
}

func (e *FinalError) Error() string { return e.Op + " run " + e.RunID + ": " + e.Reason }

// Is matches ErrFinal and ErrConflict.
func (e *FinalError) Is(target error) bool { return target == ErrFinal || target == ErrConflict }
