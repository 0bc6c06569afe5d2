package deadletter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

func TestStoreSinkRecordsTheLetterAsADeadLetteredRun(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Config{})
	sink := deadletter.Store(st)
	assert.Equal(t, "store:*memstore.Store", deadletter.SinkName(sink))

	l := letter("run-1", 3)
	require.NoError(t, sink.Send(ctx, l))
	d, err := st.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, l.Record().Run.Error, d.Run.Error)
	require.Len(t, d.Steps, 1)
	assert.Equal(t, store.AttemptRecords(l.Attempts), d.Steps[0].Attempts)

	again := *l
	again.Error = "a later letter"
	require.NoError(t, sink.Send(ctx, &again), "a run already recorded is not an error")
	d, err = st.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, l.Error, d.Run.Error, "the store's own record stays canonical")
}

func TestStoreSinkReportsWhatTheStoreRefuses(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Config{})
	err := deadletter.Store(st).Send(ctx, letter("no spaces allowed", 1))
	require.ErrorIs(t, err, store.ErrConflict)
	assert.Contains(t, err.Error(), "no spaces allowed")

	require.NoError(t, st.Close())
	err = deadletter.Store(st).Send(ctx, letter("run-2", 1))
	require.Error(t, err, "a closed store keeps nothing, and says so")
	assert.True(t, errors.Is(err, store.ErrClosed), "%v", err)
}
