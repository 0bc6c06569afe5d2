package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// refused is the dead letter a webhook intake imports for a delivery it
// refused: a run with the delivery's idempotency key.
func refused(id, pipeline, key string) store.RunDetail {
	in := json.RawMessage(`{"email":"not an address"}`)
	return store.RunDetail{
		Run: store.Run{ID: id, Pipeline: pipeline, Status: store.DeadLettered, Attempt: 1, IdempotencyKey: key, Input: in,
			Step: "parse", Error: "refused at intake", Class: retry.ClassContract, KeepPayloads: true,
			CreatedAt: Start, UpdatedAt: Start, FinishedAt: Start},
		Attempts: []store.RunAttempt{{Attempt: 1, Reason: "submitted", Input: in, Status: store.DeadLettered,
			Step: "parse", StartedAt: Start, FinishedAt: Start}},
	}
}

// An imported run holds its idempotency key as a submitted one does: a
// second run with the key is refused (the SQL stores' unique index), and
// a submit with it returns the imported run, so that a resent delivery
// finds its dead letter instead of making a second run.
func testImportIdempotencyKey(t *testing.T, h *harness) {
	const key = "webhook:crm:d-1"
	created, err := h.s.Import(h.ctx, refused("imported-1", pipeA, key))
	require.NoError(t, err)
	require.True(t, created)

	created, err = h.s.Import(h.ctx, refused("imported-2", pipeA, key))
	assert.ErrorIs(t, err, store.ErrConflict, "another run of the pipeline holds the key")
	assert.False(t, created)
	_, err = h.s.GetRun(h.ctx, "imported-2")
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing of the refused import is kept")

	created, err = h.s.Import(h.ctx, refused("imported-1", pipeA, key))
	require.NoError(t, err, "the same run again is not a conflict: its id is checked first")
	assert.False(t, created)

	got, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, Input: json.RawMessage(`{"email":"ada@example.com"}`), IdempotencyKey: key})
	require.NoError(t, err)
	assert.False(t, created, "a submit with the key finds the imported run")
	assert.Equal(t, "imported-1", got.ID)
	assert.Equal(t, store.DeadLettered, got.Status)
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{Pipeline: pipeA, IdempotencyKey: key})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 1)

	created, err = h.s.Import(h.ctx, refused("imported-3", pipeB, key))
	require.NoError(t, err)
	assert.True(t, created, "keys are scoped to a pipeline")

	queued := h.enqueue(pipeA, func(nr *store.NewRun) { nr.IdempotencyKey = "webhook:crm:d-2" })
	_, err = h.s.Import(h.ctx, refused("imported-4", pipeA, "webhook:crm:d-2"))
	assert.ErrorIs(t, err, store.ErrConflict, "a submitted run holds its key against an import too")
	assert.Equal(t, store.Queued, h.get(queued.ID).Run.Status)
}
