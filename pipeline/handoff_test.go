package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// onDurableStores runs fn on each durable store, on the real clock: the
// hand-off's leases expire in real time.
func onDurableStores(t *testing.T, fn func(t *testing.T, st store.Store)) {
	for _, opener := range durableStores {
		t.Run(opener.name, func(t *testing.T) {
			fn(t, opener.open(t, retry.SystemClock))
		})
	}
}

func handoffOf(t *testing.T, st store.Store) store.Handoff {
	ho, ok := st.(store.Handoff)
	require.True(t, ok, "%T implements store.Handoff", st)
	return ho
}

func newRun(id string) store.NewRun {
	return store.NewRun{ID: id, Pipeline: "ho", Input: []byte(`{"n":1,"note":""}`), KeepPayloads: true}
}

// TestHandoffRules: the store leases a submitted run to the worker only
// when a claim of the worker's pipelines would take it first; otherwise
// it is queued as by Enqueue.
func TestHandoffRules(t *testing.T) {
	onDurableStores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		ho := handoffOf(t, st)
		to := store.HandoffTo{Worker: "w1", Pipelines: []string{"ho", "other"}, Lease: time.Minute}

		// Nothing waits: handed off, leased to w1.
		r, created, c, err := ho.EnqueueHandoff(ctx, newRun("01HANDOFF0000000000000001"), to)
		require.NoError(t, err)
		require.True(t, created)
		require.NotNil(t, c)
		assert.Equal(t, store.Running, r.Status)
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Running, d.Run.Status)
		assert.Equal(t, "w1", d.Run.LeaseOwner)
		// The lease fences like a claim's: it checkpoints and finishes.
		require.NoError(t, st.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{}`)}))

		// An idempotent resubmit returns the existing run, not handed.
		first := newRun("01HANDOFF0000000000000002")
		first.IdempotencyKey = "k"
		r1, _, c1, err := ho.EnqueueHandoff(ctx, first, to)
		require.NoError(t, err)
		require.NotNil(t, c1)
		again := newRun("01HANDOFF0000000000000003")
		again.IdempotencyKey = "k"
		r2, created, c2, err := ho.EnqueueHandoff(ctx, again, to)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Nil(t, c2)
		assert.Equal(t, r1.ID, r2.ID)
		require.NoError(t, st.Finish(ctx, c1.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{}`)}))

		// Deferred: queued, not handed.
		later := newRun("01HANDOFF0000000000000004")
		later.NotBefore = time.Now().Add(time.Hour)
		r, _, c, err = ho.EnqueueHandoff(ctx, later, to)
		require.NoError(t, err)
		assert.Nil(t, c)
		assert.Equal(t, store.Queued, r.Status)

		// A queued run of one of the worker's pipelines waits: the new one
		// does not pass it.
		_, _, err = st.Enqueue(ctx, store.NewRun{ID: "01HANDOFF0000000000000005", Pipeline: "other", Input: []byte(`{}`)})
		require.NoError(t, err)
		r, _, c, err = ho.EnqueueHandoff(ctx, newRun("01HANDOFF0000000000000006"), to)
		require.NoError(t, err)
		assert.Nil(t, c)
		assert.Equal(t, store.Queued, r.Status)
		d, err = st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Queued, d.Run.Status)
		assert.Empty(t, d.Run.LeaseOwner)
		claimed, err := st.Claim(ctx, store.ClaimRequest{Worker: "w2", Pipelines: []string{"ho", "other"}, Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 2, "the queued runs, oldest first")
		assert.Equal(t, "01HANDOFF0000000000000005", claimed[0].Run.ID)
		for _, c := range claimed {
			require.NoError(t, st.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{}`)}))
		}

		// Paused (a breaker open, an operator's pause): queued.
		require.NoError(t, st.SetPause(ctx, store.Pause{Pipeline: "ho", Reason: "test", By: "test", Since: time.Now()}))
		r, _, c, err = ho.EnqueueHandoff(ctx, newRun("01HANDOFF0000000000000007"), to)
		require.NoError(t, err)
		assert.Nil(t, c)
		assert.Equal(t, store.Queued, r.Status)
	})
}

// TestHandoffReclaimed: a run handed to a worker that dies before it
// writes anything is claimed by another once the lease has expired, and
// the dead worker's lease is fenced off.
func TestHandoffReclaimed(t *testing.T) {
	for _, opener := range durableStores {
		t.Run(opener.name, func(t *testing.T) {
			// The store's clock decides when the lease expires: no race
			// with the wall.
			clock := retrytest.NewClock(pipelinetest.Start)
			st := opener.open(t, clock)
			ctx := context.Background()
			ho := handoffOf(t, st)
			_, _, c, err := ho.EnqueueHandoff(ctx, newRun("01HANDOFF0000000000000010"),
				store.HandoffTo{Worker: "dead", Pipelines: []string{"ho"}, Lease: time.Minute})
			require.NoError(t, err)
			require.NotNil(t, c)
			claimed, err := st.Claim(ctx, store.ClaimRequest{Worker: "w2", Pipelines: []string{"ho"}, Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			assert.Empty(t, claimed, "the lease holds until it expires")
			clock.Advance(2 * time.Minute)
			// Another hand-off waits behind the expired run.
			_, _, c2, err := ho.EnqueueHandoff(ctx, newRun("01HANDOFF0000000000000011"),
				store.HandoffTo{Worker: "w3", Pipelines: []string{"ho"}, Lease: time.Minute})
			require.NoError(t, err)
			assert.Nil(t, c2, "an expired lease waits for a claim: nothing passes it")
			claimed, err = st.Claim(ctx, store.ClaimRequest{Worker: "w2", Pipelines: []string{"ho"}, Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, claimed, 1)
			assert.Equal(t, "01HANDOFF0000000000000010", claimed[0].Run.ID)
			err = st.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{}`)})
			assert.ErrorIs(t, err, store.ErrLeaseLost)
			require.NoError(t, st.Finish(ctx, claimed[0].Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{}`)}))
		})
	}
}

// TestHandoffSubmit: a run submitted while this process's worker is idle
// is leased to it by the enqueue itself, runs to its end, and its worker
// dying mid-step leaves it to another worker after the lease; a cancel
// reaches a handed-off run as any other.
func TestHandoffSubmit(t *testing.T) {
	onDurableStores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		started := make(chan struct{}, 4)
		block := make(chan struct{})
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard})
		p := pipeline.New(rt, "handoff", step.New("one", func(ctx context.Context, it Item) (Item, error) {
			started <- struct{}{}
			if it.Note == "block" {
				select {
				case <-block:
				case <-ctx.Done():
					return it, context.Cause(ctx)
				}
			}
			it.N++
			return it, nil
		}, step.Config{Retry: retry.Never}), pipeline.Policy{Outage: pipeline.NoOutage})
		w, err := rt.NewWorker(pipeline.WorkerConfig{Concurrency: 2, Poll: time.Hour, Heartbeat: 20 * time.Millisecond, PruneEvery: -1})
		require.NoError(t, err)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		defer func() { stop(); <-done }()

		// The worker's first claim finds the queue empty; with a poll of
		// an hour, only a hand-off (or a wake-up) starts a run.
		require.Eventually(t, func() bool {
			out, err := p.SubmitAndWait(ctx, Item{N: 1}, pipeline.SubmitOptions{})
			return err == nil && out.N == 2
		}, 10*time.Second, 10*time.Millisecond)

		// Handed off: leased to the worker when Submit returns.
		id, err := p.Submit(ctx, Item{Note: "block"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		d, err := st.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Running, d.Run.Status)
		assert.Equal(t, w.ID(), d.Run.LeaseOwner)
		<-started
		<-started
		// Cancelled while its step runs: the heartbeat tells the run.
		_, err = p.Cancel(ctx, id, pipeline.CancelOptions{Reason: "test"})
		require.NoError(t, err)
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = p.Wait(wait, id)
		var ce *pipeline.CancelledError
		require.True(t, errors.As(err, &ce), "cancelled: %v", err)

		// An idempotent resubmit gets the first run, and runs nothing.
		a, err := p.Submit(ctx, Item{N: 5}, pipeline.SubmitOptions{IdempotencyKey: "same"})
		require.NoError(t, err)
		_, err = p.Wait(wait, a)
		require.NoError(t, err)
		b, err := p.Submit(ctx, Item{N: 6}, pipeline.SubmitOptions{IdempotencyKey: "same"})
		require.NoError(t, err)
		assert.Equal(t, a, b)

		// Paused: Submit queues the run; it waits for the pause to clear.
		require.NoError(t, st.SetPause(ctx, store.Pause{Pipeline: "handoff", Reason: "test", By: "test", Since: time.Now()}))
		id, err = p.Submit(ctx, Item{N: 7}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		d, err = st.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Queued, d.Run.Status)
		assert.Empty(t, d.Run.LeaseOwner)
		close(block)
	})
}

// TestHandoffWorkerDies: a run handed to a worker whose process dies
// (its lease is never renewed) is claimed by another worker after the
// lease and finished there.
func TestHandoffWorkerDies(t *testing.T) {
	onDurableStores(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard})
		p := pipeline.New(rt, "dies", step.New("one", func(_ context.Context, it Item) (Item, error) { it.N++; return it, nil },
			step.Config{Retry: retry.Never}), pipeline.Policy{Outage: pipeline.NoOutage})
		require.NoError(t, p.Err())
		raw := []byte(`{"n":1,"note":"orphan"}`)
		// What a dying worker's process leaves: the run, leased to it by
		// the hand-off, and nothing else.
		_, _, c, err := handoffOf(t, st).EnqueueHandoff(ctx, store.NewRun{ID: "01HANDOFF0000000000000020", Pipeline: "dies",
			Input: raw, KeepPayloads: true, Version: p.Version()}, store.HandoffTo{Worker: "gone", Pipelines: []string{"dies"}, Lease: 300 * time.Millisecond})
		require.NoError(t, err)
		require.NotNil(t, c)
		w, err := rt.NewWorker(pipeline.WorkerConfig{Poll: 20 * time.Millisecond, PruneEvery: -1})
		require.NoError(t, err)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		defer func() { stop(); <-done }()
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := p.Wait(wait, "01HANDOFF0000000000000020")
		require.NoError(t, err)
		assert.Equal(t, 2, out.N)
		d, err := st.GetRun(ctx, "01HANDOFF0000000000000020")
		require.NoError(t, err)
		assert.Equal(t, store.Succeeded, d.Run.Status)
	})
}

var discard = slog.New(slog.DiscardHandler)
