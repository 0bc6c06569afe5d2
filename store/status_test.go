package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

func TestStatusClasses(t *testing.T) {
	for _, tt := range []struct {
		s             store.Status
		final, parked bool
	}{
		{store.Queued, false, false},
		{store.Running, false, false},
		{store.Waiting, false, false},
		{store.Succeeded, true, false},
		{store.DeadLettered, true, false},
		{store.Cancelled, true, false},
		{store.AwaitingReview, false, true},
		{store.Held, false, true},
	} {
		assert.Equal(t, tt.final, tt.s.Final(), "%s final", tt.s)
		assert.Equal(t, tt.parked, tt.s.Parked(), "%s parked", tt.s)
		assert.True(t, tt.s.Valid(), tt.s)
		assert.Contains(t, store.Statuses, tt.s)
	}
	assert.Equal(t, store.Status("held"), store.Held)
	assert.False(t, store.Status("hold").Valid())
	for _, s := range store.CheckedStatuses {
		assert.False(t, s == store.Succeeded || s == store.Cancelled, "%s has nothing left to check", s)
	}
	assert.Contains(t, store.CheckedStatuses, store.Held)
}

// CancelMatching's default statuses take held runs, which have not ended.
func TestCancelMatchingTakesHeldRuns(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(memstore.Config{})
	for _, id := range []string{"run-1", "run-2"} {
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: json.RawMessage(`{}`), KeepPayloads: true})
		require.NoError(t, err)
	}
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Held, Step: "parse", Error: "breaks v2", Class: retry.ClassContract}))

	res, err := store.CancelMatching(ctx, s, store.RunFilter{Pipeline: "leads"}, "ops", "retired", false, nil)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"run-1", "run-2"}, res.Cancelled)
	for _, id := range []string{"run-1", "run-2"} {
		d, err := s.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, d.Run.Status, id)
	}
	_, err = store.CancelMatching(ctx, s, store.RunFilter{Status: []store.Status{store.Held, store.Succeeded}}, "ops", "", true, nil)
	assert.Error(t, err, "ended runs cannot be cancelled")
}
