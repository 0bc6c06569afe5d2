package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// The cases of a run cancelled while a worker holds it: it is marked, its
// worker hears of it at its next heartbeat, and it ends cancelled at the
// worker's next word for it (a release, a write) or at the claim that
// finds its worker dead.

// markedRun enqueues a run, claims it, checkpoints parse and has an
// operator cancel it; it returns the claim and when it was cancelled.
func (h *harness) markedRun(mods ...func(*store.NewRun)) (store.Claimed, time.Time) {
	h.t.Helper()
	r := h.enqueue(pipeA, mods...)
	c := h.claimRun(r.ID, pipeA)
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	h.clock.Advance(time.Second)
	at := h.clock.Now()
	got := h.cancel(r.ID, operator, why)
	assert.Equal(h.t, store.Running, got.Status, "a held run is only marked")
	h.clock.Advance(time.Second)
	return c, at
}

// A held run is marked: it stays running under its lease, a second
// cancellation keeps the first, a heartbeat keeps the lease and reports
// the run, so that its worker stops, and the release ends it cancelled.
func testCancelRunningMarks(t *testing.T, h *harness) {
	other := h.enqueue(pipeB)
	oc := h.claimRun(other.ID, pipeB)
	c, at := h.markedRun()
	id := c.Run.ID

	d := h.get(id)
	assert.Equal(t, store.Running, d.Run.Status)
	require.NotNil(t, d.Run.Cancel)
	assert.Equal(t, operator, d.Run.Cancel.By)
	assert.Equal(t, why, d.Run.Cancel.Reason)
	assert.True(t, d.Run.Cancel.At.Equal(at))
	assert.True(t, d.Run.UpdatedAt.Equal(at), "marking updates the run")
	assert.Equal(t, c.Lease, d.Run.Lease(), "the lease is the worker's still")
	assert.Empty(t, d.Run.Error)
	assert.True(t, d.Run.FinishedAt.IsZero())
	assert.NotEqual(t, store.Cancelled, d.Attempts[0].Status, "the attempt goes on")
	assert.True(t, d.Attempts[0].FinishedAt.IsZero(), "the attempt goes on")
	assert.Len(t, d.Steps, 1)

	again := h.cancel(id, "bob", "another reason")
	assert.Equal(t, store.Running, again.Status)
	require.NotNil(t, again.Cancel)
	assert.Equal(t, operator, again.Cancel.By, "the first cancellation stands")
	assert.Equal(t, why, h.get(id).Run.Cancel.Reason)
	assert.True(t, h.get(id).Run.Cancel.At.Equal(at))

	lost, err := h.s.Heartbeat(h.ctx, []store.Lease{oc.Lease, c.Lease}, lease)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, lost, "the heartbeat tells the worker to stop; the other run goes on")
	assert.True(t, h.get(id).Run.LeaseExpires.Equal(h.clock.Now().Add(lease)), "the lease is extended as usual")
	h.clock.Advance(lease - time.Second)
	assert.Empty(t, h.claim("w2", 10), "the lease it extended holds")
	assert.Equal(t, store.Running, h.status(id))

	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease, oc.Lease}))
	h.cancelledAs(id, store.Cancellation{By: operator, Reason: why, At: at}, "")
	assert.Len(t, h.get(id).Steps, 1, "the checkpoint stays")
	assert.Equal(t, store.Queued, h.status(other.ID), "an unmarked run is released as usual")
	got := h.claim("w2", 10)
	require.Len(t, got, 1)
	assert.Equal(t, other.ID, got[0].Run.ID, "the cancelled run is not queued again")
	lost, err = h.s.Heartbeat(h.ctx, []store.Lease{c.Lease}, lease)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, lost, "the ended run's lease is lost")
}

