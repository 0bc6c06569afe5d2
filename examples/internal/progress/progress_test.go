package progress_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/examples/internal/progress"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// TestFollowReportsUntilEveryRunIsDone follows a batch through a worker:
// the reports count up to the whole batch, the last one says where every
// run ended, and runs of the same pipeline outside the batch do not count.
func TestFollowReportsUntilEveryRunIsDone(t *testing.T) {
	ctx, stop := context.WithTimeout(context.Background(), time.Minute)
	defer stop()
	st := memstore.New(memstore.Config{})
	half := step.New("half", func(_ context.Context, n int) (int, error) {
		if n%2 == 1 {
			return 0, retry.Permanent(errors.New("odd"))
		}
		time.Sleep(2 * time.Millisecond)
		return n / 2, nil
	}, step.Config{Retry: retry.Never})
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)}), "halves", half, pipeline.Policy{Outage: pipeline.NoOutage})

	_, err := p.Submit(ctx, 1001, pipeline.SubmitOptions{})
	require.NoError(t, err)
	var ids []string
	for n := range 40 {
		id, err := p.Submit(ctx, n, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	go func() { _ = p.Runtime().Work(workCtx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond}) }()

	var reports []string
	var last map[store.Status]int
	err = progress.Follow(ctx, st, "halves", ids, 5*time.Millisecond, 10, func(done int, count map[store.Status]int) {
		reports = append(reports, fmt.Sprint(done))
		last = count
	})
	require.NoError(t, err)
	require.NotEmpty(t, reports)
	assert.Equal(t, "40", reports[len(reports)-1], "the last report is the whole batch")
	assert.Equal(t, 20, last[store.Succeeded])
	assert.Equal(t, 20, last[store.DeadLettered])
	assert.Zero(t, last[store.Queued]+last[store.Running])
}

func TestFollowStopsWithItsContext(t *testing.T) {
	ctx, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer stop()
	err := progress.Follow(ctx, memstore.New(memstore.Config{}), "nothing", []string{"never-submitted"}, 5*time.Millisecond, 1,
		func(int, map[store.Status]int) {})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
