package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The cancel cases: an operator's Cancel ends a run no worker holds at
// once, marks a held one for its worker to end, and refuses a run that
// has ended.

const (
	operator = "ops@example.com"
	why      = "duplicate lead"
)

func (h *harness) cancel(id, by, reason string) *store.Run {
	h.t.Helper()
	r, err := h.s.Cancel(h.ctx, store.CancelRequest{RunID: id, By: by, Reason: reason})
	require.NoError(h.t, err)
	require.NotNil(h.t, r)
	return r
}

// cancelledAs requires run id to have ended cancelled at the clock's
// time by c (asked at c.At), stopped at step, with its current attempt
// ended alike; it returns the run's detail.
func (h *harness) cancelledAs(id string, c store.Cancellation, step string) *store.RunDetail {
	h.t.Helper()
	t := h.t
	d := h.get(id)
	r := d.Run
	assert.Equal(t, store.Cancelled, r.Status, "run %s", id)
	if assert.NotNil(t, r.Cancel, "run %s records its cancellation", id) {
		assert.Equal(t, c.By, r.Cancel.By, "run %s", id)
		assert.Equal(t, c.Reason, r.Cancel.Reason, "run %s", id)
		assert.True(t, c.At.Equal(r.Cancel.At), "run %s: asked at %s, want %s", id, r.Cancel.At, c.At)
	}
	assert.Equal(t, storekit.CancelError(c), r.Error, "run %s", id)
	assert.Equal(t, retry.ClassCancelled, r.Class, "run %s", id)
	assert.Equal(t, step, r.Step, "run %s stopped where it was", id)
	assert.True(t, r.FinishedAt.Equal(h.clock.Now()), "run %s finished at %s, want %s", id, r.FinishedAt, h.clock.Now())
	assert.Empty(t, r.LeaseOwner, "run %s", id)
	assert.Empty(t, r.LeaseToken, "run %s", id)
	if assert.NotEmpty(t, d.Attempts, "run %s", id) {
		a := d.Attempts[len(d.Attempts)-1]
		assert.Equal(t, r.Attempt, a.Attempt, "run %s", id)
		assert.Equal(t, store.Cancelled, a.Status, "run %s: the attempt ended", id)
		assert.Equal(t, r.Error, a.Error, "run %s", id)
		assert.Equal(t, retry.ClassCancelled, a.Class, "run %s", id)
		assert.True(t, a.FinishedAt.Equal(r.FinishedAt), "run %s: the attempt finished at %s", id, a.FinishedAt)
	}
	return d
}

// A queued run ends cancelled at once, and is returned as the store left
// it; a run that keeps no payloads is scrubbed; a cancellation without a
// reason says who cancelled.
func testCancelQueued(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, func(nr *store.NewRun) {
		nr.KeepPayloads = false
		nr.Input = json.RawMessage(`{"email":"ada@example.com"}`)
	})
	h.clock.Advance(time.Minute)
	now := h.clock.Now()
	got := h.cancel(r.ID, operator, why)
	assert.Equal(t, store.Cancelled, got.Status, "the run as the store left it")
	require.NotNil(t, got.Cancel)
	assert.Equal(t, operator, got.Cancel.By)
	assert.True(t, got.UpdatedAt.Equal(now))

	c := store.Cancellation{By: operator, Reason: why, At: now}
	d := h.cancelledAs(r.ID, c, "")
	assert.Equal(t, "cancelled by "+operator+": "+why, d.Run.Error)
	assert.True(t, d.Run.UpdatedAt.Equal(now))
	assert.Nil(t, d.Run.Input, "a run that keeps no payloads is scrubbed once it ends")
	assert.Equal(t, store.Hash([]byte(`{"email":"ada@example.com"}`)), d.Run.InputHash)
	require.Len(t, d.Attempts, 1)
	assert.Nil(t, d.Attempts[0].Input)
	assert.Equal(t, 1, d.Run.Attempt, "a cancellation starts no attempt")
	assert.Empty(t, h.claim("w1", 10), "a cancelled run is not claimed")

	kept := h.enqueue(pipeA)
	h.cancel(kept.ID, operator, "")
	d = h.cancelledAs(kept.ID, store.Cancellation{By: operator, At: h.clock.Now()}, "")
	assert.Equal(t, "cancelled by "+operator, d.Run.Error, "without a reason")
	assert.JSONEq(t, `{"n":2}`, string(d.Run.Input), "a run that keeps its payloads keeps them")
}

