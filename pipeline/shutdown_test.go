package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// slow is a one-step pipeline whose step waits for release, or for its
// context to end.
func slow(k *pipelinetest.Kit, started chan<- struct{}, release <-chan struct{}) *pipeline.Pipeline[Lead, Lead] {
	return pipeline.New(k.Runtime, "slow", step.New("call", func(ctx context.Context, l Lead) (Lead, error) {
		started <- struct{}{}
		select {
		case <-release:
			return l, nil
		case <-ctx.Done():
			return l, ctx.Err()
		}
	}, step.Config{Retry: retry.Policy{MaxAttempts: 1, Jitter: -1}}), pipeline.Policy{Outage: pipeline.NoOutage})
}

func TestGracefulShutdownFinishesRunsInFlight(t *testing.T) {
	k := pipelinetest.New(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	p := slow(k, started, release)
	id, err := p.Submit(k.Context(), Lead{Name: "Ada", Email: "ada@example.com"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, ShutdownGrace: time.Minute})
	}()
	<-started
	cancel() // shut down while the run is in flight...
	time.AfterFunc(20*time.Millisecond, func() { close(release) })
	require.NoError(t, <-done)
	k.AssertSucceeded(id) // ...and it finished within the grace period
}

func TestShutdownReleasesRunsThatOutlastTheGrace(t *testing.T) {
	k := pipelinetest.New(t)
	started, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	p := slow(k, started, release)
	id, err := p.Submit(k.Context(), Lead{Name: "Ada", Email: "ada@example.com"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, ShutdownGrace: 20 * time.Millisecond})
	}()
	<-started
	cancel()
	require.NoError(t, <-done)
	d := k.AssertStatus(id, store.Queued)
	assert.Empty(t, d.Run.LeaseOwner, "released, for another worker to take at once")
	assert.Empty(t, k.Letters.Letters(), "a shutdown is not a failure")
}

// ctxStore is a store whose registration notices a context that has
// ended, as a store busy with a write does.
type ctxStore struct{ store.Store }

func (s ctxStore) RegisterPipeline(ctx context.Context, def store.PipelineDef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.RegisterPipeline(ctx, def)
}

// A worker stopped before it has started (its context ends while it
// registers its pipelines with the store) claims nothing and returns nil,
// as any graceful stop does.
func TestWorkerStoppedWhileStartingReturnsNil(t *testing.T) {
	st := ctxStore{memstore.New(memstore.Config{})}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st})
	pipeline.New(rt, "p", step.New("s", func(_ context.Context, n int) (int, error) { return n, nil }, step.Config{}), pipeline.Policy{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{}))
}