// A write for a marked run under its held lease is refused with
// ErrCancelled, and the run ends cancelled in that call: nothing of the
// write is kept. A lease no longer held is refused as before.
func testCancelRunningRefusesWrites(t *testing.T, h *harness) {
	done := rec(1, "classify", store.StepSucceeded, `{"label":"hot"}`)
	last := rec(2, "draft", store.StepSucceeded, `"Hi Ada"`)
	writes := map[string]func(c store.Claimed) error{
		"checkpoint": func(c store.Claimed) error { return h.s.Checkpoint(h.ctx, c.Lease, done) },
		"finish succeeded": func(c store.Claimed) error {
			return h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: json.RawMessage(`"Hi Ada"`)})
		},
		"finish deferred": func(c store.Claimed) error {
			return h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Queued, NotBefore: h.clock.Now().Add(time.Hour), Step: "classify", Error: "429"})
		},
		"finish awaiting review": func(c store.Claimed) error {
			return h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.AwaitingReview, Step: "classify",
				Review: &store.Review{Step: "classify", Index: 1, Reason: "low confidence"}})
		},
		"finish dead-lettered": func(c store.Claimed) error {
			return h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Step: "classify", Error: "boom"})
		},
		"fork": func(c store.Claimed) error {
			return h.s.Fork(h.ctx, c.Lease, store.Fork{Record: forkRec(), Children: branches(c.Run.ID, "sub", 2, false)})
		},
	}
	for what, write := range writes {
		c, at := h.markedRun(func(nr *store.NewRun) { nr.KeepPayloads = false })
		id := c.Run.ID
		forged := c.Lease
		forged.Token = "forged"
		assert.ErrorIs(t, h.s.Checkpoint(h.ctx, forged, done), store.ErrLeaseLost, "%s: the lease is checked first", what)
		assert.Equal(t, store.Running, h.status(id), "%s: a write under another lease changes nothing", what)

		err := write(c)
		assert.ErrorIs(t, err, store.ErrCancelled, what)
		assert.NotErrorIs(t, err, store.ErrLeaseLost, what)
		d := h.cancelledAs(id, store.Cancellation{By: operator, Reason: why, At: at}, "")
		assert.Len(t, d.Steps, 1, "%s: the refused write recorded nothing", what)
		assert.Nil(t, d.Run.Output, what)
		assert.Nil(t, d.Run.Review, what)
		assert.Nil(t, d.Run.Input, "%s: a run that keeps no payloads is scrubbed", what)
		assert.Nil(t, d.Steps[0].Output, "%s: its records are scrubbed", what)
		assert.Empty(t, h.list(store.RunFilter{Parent: id}), "%s: no branch was made", what)
		assert.Empty(t, h.branches(store.BranchQuery{Parent: id}), what)
		assert.ErrorIs(t, write(c), store.ErrLeaseLost, "%s: the run has ended; the lease is gone", what)
		assert.Equal(t, store.Cancelled, h.status(id), what)
	}
	assert.Empty(t, h.claim("w2", 10))
}

// A marked run whose worker died ends cancelled at the claim that finds
// its lease expired; the claim returns other runs in its place.
func testCancelRunningLeaseExpires(t *testing.T, h *harness) {
	c, at := h.markedRun()
	id := c.Run.ID
	next := h.enqueue(pipeA)
	h.clock.Advance(lease)

	got := h.claim("w2", 1, pipeA)
	require.Len(t, got, 1, "the claim goes on to the next runnable run")
	assert.Equal(t, next.ID, got[0].Run.ID, "the marked run is not claimed")
	h.cancelledAs(id, store.Cancellation{By: operator, Reason: why, At: at}, "")
	assert.Len(t, h.get(id).Steps, 1)

	lost, err := h.s.Heartbeat(h.ctx, []store.Lease{c.Lease}, lease)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, lost)
	assert.ErrorIs(t, h.s.Checkpoint(h.ctx, c.Lease, rec(1, "classify", store.StepSucceeded, `{}`)), store.ErrLeaseLost, "the dead worker's lease is gone")
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
	assert.Equal(t, store.Cancelled, h.status(id))
	h.clock.Advance(2 * lease)
	for _, c := range h.claim("w3", 10) {
		assert.NotEqual(t, id, c.Run.ID)
	}
}
