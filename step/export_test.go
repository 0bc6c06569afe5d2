package step

import "github.com/plumb-dev/plumb/retry"

// The review rule as a pipeline applies it, for the tests of package
// step_test (users never call it: a pipeline does).

func NeedsReview[In, Out any](s *Step[In, Out], out Out) (string, bool) { return s.needsReview(out) }

func ReviewsFailure[In, Out any](s *Step[In, Out], c retry.Class) bool { return s.reviewsFailure(c) }
