package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// call is what a step saw of its run on one call.
type call struct {
	key     string
	attempt int
	try     int
}

type calls struct {
	mu  sync.Mutex
	all []call
}

func (c *calls) add(ctx context.Context) {
	ri := step.RunInfoFrom(ctx)
	c.mu.Lock()
	c.all = append(c.all, call{key: ri.IdempotencyKey(), attempt: ri.Attempt, try: ri.Try})
	c.mu.Unlock()
}

func (c *calls) get() []call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]call(nil), c.all...)
}

func TestAStepRetriedWithinItsAttemptKeepsItsKey(t *testing.T) {
	k := pipelinetest.New(t)
	var seen calls
	p := pipeline.New(k.Runtime, "charges", step.New("charge", func(ctx context.Context, t ticket) (ticket, error) {
		seen.add(ctx)
		if len(seen.get()) == 1 {
			return ticket{}, retry.Transient(errors.New("gateway timeout"))
		}
		return t, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 3}}), noOutage)
	id, err := p.Submit(k.Context(), ticket{ID: "t"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
	assert.Equal(t, []call{{id + "/1/charge", 1, 1}, {id + "/1/charge", 1, 2}}, seen.get())
}

// A worker that stalls past its lease (as a crashed one does) loses the
// run to another, which runs the step again: with the same key.
func TestACrashResumedStepGetsTheSameKey(t *testing.T) {
	k := pipelinetest.New(t)
	var seen calls
	first, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p := pipeline.Then(pipeline.New(k.Runtime, "charges", step.New("charge", func(ctx context.Context, t ticket) (ticket, error) {
		seen.add(ctx)
		stall := false
		once.Do(func() { stall = true })
		if stall {
			close(first)
			<-unblock // the stalled worker: its lease expires meanwhile
		}
		return t, nil
	}, step.Config{}), noOutage), step.New("receipt", func(_ context.Context, t ticket) (ticket, error) { return t, nil }, step.Config{}))
	ctx := k.Context()
	id, err := p.Submit(ctx, ticket{ID: "t"}, pipeline.SubmitOptions{})
	require.NoError(t, err)

	stalled, err := k.Runtime.NewWorker(pipeline.WorkerConfig{ID: "stalled", Concurrency: 1, Lease: time.Minute, Heartbeat: time.Hour, Poll: 5 * time.Millisecond, PruneEvery: -1})
	require.NoError(t, err)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- stalled.Run(wctx) }()
	<-first
	k.Clock.Advance(2 * time.Minute)
	k.Drain() // another worker reclaims the expired lease and finishes the run
	close(unblock)
	stop()
	require.NoError(t, <-done)

	k.AssertSucceeded(id)
	got := seen.get()
	require.Len(t, got, 2)
	assert.Equal(t, id+"/1/charge", got[0].key)
	assert.Equal(t, got[0].key, got[1].key, "the resumed step has the key of the first execution")
	assert.Equal(t, 1, got[1].try, "the try starts again in a new execution")
}

func TestAReplayedStepGetsANewKey(t *testing.T) {
	k := pipelinetest.New(t)
	var seen calls
	p := pipeline.New(k.Runtime, "charges", step.New("charge", func(ctx context.Context, t ticket) (ticket, error) {
		seen.add(ctx)
		if len(seen.get()) == 1 {
			return ticket{}, retry.Permanent(errors.New("card declined"))
		}
		return t, nil
	}, step.Config{}), noOutage)
	id, err := p.Submit(k.Context(), ticket{ID: "t"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertDeadLettered(id, "charge", retry.ClassPermanent)
	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
	assert.Equal(t, []call{{id + "/1/charge", 1, 1}, {id + "/2/charge", 2, 1}}, seen.get())
}

func TestRunInfoInMemoryAndOutsideAStep(t *testing.T) {
	var seen calls
	p := pipeline.New(nil, "memory", step.New("note", func(ctx context.Context, t ticket) (ticket, error) {
		seen.add(ctx)
		return t, nil
	}, step.Config{}), noOutage)
	_, err := p.Run(context.Background(), ticket{}, pipeline.RunOptions{RunID: "r-1"})
	require.NoError(t, err)
	assert.Equal(t, []call{{"r-1/1/note", 1, 1}}, seen.get())
	assert.Empty(t, (*step.RunInfo)(nil).IdempotencyKey())
	assert.Empty(t, (&step.RunInfo{RunID: "r"}).IdempotencyKey())
}
