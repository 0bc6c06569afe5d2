package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// firstReview is the ref of the review awaitReview opens: attempt 1, the
// classify step.
var firstReview = store.ReviewRef{Attempt: 1, Index: 1}

// A decision lands only on the review it was made for: one held open while
// another decision resumed the run and the run opened its next review is
// refused, and the new review is untouched.
func testReviewStale(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	seen := h.get(r.ID).Run.ReviewRef()
	require.Equal(t, firstReview, seen)

	_, err := h.s.Decide(h.ctx, r.ID, store.Decision{Approved: true, Reviewer: "ana"})
	assert.ErrorIs(t, err, store.ErrConflict, "a decision names the review it decides")

	// Another reviewer decides first; the run resumes and opens the next
	// review, at draft.
	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: seen, Approved: true, Reviewer: "bob"})
	require.NoError(t, err)
	c := h.claimOne("w2")
	next := rec(2, "draft", store.StepReview, `"Hi"`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.AwaitingReview, Record: &next, Step: "draft",
		Review: &store.Review{Step: "draft", Index: 2, Reason: "tone", Proposed: json.RawMessage(`"Hi"`)}}))

	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: seen, Approved: true, Reviewer: "ana",
		Output: json.RawMessage(`{"label":"hot"}`)})
	require.ErrorIs(t, err, store.ErrStaleReview)
	assert.ErrorIs(t, err, store.ErrConflict)
	var se *store.StaleReviewError
	require.True(t, errors.As(err, &se))
	assert.Equal(t, seen, se.Decided)
	assert.Equal(t, store.ReviewRef{Attempt: 1, Index: 2}, se.Current)

	got := h.get(r.ID)
	assert.Equal(t, store.AwaitingReview, got.Run.Status)
	require.NotNil(t, got.Run.Review)
	assert.Equal(t, "draft", got.Run.Review.Step)
	assert.Nil(t, got.Run.Review.Decision, "the stale decision did not land on the new review")
	assert.Equal(t, store.StepReview, got.Steps[len(got.Steps)-1].Status, "nor was anything recorded")

	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: got.Run.ReviewRef(), Approved: true, Reviewer: "ana"})
	require.NoError(t, err)
	c = h.claimOne("w2")
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"Hi"`)}))

	// A replay starts a new attempt without a review: a decision held from
	// before is stale too.
	dead, _ := h.awaitReview(`{"label":"warm"}`)
	_, err = h.s.Decide(h.ctx, dead.ID, store.Decision{Review: firstReview, Reviewer: "ana", Reason: "spam"})
	require.NoError(t, err)
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: dead.ID})
	require.NoError(t, err)
	_, err = h.s.Decide(h.ctx, dead.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "bob"})
	assert.ErrorIs(t, err, store.ErrStaleReview)
	assert.Equal(t, store.Queued, h.get(dead.ID).Run.Status)
}

// ErrFinal is what its doc says: a decided review, and a succeeded run's
// replay, are final.
func testFinalErrors(t *testing.T, h *harness) {
	done := h.enqueue(pipeA)
	c := h.claimOne("w3")
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"ok"`)}))
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: done.ID})
	assert.ErrorIs(t, err, store.ErrFinal, "a succeeded run is final")
	assert.ErrorIs(t, err, store.ErrConflict)

	r, _ := h.awaitReview(`{"label":"warm"}`)
	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Reviewer: "ana", Reason: "spam"})
	require.NoError(t, err)
	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "bob"})
	assert.ErrorIs(t, err, store.ErrFinal, "a rejected review is decided")
	assert.ErrorIs(t, err, store.ErrConflict)

	a, _ := h.awaitReview(`{"label":"warm"}`)
	_, err = h.s.Decide(h.ctx, a.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana"})
	require.NoError(t, err)
	_, err = h.s.Decide(h.ctx, a.ID, store.Decision{Review: firstReview, Reviewer: "bob", Reason: "late"})
	assert.ErrorIs(t, err, store.ErrFinal, "an approved review is decided")
	assert.Equal(t, store.Queued, h.get(a.ID).Run.Status)
}

// A run awaiting review has ended its attempt (until a decision): the run
// and the attempt say when; an approval makes them live again.
func testReviewFinishedAt(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	parked := h.clock.Now()
	d := h.get(r.ID)
	assert.True(t, d.Run.FinishedAt.Equal(parked), "run finished at %v, want %v", d.Run.FinishedAt, parked)
	assert.True(t, d.Attempts[0].FinishedAt.Equal(parked), "attempt finished at %v, want %v", d.Attempts[0].FinishedAt, parked)

	h.clock.Advance(time.Minute)
	after, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana"})
	require.NoError(t, err)
	assert.True(t, after.FinishedAt.IsZero(), "an approved run is live again")
	d = h.get(r.ID)
	assert.True(t, d.Run.FinishedAt.IsZero())
	assert.True(t, d.Attempts[0].FinishedAt.IsZero())
}
