package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

func testEnqueueAndGet(t *testing.T, h *harness) {
	trig := step.Trigger{Source: "webhook:hubspot", ExternalID: "lead-77", ReceivedAt: Start.Add(-time.Minute)}
	r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.Trigger = trig; nr.TraceID = "4bf92f3577b34da6a3ce929d0e0e4736" })
	assert.Equal(t, store.Queued, r.Status)
	assert.Equal(t, 1, r.Attempt)
	assert.True(t, r.CreatedAt.Equal(Start), "created at the store clock's time")

	d := h.get(r.ID)
	assert.Equal(t, r.ID, d.Run.ID)
	assert.Equal(t, pipeA, d.Run.Pipeline)
	assert.Equal(t, store.Queued, d.Run.Status)
	assert.JSONEq(t, `{"n":1}`, string(d.Run.Input))
	assert.Equal(t, store.Hash([]byte(`{"n":1}`)), d.Run.InputHash)
	assert.Equal(t, len(`{"n":1}`), d.Run.InputSize)
	assert.Equal(t, trig.Source, d.Run.Trigger.Source)
	assert.Equal(t, trig.ExternalID, d.Run.Trigger.ExternalID)
	assert.True(t, trig.ReceivedAt.Equal(d.Run.Trigger.ReceivedAt))
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", d.Run.TraceID)
	assert.True(t, d.Run.KeepPayloads)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, 1, d.Attempts[0].Attempt)
	assert.Equal(t, "submitted", d.Attempts[0].Reason)
	assert.Empty(t, d.Steps)
}

func testEnqueueIdempotency(t *testing.T, h *harness) {
	first := h.enqueue(pipeA, func(nr *store.NewRun) { nr.IdempotencyKey = "lead-77" })
	again, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, Input: json.RawMessage(`{"n":99}`), IdempotencyKey: "lead-77"})
	require.NoError(t, err)
	assert.False(t, created, "a second submit with the same key is not a new run")
	assert.Equal(t, first.ID, again.ID)
	assert.JSONEq(t, `{"n":1}`, string(again.Input), "the first run's input stands")

	other, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeB, Input: json.RawMessage(`{}`), IdempotencyKey: "lead-77"})
	require.NoError(t, err)
	assert.True(t, created, "keys are scoped to a pipeline")
	assert.NotEqual(t, first.ID, other.ID)

	runsPage, err := h.s.ListRuns(h.ctx, store.RunFilter{Pipeline: pipeA})
	runs := runsPage.Runs
	require.NoError(t, err)
	assert.Len(t, runs, 1)
}

func testEnqueueRejects(t *testing.T, h *harness) {
	r := h.enqueue(pipeA)
	_, _, err := h.s.Enqueue(h.ctx, store.NewRun{ID: r.ID, Pipeline: pipeA, Input: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, store.ErrConflict, "a run id is never reused")
	_, _, err = h.s.Enqueue(h.ctx, store.NewRun{ID: "has space", Pipeline: pipeA})
	assert.Error(t, err)
	_, _, err = h.s.Enqueue(h.ctx, store.NewRun{ID: "ok-id", Pipeline: ""})
	assert.Error(t, err)
}

func testNotFound(t *testing.T, h *harness) {
	_, err := h.s.GetRun(h.ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: "nope"})
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.s.Decide(h.ctx, "nope", store.Decision{Approved: true, Reviewer: "ana"})
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.s.Pipeline(h.ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	err = h.s.Checkpoint(h.ctx, store.Lease{RunID: "nope", Token: "x"}, rec(0, "parse", store.StepSucceeded, `{}`))
	assert.True(t, errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLeaseLost), "got %v", err)
}

func testClaimOrder(t *testing.T, h *harness) {
	a1 := h.enqueue(pipeA)
	b1 := h.enqueue(pipeB)
	a2 := h.enqueue(pipeA)
	a3 := h.enqueue(pipeA)

	got := h.claim("w1", 2, pipeA)
	require.Len(t, got, 2)
	assert.Equal(t, a1.ID, got[0].Run.ID, "oldest first")
	assert.Equal(t, a2.ID, got[1].Run.ID)
	for _, c := range got {
		assert.Equal(t, store.Running, c.Run.Status)
		assert.Equal(t, "w1", c.Run.LeaseOwner)
		assert.NotEmpty(t, c.Lease.Token)
		assert.Equal(t, c.Run.ID, c.Lease.RunID)
		assert.Equal(t, 1, c.Lease.Attempt)
		assert.True(t, c.Run.LeaseExpires.Equal(h.clock.Now().Add(lease)))
		assert.JSONEq(t, string(h.get(c.Run.ID).Run.Input), string(c.Run.Input), "a claim carries the input")
	}
	assert.NotEqual(t, got[0].Lease.Token, got[1].Lease.Token)

	rest := h.claim("w2", 10)
	require.Len(t, rest, 2, "no filter claims every pipeline; held runs are not claimed again")
	ids := []string{rest[0].Run.ID, rest[1].Run.ID}
	assert.ElementsMatch(t, []string{b1.ID, a3.ID}, ids)
	assert.Empty(t, h.claim("w3", 10))
}

