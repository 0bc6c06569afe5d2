package step

import (
	"github.com/plumb-dev/plumb/internal/attempt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// ReviewRule sends a step's output, or its failure, to a person instead of
// passing it on. A run under review waits in the store (awaiting_review)
// until someone approves (with the proposed output or an edit) or rejects.
type ReviewRule struct {
	// If, when not nil, is a func(out Out) (reason string, needed bool)
	// for the step's output type Out: it returns a reason when an output
	// needs a person, such as a confidence below 0.7. For a step whose
	// output is a Label:
	//
	//	If: func(l Label) (string, bool) { return "low confidence", l.Confidence < 0.7 },
	//
	// New checks its type once, so running costs nothing more than the
	// call; a func of any other type (another output type, a named func
	// type) is a build error that the step's Err names.
	If any
	// Always sends every output to a person: an approval gate before an
	// irreversible step (publishing, sending).
	Always bool
	// OnClasses sends failures of these classes to a person, with no
	// proposed output, instead of the failure route: say, a contract
	// failure after every re-ask, or a model's refusal.
	OnClasses []retry.Class
	// Deadline is how long a review may wait before it escalates with a
	// notification. Zero means no deadline.
	Deadline time.Duration
	// OnDeadline, when not NoDefault, is the decision taken at the deadline.
	OnDeadline ReviewDefault
}

// ReviewDefault is what happens to a review nobody decided in time.
type ReviewDefault uint8

// Review defaults.
const (
	// NoDefault escalates and keeps waiting.
	NoDefault ReviewDefault = iota
	// ApproveProposal approves the proposed output.
	ApproveProposal
	// RejectAtDeadline rejects, dead-lettering the run.
	RejectAtDeadline
)

// needsReview reports whether out needs a person, and why.
func (s *Step[In, Out]) needsReview(out Out) (reason string, needed bool) {
	r := s.cfg.Review
	if s.reviewIf != nil {
		if reason, ok := s.reviewIf(out); ok {
			if reason == "" {
				reason = "flagged for review"
			}
			return reason, true
		}
	}
	if r.Always {
		return "approval required before " + s.name + "'s output is used", true
	}
	return "", false
}

// reviewsFailure reports whether failures of class c go to a person.
func (s *Step[In, Out]) reviewsFailure(c retry.Class) bool {
	return slices.Contains(s.cfg.Review.OnClasses, c) || s.cfg.OnFailure == Review && c != retry.ClassCancelled
}

// review is the step's review rule as a pipeline applies it.
func (s *Step[In, Out]) review() attempt.Review {
	return attempt.Review{
		Needs:    func(out any) (string, bool) { return s.needsReview(out.(Out)) },
		Failure:  s.reviewsFailure,
		Deadline: s.cfg.Review.Deadline,
		Default:  uint8(s.cfg.Review.OnDeadline),
	}
}
