package pipeline_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/store"
)

// drainAndExit works the queue with a worker that stops once nothing is
// left for it, and checks what the backlog says is left: a deferred run
// and its time, a review.
func drainAndExit(t *testing.T, st store.Store, clock retry.Clock) {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	p := answerDesk(rt)
	ctx := context.Background()
	due := clock.Now().Add(90 * time.Minute)
	var ok []string
	for _, tk := range []string{"a", "b", "c"} {
		id, err := p.Submit(ctx, ticket{ID: tk}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ok = append(ok, id)
	}
	_, err := p.Submit(ctx, ticket{ID: "unsure"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	later, err := p.Submit(ctx, ticket{ID: "later"}, pipeline.SubmitOptions{NotBefore: due})
	require.NoError(t, err)
	_, err = p.Submit(ctx, ticket{ID: "later still"}, pipeline.SubmitOptions{NotBefore: due.Add(time.Hour)})
	require.NoError(t, err)

	require.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true, Poll: 5 * time.Millisecond, PruneEvery: -1}))
	for _, id := range ok {
		det, err := st.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Succeeded, det.Run.Status)
	}
	b, err := rt.Backlog(ctx)
	require.NoError(t, err)
	next := b.Next
	b.Next = time.Time{}
	assert.Equal(t, pipeline.Backlog{Deferred: 2, AwaitingReview: 1}, b)
	b.Next = next
	assert.True(t, b.Next.Equal(due), "next due %s, want %s", b.Next, due)
	assert.False(t, b.Empty())

	// Once the first deferred run is due, the next drain runs it.
	clock.(*retrytest.Clock).Set(due)
	require.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true, Poll: 5 * time.Millisecond, PruneEvery: -1}))
	det, err := st.GetRun(ctx, later)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, det.Run.Status)
	b, err = rt.Backlog(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, b.Deferred)
	assert.True(t, b.Next.Equal(due.Add(time.Hour)))
}

func TestWorkerStopsWhenDrained(t *testing.T) { onEveryStore(t, drainAndExit) }

func TestBacklogOfAnEmptyStoreIsEmpty(t *testing.T) {
	k := pipelinetest.New(t)
	answerDesk(k.Runtime)
	b, err := k.Runtime.Backlog(k.Context())
	require.NoError(t, err)
	assert.True(t, b.Empty())
	assert.True(t, b.Next.IsZero())
	_, err = pipeline.NewRuntime(pipeline.RuntimeConfig{}).Backlog(k.Context())
	assert.ErrorIs(t, err, pipeline.ErrNoStore)
}