// A deferred run (queued until NotBefore) is not held: it ends at once,
// at the step it waited at, and is never claimed when its time comes.
func testCancelDeferred(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.KeepPayloads = false })
	c := h.claimOne("w1")
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	d := rec(1, "classify", store.StepDeferred, "")
	d.Error, d.Class = "HTTP 503", retry.ClassTransient
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Queued, Record: &d, Step: "classify",
		Error: d.Error, Class: d.Class, NotBefore: h.clock.Now().Add(time.Hour)}))
	h.clock.Advance(time.Minute)

	h.cancel(r.ID, operator, why)
	got := h.cancelledAs(r.ID, store.Cancellation{By: operator, Reason: why, At: h.clock.Now()}, "classify")
	assert.Equal(t, 1, got.Run.Deferrals)
	for _, s := range got.Steps {
		assert.Nil(t, s.Input, "step %s is scrubbed", s.Step)
		assert.Nil(t, s.Output, "step %s is scrubbed", s.Step)
	}
	h.clock.Advance(2 * time.Hour)
	assert.Empty(t, h.claim("w2", 10), "its NotBefore passed, but it has ended")
	assert.Equal(t, store.Cancelled, h.status(r.ID))
}

// A run awaiting review ends at once; its review stays on the record, and
// can no longer be decided.
func testCancelAwaitingReview(t *testing.T, h *harness) {
	r, _ := h.awaitReview(`{"label":"warm"}`)
	h.clock.Advance(time.Hour)
	h.cancel(r.ID, operator, "lead withdrew")
	d := h.cancelledAs(r.ID, store.Cancellation{By: operator, Reason: "lead withdrew", At: h.clock.Now()}, "classify")
	require.NotNil(t, d.Run.Review, "the review stays on the record")
	assert.Nil(t, d.Run.Review.Decision)
	_, err := h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana"})
	assert.ErrorIs(t, err, store.ErrConflict, "a cancelled run's review is not decided")
	assert.Equal(t, store.Cancelled, h.status(r.ID))
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{Status: []store.Status{store.AwaitingReview}})
	require.NoError(t, err)
	assert.Empty(t, page.Runs, "it left the review queue")
}

// A waiting parent ends at once at its fork's step, and takes its
// children with it.
func testCancelWaitingParent(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 2, false)
	h.fork(p.Lease, 1, kids)
	require.Equal(t, []store.Status{store.Queued, store.Waiting}, h.statuses(p.Run.ID))

	h.cancel(p.Run.ID, operator, why)
	now := h.clock.Now()
	d := h.cancelledAs(p.Run.ID, store.Cancellation{By: operator, Reason: why, At: now}, forkStep)
	assert.Equal(t, 1, d.Run.Attempt)
	for _, k := range kids {
		h.cancelledAs(k.ID, store.Cancellation{By: "parent " + p.Run.ID, Reason: why, At: now}, "")
	}
	assert.Empty(t, h.claim("w2", 10), "nothing of the tree is claimable")
	assert.Equal(t, store.Cancelled, h.status(p.Run.ID), "its children's ends settle nothing")
}

// A branch run cancelled on its own is an end like any other: it frees
// its slot for a sibling, and the last one to end queues the parent.
func testCancelBranchRun(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "items", 3, true)
	h.fork(p.Lease, 1, kids)
	require.Equal(t, []store.Status{store.Queued, store.Waiting, store.Waiting}, h.statuses(p.Run.ID))

	h.cancel(kids[0].ID, operator, "")
	assert.Equal(t, []store.Status{store.Cancelled, store.Queued, store.Waiting}, h.statuses(p.Run.ID), "the freed slot goes to the next branch")
	h.cancel(kids[2].ID, operator, "")
	assert.Equal(t, []store.Status{store.Cancelled, store.Queued, store.Cancelled}, h.statuses(p.Run.ID), "a waiting branch holds no slot")
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
	h.cancel(kids[1].ID, operator, "")
	assert.Equal(t, store.Queued, h.status(p.Run.ID), "the last branch ended: the parent is queued to join, in the same call")
	h.claimRun(p.Run.ID, pipeA)
}