func testClaimNotBefore(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.NotBefore = Start.Add(time.Hour) })
	assert.Empty(t, h.claim("w1", 5))
	h.clock.Advance(time.Hour)
	got := h.claim("w1", 5)
	require.Len(t, got, 1)
	assert.Equal(t, r.ID, got[0].Run.ID)
}

func testLeaseFencing(t *testing.T, h *harness) {
	h.enqueue(pipeA)
	first := h.claimOne("w1")
	h.clock.Advance(lease - time.Second)
	assert.Empty(t, h.claim("w2", 5), "a live lease is not taken")
	h.clock.Advance(2 * time.Second)
	second := h.claimOne("w2")
	assert.Equal(t, first.Run.ID, second.Run.ID, "an expired lease is reclaimed")
	assert.NotEqual(t, first.Lease.Token, second.Lease.Token)
	assert.Equal(t, "w2", second.Run.LeaseOwner)

	err := h.s.Checkpoint(h.ctx, first.Lease, rec(0, "parse", store.StepSucceeded, `{"x":1}`))
	assert.ErrorIs(t, err, store.ErrLeaseLost, "the stalled worker cannot write")
	err = h.s.Finish(h.ctx, first.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"x"`)})
	assert.ErrorIs(t, err, store.ErrLeaseLost)
	h.checkpoint(second.Lease, 0, "parse", `{"x":2}`)
	d := h.get(first.Run.ID)
	require.Len(t, d.Steps, 1)
	assert.JSONEq(t, `{"x":2}`, string(d.Steps[0].Output))
}

func testHeartbeat(t *testing.T, h *harness) {
	h.enqueue(pipeA)
	h.enqueue(pipeA)
	c := h.claim("w1", 2)
	require.Len(t, c, 2)
	h.clock.Advance(20 * time.Second)
	lost, err := h.s.Heartbeat(h.ctx, []store.Lease{c[0].Lease, c[1].Lease}, lease)
	require.NoError(t, err)
	assert.Empty(t, lost)
	h.clock.Advance(20 * time.Second)
	assert.Empty(t, h.claim("w2", 5), "heartbeats keep leases alive")
	assert.True(t, h.get(c[0].Run.ID).Run.LeaseExpires.Equal(Start.Add(2*time.Millisecond+20*time.Second+lease)))

	h.clock.Advance(lease)
	stolen := h.claim("w2", 1)
	require.Len(t, stolen, 1)
	lost, err = h.s.Heartbeat(h.ctx, []store.Lease{c[0].Lease, c[1].Lease}, lease)
	require.NoError(t, err)
	assert.Equal(t, []string{stolen[0].Run.ID}, lost, "a heartbeat reports the lease it lost")
}

func testCheckpoints(t *testing.T, h *harness) {
	h.enqueue(pipeA)
	c := h.claimOne("w1")
	def := rec(1, "classify", store.StepDeferred, "")
	def.Error = "HTTP 503"
	require.NoError(t, h.s.Checkpoint(h.ctx, c.Lease, def))
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	h.checkpoint(c.Lease, 1, "classify", `{"label":"hot"}`)
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))

	again := h.claimOne("w2")
	require.Len(t, again.Checkpoints, 2, "one checkpoint per finished step, the last record counting")
	assert.Equal(t, 0, again.Checkpoints[0].Index)
	assert.Equal(t, "parse", again.Checkpoints[0].Step)
	assert.JSONEq(t, `{"name":"Ada"}`, string(again.Checkpoints[0].Output))
	assert.Equal(t, 1, again.Checkpoints[1].Index)
	assert.JSONEq(t, `{"label":"hot"}`, string(again.Checkpoints[1].Output))
	assert.Equal(t, 1, again.Checkpoints[1].RunAttempt)

	d := h.get(c.Run.ID)
	assert.Len(t, d.Steps, 3, "every record is kept in the history")
}

func testEnqueueClaimed(t *testing.T, h *harness) {
	r, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, Input: json.RawMessage(`{}`), ClaimFor: "inline", Lease: lease})
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, store.Running, r.Status)
	assert.Equal(t, "inline", r.LeaseOwner)
	require.NotEmpty(t, r.LeaseToken)
	assert.Empty(t, h.claim("w1", 5), "a run enqueued claimed is not handed to others")
	require.NoError(t, h.s.Finish(h.ctx, r.Lease(), store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`1`)}))
	assert.Equal(t, store.Succeeded, h.get(r.ID).Run.Status)
}
