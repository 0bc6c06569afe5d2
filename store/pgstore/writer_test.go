package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// claimAll enqueues n runs and claims them all.
func claimAll(t *testing.T, s *pgstore.Store, n int) []store.Claimed {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%03d", i), Pipeline: "leads", Input: json.RawMessage(`{}`)})
		require.NoError(t, err)
	}
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: n, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, n)
	return c
}

// Writes made at once from many goroutines share commits, and each is
// acknowledged with its own outcome: a checkpoint under a lost lease fails
// alone, with store.ErrLeaseLost.
func TestConcurrentWritesShareCommits(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	const n = 64
	claimed := claimAll(t, s, n)
	stale := claimed[7].Lease
	stale.Token = "not-the-token"
	before := s.WriteStats()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, c := range claimed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := c.Lease
			if i == 7 {
				l = stale
			}
			<-start
			rec := store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"ok":true}`)}
			errs[i] = s.Checkpoint(ctx, l, rec)
			if errs[i] == nil {
				errs[i] = s.Finish(ctx, l, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{"ok":true}`)})
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if i == 7 {
			assert.ErrorIs(t, err, store.ErrLeaseLost, "the write under a stale lease")
			continue
		}
		assert.NoError(t, err, "run %d", i)
	}
	after := s.WriteStats()
	ops, batches := after.Ops-before.Ops, after.Batches-before.Batches
	assert.Equal(t, uint64(2*n-1), ops)
	assert.Less(t, batches, ops, "writes made at once share commits")
	t.Logf("%d writes in %d commits", ops, batches)
	for i, c := range claimed {
		d, err := s.GetRun(ctx, c.Run.ID)
		require.NoError(t, err)
		if i == 7 {
			assert.Equal(t, store.Running, d.Run.Status)
			assert.Empty(t, d.Steps)
			continue
		}
		assert.Equal(t, store.Succeeded, d.Run.Status)
		assert.Len(t, d.Steps, 1)
	}
}

// A write the server refuses fails alone: the batch it was in is written
// again op by op, and the others commit.
func TestARefusedWriteFailsAlone(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	const n = 32
	claimed := claimAll(t, s, n)
	for round := 0; ; round++ {
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, c := range claimed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("step-%d", round)
				if i == 3 {
					name = "bad\x00name" // PostgreSQL refuses NUL in text
				}
				<-start
				errs[i] = s.Checkpoint(ctx, c.Lease, store.StepRecord{Index: round, Step: name, Status: store.StepSucceeded})
			}()
		}
		before := s.WriteStats()
		close(start)
		wg.Wait()
		for i, err := range errs {
			if i == 3 {
				assert.Error(t, err, "the refused write")
				assert.NotErrorIs(t, err, store.ErrLeaseLost)
				continue
			}
			assert.NoError(t, err, "run %d", i)
		}
		if s.WriteStats().Retried > before.Retried || round == 20 {
			require.Greater(t, s.WriteStats().Retried, before.Retried, "the refused write shared a batch")
			break
		}
	}
	d, err := s.GetRun(ctx, claimed[3].Run.ID)
	require.NoError(t, err)
	assert.Empty(t, d.Steps, "nothing of the refused write was kept")
	d, err = s.GetRun(ctx, claimed[4].Run.ID)
	require.NoError(t, err)
	assert.NotEmpty(t, d.Steps)
}

// A write waiting for a run another session holds locked does not hold up
// the writes of other runs.
func TestALockedRunDoesNotHoldUpOtherWrites(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	claimed := claimAll(t, s, 2)
	blocker, err := admin(t).Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	_, err = blocker.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{s.Schema(), "runs"}.Sanitize()+" WHERE id = $1 FOR UPDATE", claimed[0].Run.ID)
	require.NoError(t, err)

	rec := store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{}`)}
	held := make(chan error, 1)
	go func() { held <- s.Checkpoint(ctx, claimed[0].Lease, rec) }()
	time.Sleep(50 * time.Millisecond) // the first write waits for the lock

	others := make(chan error, 1)
	go func() {
		err := s.Checkpoint(ctx, claimed[1].Lease, rec)
		if err == nil {
			_, _, err = s.Enqueue(ctx, store.NewRun{ID: "run-new", Pipeline: "leads"})
		}
		others <- err
	}()
	select {
	case err := <-others:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		_ = blocker.Rollback(ctx)
		t.Fatal("the writes of other runs waited for the locked run")
	}
	select {
	case err := <-held:
		t.Fatalf("the write of the locked run returned before the lock was released: %v", err)
	default:
	}
	require.NoError(t, blocker.Rollback(ctx))
	require.NoError(t, <-held)
}
