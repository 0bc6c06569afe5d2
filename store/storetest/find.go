package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// ListRuns finds the runs of an item by its id in its source system
// (the trigger's external id) and the run submitted with an idempotency
// key: exact matches, newest first, in pages counted like any filter.
func testListRunsByExternalIDAndKey(t *testing.T, h *harness) {
	ext := func(id string) func(*store.NewRun) {
		return func(nr *store.NewRun) { nr.Trigger = step.Trigger{Source: "webhook:hubspot", ExternalID: id} }
	}
	key := func(k string) func(*store.NewRun) { return func(nr *store.NewRun) { nr.IdempotencyKey = k } }
	dl := h.enqueue(pipeA, ext("lead-77"))
	h.finish(h.claimRun(dl.ID, pipeA).Lease, store.DeadLettered)
	lead := []string{dl.ID}
	lead = append(lead, h.enqueue(pipeA, ext("lead-77"), key("k-1")).ID)
	h.enqueue(pipeA, ext("lead-7"))
	lead = append(lead, h.enqueue(pipeB, ext("lead-77"), key("k-1")).ID)
	h.enqueue(pipeA, ext("lead-770"), key("k-10"))
	h.enqueue(pipeA, ext("LEAD-77"))
	lead = append(lead, h.enqueue(pipeB, ext("lead-77")).ID)
	h.enqueue(pipeB)
	newestFirst := []string{lead[3], lead[2], lead[1], lead[0]}

	assert.Equal(t, newestFirst, h.list(store.RunFilter{ExternalID: "lead-77"}), "exact matches, newest first")
	assert.Equal(t, []string{lead[1], lead[0]}, h.list(store.RunFilter{ExternalID: "lead-77", Pipeline: pipeA}))
	assert.Equal(t, []string{lead[0]}, h.list(store.RunFilter{ExternalID: "lead-77", Status: []store.Status{store.DeadLettered}}))
	assert.Empty(t, h.list(store.RunFilter{ExternalID: "lead"}), "no prefix match")
	assert.Empty(t, h.list(store.RunFilter{ExternalID: "lead-77 "}))

	assert.Equal(t, []string{lead[2], lead[1]}, h.list(store.RunFilter{IdempotencyKey: "k-1"}), "a key is per pipeline: one run each")
	assert.Equal(t, []string{lead[2]}, h.list(store.RunFilter{IdempotencyKey: "k-1", Pipeline: pipeB}))
	assert.Empty(t, h.list(store.RunFilter{IdempotencyKey: "k-"}))
	assert.Empty(t, h.list(store.RunFilter{IdempotencyKey: "k-1", ExternalID: "lead-770"}), "filters combine")

	f := store.RunFilter{ExternalID: "lead-77", Limit: 3}
	page, err := h.s.ListRuns(h.ctx, f)
	require.NoError(t, err)
	assert.Equal(t, newestFirst[:3], ids(page.Runs))
	assert.Equal(t, 1, page.More, "the matches past the page, not every run past it")
	assert.Equal(t, newestFirst[2], page.Next)
	f.Before = page.Next
	page, err = h.s.ListRuns(h.ctx, f)
	require.NoError(t, err)
	assert.Equal(t, newestFirst[3:], ids(page.Runs))
	assert.Zero(t, page.More)
	assert.Empty(t, page.Next)

	page, err = h.s.ListRuns(h.ctx, store.RunFilter{IdempotencyKey: "k-1", Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{lead[2]}, ids(page.Runs))
	assert.Equal(t, 1, page.More)
}
