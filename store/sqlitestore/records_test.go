package sqlitestore_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// TestRecordsRoundTripExactly: nanosecond times and payloads of a few
// hundred KB come back as they went in.
func TestRecordsRoundTripExactly(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 11, 27, 2, 17, 0, 123456789, time.UTC)
	clock := retrytest.NewClock(start)
	s := open(t, filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock})

	big := json.RawMessage(`{"text":"` + strings.Repeat("ada lovelace ", 300_000/13) + `"}`)
	received := time.Date(2026, 11, 26, 23, 59, 59, 999999999, time.UTC)
	r, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "posts", Input: big, KeepPayloads: true,
		Trigger: step.Trigger{Source: "cron", ReceivedAt: received}, NotBefore: start.Add(time.Nanosecond)})
	require.NoError(t, err)
	clock.Advance(time.Nanosecond)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1, "claimable exactly at NotBefore")
	assert.Equal(t, big, c[0].Run.Input)

	rec := store.StepRecord{Index: 0, Step: "summarise", Status: store.StepSucceeded, Input: big, Output: big,
		Attempts:  []store.AttemptRecord{{Step: "summarise", Number: 1, Start: start.Add(7), Duration: 1234567, Raw: string(big)}},
		StartedAt: start.Add(3), FinishedAt: start.Add(5)}
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, rec))

	d, err := s.GetRun(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, big, d.Run.Input)
	assert.Equal(t, received, d.Run.Trigger.ReceivedAt, "nanoseconds and UTC kept")
	assert.Equal(t, start, d.Run.CreatedAt)
	assert.Equal(t, start.Add(time.Nanosecond), d.Run.NotBefore)
	assert.Equal(t, start.Add(time.Nanosecond+time.Minute), d.Run.LeaseExpires)
	require.Len(t, d.Steps, 1)
	got := d.Steps[0]
	assert.Equal(t, big, got.Output)
	assert.Equal(t, start.Add(3), got.StartedAt)
	assert.Equal(t, start.Add(5), got.FinishedAt)
	require.Len(t, got.Attempts, 1)
	assert.Equal(t, start.Add(7), got.Attempts[0].Start)
	assert.Equal(t, time.Duration(1234567), got.Attempts[0].Duration)
	assert.Equal(t, string(big), got.Attempts[0].Raw)
}
