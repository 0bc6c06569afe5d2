package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

func testFinishSucceeded(t *testing.T, h *harness) {
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	h.checkpoint(c.Lease, 1, "classify", `{"label":"hot"}`)
	h.clock.Advance(time.Second)
	last := rec(2, "draft", store.StepSucceeded, `"Hi Ada"`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: json.RawMessage(`"Hi Ada"`)}))

	d := h.get(r.ID)
	assert.Equal(t, store.Succeeded, d.Run.Status)
	assert.JSONEq(t, `"Hi Ada"`, string(d.Run.Output))
	assert.True(t, d.Run.FinishedAt.Equal(h.clock.Now()))
	assert.Empty(t, d.Run.LeaseOwner)
	assert.Empty(t, d.Run.LeaseToken)
	require.Len(t, d.Steps, 3)
	assert.Equal(t, "draft", d.Steps[2].Step)
	assert.Equal(t, 1, d.Steps[2].RunAttempt)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, store.Succeeded, d.Attempts[0].Status)
	assert.False(t, d.Attempts[0].FinishedAt.IsZero())
}

func testFinalIsFinal(t *testing.T, h *harness) {
	for _, status := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled} {
		r := h.enqueue(pipeA)
		c := h.claimOne("w1")
		require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: status, Step: "parse", Error: "x", Class: retry.ClassPermanent}))
		for _, other := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled, store.Queued} {
			err := h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: other})
			assert.ErrorIs(t, err, store.ErrLeaseLost, "%s must not become %s", status, other)
		}
		assert.ErrorIs(t, h.s.Checkpoint(h.ctx, c.Lease, rec(0, "parse", store.StepSucceeded, `{}`)), store.ErrLeaseLost)
		require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
		h.clock.Advance(2 * lease)
		assert.Empty(t, h.claim("w2", 5), "a final run is never claimed")
		assert.Equal(t, status, h.get(r.ID).Run.Status)
	}
}

func testDefer(t *testing.T, h *harness) {
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	d := rec(0, "parse", store.StepDeferred, "")
	d.Error, d.Class = "HTTP 429: retry after 10m", retry.ClassTransient
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{
		Status: store.Queued, Record: &d, NotBefore: h.clock.Now().Add(10 * time.Minute),
		Step: "parse", Error: d.Error, Class: retry.ClassTransient,
	}))
	got := h.get(r.ID)
	assert.Equal(t, store.Queued, got.Run.Status)
	assert.Equal(t, 1, got.Run.Deferrals)
	assert.Empty(t, got.Run.LeaseToken)
	assert.True(t, got.Run.FinishedAt.IsZero(), "a deferral does not end the attempt")
	assert.Empty(t, h.claim("w2", 5), "held back until NotBefore")
	h.clock.Advance(10 * time.Minute)
	again := h.claimOne("w2")
	assert.Equal(t, r.ID, again.Run.ID)
	assert.Equal(t, 1, again.Run.Deferrals)
	assert.Empty(t, again.Checkpoints, "deferred records are not checkpoints")
}

func testRelease(t *testing.T, h *harness) {
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
	got := h.get(r.ID).Run
	assert.Equal(t, store.Queued, got.Status)
	assert.Empty(t, got.LeaseOwner)
	again := h.claimOne("w2")
	assert.Equal(t, r.ID, again.Run.ID, "a released run is claimable at once")
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}), "releasing a lost lease is harmless")
	assert.Equal(t, store.Running, h.get(r.ID).Run.Status)
}

// awaitReview takes a run through parse and parks it at classify.
func (h *harness) awaitReview(proposed string) (store.Run, store.Claimed) {
	h.t.Helper()
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	rv := &store.Review{Step: "classify", Index: 1, Reason: "confidence 0.41 < 0.7",
		Input: json.RawMessage(`{"name":"Ada"}`), OutputSchema: def.Steps[1].OutputSchema,
		Deadline: h.clock.Now().Add(4 * time.Hour)}
	if proposed != "" {
		rv.Proposed = json.RawMessage(proposed)
	}
	pending := rec(1, "classify", store.StepReview, proposed)
	require.NoError(h.t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.AwaitingReview, Record: &pending, Step: "classify", Review: rv}))
	return r, c
}