// A run that has ended is a *FinalError, and is left as it is; an unknown
// run is not found.
func testCancelFinal(t *testing.T, h *harness) {
	for _, status := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled} {
		r := h.enqueue(pipeA)
		h.finish(h.claimRun(r.ID, pipeA).Lease, status)
		before := h.get(r.ID).Run
		h.clock.Advance(time.Minute)

		got, err := h.s.Cancel(h.ctx, store.CancelRequest{RunID: r.ID, By: operator, Reason: why})
		assert.Nil(t, got)
		var fe *store.FinalError
		if assert.True(t, errors.As(err, &fe), "a %s run: %v", status, err) {
			assert.Equal(t, "cancel", fe.Op)
			assert.Equal(t, r.ID, fe.RunID)
		}
		assert.ErrorIs(t, err, store.ErrFinal)
		assert.ErrorIs(t, err, store.ErrConflict)
		after := h.get(r.ID).Run
		assert.Equal(t, status, after.Status)
		assert.Nil(t, after.Cancel, "a refused cancellation records nothing")
		assert.True(t, after.UpdatedAt.Equal(before.UpdatedAt))
		assert.Equal(t, before.Error, after.Error)
	}
	again := h.enqueue(pipeA)
	h.cancel(again.ID, operator, why)
	_, err := h.s.Cancel(h.ctx, store.CancelRequest{RunID: again.ID, By: "bob"})
	assert.ErrorIs(t, err, store.ErrFinal, "a run is cancelled once")
	assert.Equal(t, operator, h.get(again.ID).Run.Cancel.By)

	_, err = h.s.Cancel(h.ctx, store.CancelRequest{RunID: "no-such-run", By: operator})
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.NotErrorIs(t, err, store.ErrFinal)
}

// A replay of a cancelled run starts a new attempt without the
// cancellation, whichever way the run was cancelled.
func testReplayCancelled(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	held := h.enqueue(pipeA)
	c := h.claimRun(held.ID, pipeA)
	queued := h.enqueue(pipeA)
	h.cancel(queued.ID, operator, why)
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	h.cancel(held.ID, operator, why)
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
	require.Equal(t, store.Cancelled, h.status(held.ID))
	h.clock.Advance(time.Minute)

	for _, id := range []string{queued.ID, held.ID} {
		got, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: id})
		require.NoError(t, err, "run %s", id)
		assert.Equal(t, store.Queued, got.Status)
		assert.Nil(t, got.Cancel, "the replay clears the cancellation")
		d := h.get(id)
		assert.Equal(t, store.Queued, d.Run.Status)
		assert.Equal(t, 2, d.Run.Attempt)
		assert.Nil(t, d.Run.Cancel, "run %s: the replay clears the cancellation", id)
		assert.Empty(t, d.Run.Error)
		assert.Zero(t, d.Run.Class)
		assert.True(t, d.Run.FinishedAt.IsZero())
		require.Len(t, d.Attempts, 2)
		assert.Equal(t, store.Cancelled, d.Attempts[0].Status, "the cancelled attempt stays in the history")
	}
	rc := h.claimRun(held.ID, pipeA)
	require.Len(t, rc.Checkpoints, 1, "replayed after the checkpoint it had")
	lost, err := h.s.Heartbeat(h.ctx, []store.Lease{rc.Lease}, lease)
	require.NoError(t, err)
	assert.Empty(t, lost, "the new attempt is not cancelled")
	h.checkpoint(rc.Lease, 1, "classify", `{"label":"hot"}`)
	h.finish(rc.Lease, store.Succeeded)
	assert.Equal(t, store.Succeeded, h.status(held.ID))
}
