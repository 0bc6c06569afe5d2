package sqlitestore

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// holdWriter parks the writer inside a transaction until release is
// called, so that the ops sent meanwhile queue up and commit as one batch.
func holdWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	parked, unpark := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.write(context.Background(), func(*writer) error {
			close(parked)
			<-unpark
			return nil
		})
	}()
	<-parked
	return func() { close(unpark) }
}

// waitQueued waits until n ops wait for the writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.w.ops) == n }, 10*time.Second, time.Millisecond)
}

func openTemp(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "plumb.db"), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestGroupCommitOneBatchManyCheckpoints(t *testing.T) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		t.Run(mode, func(t *testing.T) {
			s := openTemp(t, Config{Synchronous: mode})
			ctx := context.Background()
			const n = 40
			for i := range n {
				_, _, err := s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%02d", i), Pipeline: "leads", Input: json.RawMessage(`{}`)})
				require.NoError(t, err)
			}
			claimed, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: n, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, claimed, n)
			stale := claimed[0].Lease
			stale.Token = "w0#stale"

			before := s.WriteStats()
			release := holdWriter(t, s)
			errs := make([]error, n+1)
			var wg sync.WaitGroup
			for i := range n + 1 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := stale // the last op writes under a lease it lost
					if i < n {
						l = claimed[i].Lease
					}
					rec := store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"ok":true}`)}
					errs[i] = s.Checkpoint(ctx, l, rec)
				}()
			}
			waitQueued(t, s, n+1)
			release()
			wg.Wait()

			for i := range n {
				require.NoError(t, errs[i], "checkpoint %d", i)
			}
			assert.ErrorIs(t, errs[n], store.ErrLeaseLost, "the stale write fails alone")
			after := s.WriteStats()
			assert.Equal(t, uint64(2), after.Commits-before.Commits, "the parked op's commit, then one for all %d checkpoints", n+1)
			assert.Equal(t, uint64(n+2), after.Ops-before.Ops)
			assert.Equal(t, uint64(1), after.Failed-before.Failed)
			if mode == "FULL" {
				assert.LessOrEqual(t, after.Syncs-before.Syncs, uint64(2))
			}
			for _, c := range claimed {
				d, err := s.GetRun(ctx, c.Run.ID)
				require.NoError(t, err)
				assert.Len(t, d.Steps, 1, "run %s", c.Run.ID)
			}
		})
	}
}

// TestGroupCommitOpFailingAfterItWrote covers the slow path: an op that
// fails after it has written (an import whose second attempt row clashes)
// is undone alone, and the batch's other ops commit.
func TestGroupCommitOpFailingAfterItWrote(t *testing.T) {
	s := openTemp(t, Config{})
	ctx := context.Background()
	now := time.Now()
	bad := store.RunDetail{
		Run: store.Run{ID: "imported", Pipeline: "leads", Status: store.DeadLettered, Attempt: 1, CreatedAt: now, UpdatedAt: now},
		Attempts: []store.RunAttempt{
			{Attempt: 1, Reason: "submitted", Status: store.DeadLettered, StartedAt: now},
			{Attempt: 1, Reason: "again", Status: store.DeadLettered, StartedAt: now},
		},
	}
	before := s.WriteStats()
	release := holdWriter(t, s)
	var wg sync.WaitGroup
	var importErr error
	enqueueErrs := make([]error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, importErr = s.Import(ctx, bad)
	}()
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, enqueueErrs[i] = s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%d", i), Pipeline: "leads", Input: json.RawMessage(`{}`)})
		}()
	}
	waitQueued(t, s, 4)
	release()
	wg.Wait()

	require.Error(t, importErr)
	for i, err := range enqueueErrs {
		require.NoError(t, err, "enqueue %d", i)
		_, err = s.GetRun(ctx, fmt.Sprintf("run-%d", i))
		require.NoError(t, err)
	}
	_, err := s.GetRun(ctx, "imported")
	assert.ErrorIs(t, err, store.ErrNotFound, "the failed import left nothing behind")
	after := s.WriteStats()
	assert.Equal(t, uint64(2), after.Commits-before.Commits)
	assert.Equal(t, uint64(1), after.Failed-before.Failed)
}

// TestWriteSkipsCancelledOps: an op whose context ended while it waited is
// not run, and its caller hears why.
func TestWriteSkipsCancelledOps(t *testing.T) {
	s := openTemp(t, Config{})
	release := holdWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads"})
		done <- err
	}()
	waitQueued(t, s, 1)
	cancel()
	release()
	assert.ErrorIs(t, <-done, context.Canceled)
	_, err := s.GetRun(context.Background(), "run-1")
	assert.ErrorIs(t, err, store.ErrNotFound)
}