func testReviewApprove(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm","confidence":0.41}`)
	got := h.get(r.ID).Run
	assert.Equal(t, store.AwaitingReview, got.Status)
	require.NotNil(t, got.Review)
	assert.Equal(t, "classify", got.Review.Step)
	assert.Equal(t, "confidence 0.41 < 0.7", got.Review.Reason)
	assert.JSONEq(t, string(def.Steps[1].OutputSchema), string(got.Review.OutputSchema))
	assert.True(t, got.Review.CreatedAt.Equal(h.clock.Now()))
	assert.Empty(t, h.claim("w2", 5), "a run awaiting review is not claimed")

	reviewsPage, err := h.s.ListRuns(h.ctx, store.RunFilter{Status: []store.Status{store.AwaitingReview}})
	reviews := reviewsPage.Runs
	require.NoError(t, err)
	require.Len(t, reviews, 1)

	h.clock.Advance(time.Hour)
	after, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana@example.com"})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, after.Status)
	require.NotNil(t, after.Review.Decision)
	assert.Equal(t, "ana@example.com", after.Review.Decision.Reviewer)
	assert.True(t, after.Review.Decision.At.Equal(h.clock.Now()))
	assert.False(t, after.Review.Decision.Edited)

	c := h.claimOne("w2")
	require.Len(t, c.Checkpoints, 2, "the approved output is the reviewed step's checkpoint")
	assert.JSONEq(t, `{"label":"warm","confidence":0.41}`, string(c.Checkpoints[1].Output))
	assert.Equal(t, "review:ana@example.com", c.Checkpoints[1].By)
	assert.Equal(t, 1, c.Run.Attempt, "approval resumes the same attempt")

	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "bob"})
	assert.ErrorIs(t, err, store.ErrConflict, "a review is decided once")
}

func testReviewApproveEdited(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	_, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true})
	assert.Error(t, err, "a decision names its reviewer")
	after, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana", Output: json.RawMessage(`{"label":"hot"}`)})
	require.NoError(t, err)
	assert.True(t, after.Review.Decision.Edited)
	c := h.claimOne("w2")
	assert.JSONEq(t, `{"label":"hot"}`, string(c.Checkpoints[1].Output))
	d := h.get(r.ID)
	last := d.Steps[len(d.Steps)-1]
	assert.Contains(t, last.Note, "edited and approved by ana")

	r2, _ := h.awaitReview("")
	_, err = h.s.Decide(h.ctx, r2.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana"})
	assert.ErrorIs(t, err, store.ErrConflict, "nothing proposed: an approval must supply the output")
}

func testReviewReject(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	after, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: false, Reviewer: "ana", Reason: "spam lead"})
	require.NoError(t, err)
	assert.Equal(t, store.DeadLettered, after.Status)
	assert.Equal(t, retry.ClassNeedsReview, after.Class)
	assert.Equal(t, "classify", after.Step)
	assert.Contains(t, after.Error, "rejected by ana: spam lead")
	d := h.get(r.ID)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.False(t, d.Run.FinishedAt.IsZero())
	assert.Equal(t, "ana", d.Run.Review.Decision.Reviewer)
	assert.False(t, d.Run.Review.Decision.Approved)
	assert.Empty(t, h.claim("w2", 5))
}

func testReviewEscalate(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	require.NoError(t, h.s.EscalateReview(h.ctx, r.ID))
	assert.ErrorIs(t, h.s.EscalateReview(h.ctx, r.ID), store.ErrConflict, "only one worker reports an overdue review")
	assert.True(t, h.get(r.ID).Run.Review.Escalated)
	other := h.enqueue(pipeA)
	assert.ErrorIs(t, h.s.EscalateReview(h.ctx, other.ID), store.ErrConflict)
}

func testReplayFromFailed(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	h.deadLetter(c)
	dl := h.get(r.ID)
	assert.Equal(t, store.DeadLettered, dl.Run.Status)
	assert.Equal(t, "classify", dl.Run.Step)
	assert.Equal(t, retry.ClassContract, dl.Run.Class)

	h.clock.Advance(time.Minute)
	after, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, after.Status)
	assert.Equal(t, 2, after.Attempt)
	assert.Empty(t, after.Error)
	assert.Zero(t, after.Class)

	d := h.get(r.ID)
	require.Len(t, d.Attempts, 2, "the first attempt's history is kept")
	assert.Equal(t, store.DeadLettered, d.Attempts[0].Status)
	assert.Equal(t, "classify", d.Attempts[0].Step)
	assert.Equal(t, "replay from classify", d.Attempts[1].Reason)
	var first []store.StepRecord
	for _, s := range d.Steps {
		if s.RunAttempt == 1 {
			first = append(first, s)
		}
	}
	require.Len(t, first, 2, "attempt 1's step records are not overwritten")
	assert.Equal(t, store.StepFailed, first[1].Status)

	c2 := h.claimOne("w2")
	assert.Equal(t, 2, c2.Lease.Attempt)
	require.Len(t, c2.Checkpoints, 1, "finished steps are reused, not redone")
	assert.Equal(t, store.StepReused, c2.Checkpoints[0].Status)
	assert.JSONEq(t, `{"name":"Ada"}`, string(c2.Checkpoints[0].Output))
	assert.Equal(t, 2, c2.Checkpoints[0].RunAttempt)
}

func testReplayPatch(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	r := h.enqueue(pipeA)
	h.deadLetter(h.claimOne("w1"))
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID, Input: json.RawMessage(`{"name":"Ada Lovelace"}`)})
	require.NoError(t, err)
	c := h.claimOne("w2")
	require.Len(t, c.Checkpoints, 1)
	assert.Equal(t, store.StepPatched, c.Checkpoints[0].Status)
	assert.JSONEq(t, `{"name":"Ada Lovelace"}`, string(c.Checkpoints[0].Output), "a patch replaces the failed step's input")
	assert.Contains(t, h.get(r.ID).Attempts[1].Reason, "patched")

	// From the first step, the patch replaces the run's input.
	r2 := h.enqueue(pipeA)
	h.deadLetter(h.claimOne("w1"))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: r2.ID, From: "parse", Input: json.RawMessage(`{"n":42}`)})
	require.NoError(t, err)
	c2 := h.claimOne("w2")
	assert.Empty(t, c2.Checkpoints)
	assert.JSONEq(t, `{"n":42}`, string(c2.Run.Input))
	d := h.get(r2.ID)
	assert.JSONEq(t, `{"n":2}`, string(d.Attempts[0].Input), "the original input stays in the history")
}

func testReplayRefusals(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	queued := h.enqueue(pipeA)
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: queued.ID})
	assert.ErrorIs(t, err, store.ErrConflict, "a live run is not replayed")

	c := h.claimOne("w1")
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"ok"`)}))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: queued.ID})
	assert.ErrorIs(t, err, store.ErrConflict, "a succeeded run is final")

	dead := h.enqueue(pipeA)
	h.deadLetter(h.claimOne("w1"))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: dead.ID, From: "no-such-step"})
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: dead.ID, From: "draft"})
	assert.ErrorIs(t, err, store.ErrConflict, "the step before draft never finished")
	assert.Equal(t, store.DeadLettered, h.get(dead.ID).Run.Status, "a refused replay changes nothing")
}

func testPayloadsNotKept(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.KeepPayloads = false; nr.Input = json.RawMessage(`{"ssn":"078-05-1120"}`) })
	c := h.claimOne("w1")
	assert.JSONEq(t, `{"ssn":"078-05-1120"}`, string(c.Run.Input), "payloads are kept while the run is live")
	h.deadLetter(c)

	d := h.get(r.ID)
	assert.Nil(t, d.Run.Input, "once the run ends, only hashes and sizes remain")
	assert.Equal(t, store.Hash([]byte(`{"ssn":"078-05-1120"}`)), d.Run.InputHash)
	assert.Equal(t, len(`{"ssn":"078-05-1120"}`), d.Run.InputSize)
	for _, s := range d.Steps {
		assert.Nil(t, s.Output, "step %s", s.Step)
		assert.Nil(t, s.Input, "step %s", s.Step)
	}
	assert.NotEmpty(t, d.Steps[0].OutputHash)
	for _, a := range d.Attempts {
		assert.Nil(t, a.Input)
	}

	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID})
	assert.ErrorIs(t, err, store.ErrNeedsInput, "replay says it needs a new input")
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID, Input: json.RawMessage(`{"name":"Ada"}`)})
	require.NoError(t, err)
}
