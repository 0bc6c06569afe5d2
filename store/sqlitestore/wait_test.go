package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// watching reports whether the store's watcher is running.
func watching(s *Store) bool {
	s.waits.mu.Lock()
	defer s.waits.mu.Unlock()
	return s.waits.watch != nil
}

type waitAnswer struct {
	run *store.Run
	err error
}

func waitFor(ctx context.Context, s *Store, id string) <-chan waitAnswer {
	ch := make(chan waitAnswer, 1)
	go func() {
		r, err := s.WaitRun(ctx, id)
		ch <- waitAnswer{r, err}
	}()
	return ch
}

func answer(t *testing.T, ch <-chan waitAnswer, within time.Duration) waitAnswer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(within):
		t.Fatalf("WaitRun did not return within %s", within)
		return waitAnswer{}
	}
}

func enqueueOne(t *testing.T, s *Store, id string) store.Claimed {
	t.Helper()
	ctx := context.Background()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: []byte(`{}`), KeepPayloads: true,
		Trigger: step.Trigger{Source: "test"}, ClaimFor: "w", Lease: time.Minute})
	require.NoError(t, err)
	got, err := s.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.Running}, Limit: 1000})
	require.NoError(t, err)
	for _, r := range got.Runs {
		if r.ID == id {
			return store.Claimed{Run: r, Lease: r.Lease()}
		}
	}
	t.Fatalf("run %s is not running", id)
	return store.Claimed{}
}

// Within one process the writer's commit wakes the waiter: with the
// watcher all but stopped, a finish still answers at once, and the
// watcher never reads the runs.
func TestWaitRunWokenByThisProcess(t *testing.T) {
	s := openTemp(t, Config{Synchronous: "FULL"})
	s.waits.every = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := enqueueOne(t, s, "run-1")
	ch := waitFor(ctx, s, "run-1")
	time.Sleep(30 * time.Millisecond)
	require.NoError(t, s.Checkpoint(ctx, c.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded}))
	select {
	case a := <-ch:
		t.Fatalf("returned for a live run: %+v %v", a.run, a.err)
	default:
	}
	start := time.Now()
	require.NoError(t, s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`"ok"`)}))
	a := answer(t, ch, 2*time.Second)
	require.NoError(t, a.err)
	assert.Equal(t, store.Succeeded, a.run.Status)
	assert.Less(t, time.Since(start), time.Second, "woken by the commit, not by a poll")
	assert.Zero(t, s.waits.checks.Load(), "the watcher read no run")
	assert.Eventually(t, func() bool { return !watching(s) }, time.Second, time.Millisecond, "the last waiter stops the watcher")
}

// A waiter on a store nobody writes reads nothing: the watcher's check of
// the file says nothing changed.
func TestWaitRunIdleReadsNoRuns(t *testing.T) {
	s := openTemp(t, Config{Synchronous: "NORMAL"})
	enqueueOne(t, s, "run-1")
	ctx, cancel := context.WithCancel(context.Background())
	ch := waitFor(ctx, s, "run-1")
	time.Sleep(10 * watchEvery)
	assert.True(t, watching(s))
	assert.Zero(t, s.waits.checks.Load(), "no change, no read")
	cancel()
	a := answer(t, ch, 2*time.Second)
	assert.ErrorIs(t, a.err, context.Canceled)
	assert.Eventually(t, func() bool { return !watching(s) }, time.Second, time.Millisecond)
}

// Two stores on one file, as two processes would have: a waiter of one is
// woken by the other's writes (a finish, a cancellation of a queued run,
// a review), through the watcher.
func TestWaitRunWokenByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	a, err := Open(path, Config{Synchronous: "FULL"})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(path, Config{Synchronous: "NORMAL"})
	require.NoError(t, err)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	done := enqueueOne(t, a, "run-done")
	review := enqueueOne(t, a, "run-review")
	_, _, err = a.Enqueue(ctx, store.NewRun{ID: "run-queued", Pipeline: "leads", Input: []byte(`{}`)})
	require.NoError(t, err)
	chs := map[string]<-chan waitAnswer{}
	for _, id := range []string{"run-done", "run-review", "run-queued"} {
		chs[id] = waitFor(ctx, b, id)
	}
	time.Sleep(5 * watchEvery)
	// Other writes of a change the file but end none of the runs.
	require.NoError(t, a.Checkpoint(ctx, done.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded}))
	time.Sleep(5 * watchEvery)
	for id, ch := range chs {
		select {
		case w := <-ch:
			t.Fatalf("%s: returned for a live run: %+v %v", id, w.run, w.err)
		default:
		}
	}
	assert.Eventually(t, func() bool { return b.waits.checks.Load() > 0 }, 10*time.Second, watchEvery, "the change was seen")

	require.NoError(t, a.Finish(ctx, done.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`"ok"`)}))
	w := answer(t, chs["run-done"], 10*time.Second)
	require.NoError(t, w.err)
	assert.Equal(t, store.Succeeded, w.run.Status)
	assert.JSONEq(t, `"ok"`, string(w.run.Output))

	_, err = a.Cancel(ctx, store.CancelRequest{RunID: "run-queued", By: "ops", Reason: "duplicate"})
	require.NoError(t, err)
	w = answer(t, chs["run-queued"], 10*time.Second)
	require.NoError(t, w.err)
	assert.Equal(t, store.Cancelled, w.run.Status)
	require.NotNil(t, w.run.Cancel)
	assert.Equal(t, "duplicate", w.run.Cancel.Reason)

	require.NoError(t, a.Finish(ctx, review.Lease, store.Outcome{Status: store.AwaitingReview, Step: "parse",
		Review: &store.Review{Step: "parse", Reason: "unsure"}}))
	w = answer(t, chs["run-review"], 10*time.Second)
	require.NoError(t, w.err)
	assert.Equal(t, store.AwaitingReview, w.run.Status)
	assert.Eventually(t, func() bool { return !watching(b) }, 10*time.Second, time.Millisecond)

	// And the other way round: a waiter of a is woken by b's write.
	late := enqueueOne(t, b, "run-late")
	ch := waitFor(ctx, a, "run-late")
	time.Sleep(2 * watchEvery)
	require.NoError(t, b.Finish(ctx, late.Lease, store.Outcome{Status: store.DeadLettered, Step: "parse", Error: "boom"}))
	w = answer(t, ch, 10*time.Second)
	require.NoError(t, w.err)
	assert.Equal(t, store.DeadLettered, w.run.Status)
}

// Closing the store answers its waiters with ErrClosed, and gives the
// watcher's connection back.
func TestWaitRunClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "plumb.db"), Config{})
	require.NoError(t, err)
	enqueueOne(t, s, "run-1")
	ch := waitFor(context.Background(), s, "run-1")
	assert.Eventually(t, func() bool { return watching(s) }, time.Second, time.Millisecond)
	require.NoError(t, s.Close())
	a := answer(t, ch, 2*time.Second)
	assert.ErrorIs(t, a.err, store.ErrClosed)
	_, err = s.WaitRun(context.Background(), "run-1")
	assert.ErrorIs(t, err, store.ErrClosed)
}

// The watcher's connection is its own: on a pool of two (the writer's and
// one for reads), a wait leaves reads their connection.
func TestWaitRunLeavesThePoolToReads(t *testing.T) {
	db, err := sql.Open("sqlite", fileDSN(filepath.Join(t.TempDir(), "plumb.db"), time.Second))
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxOpenConns(2)
	s, err := New(db, Config{})
	require.NoError(t, err)
	defer s.Close()
	c := enqueueOne(t, s, "run-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ch := waitFor(ctx, s, "run-1")
	require.Eventually(t, func() bool { return watching(s) }, time.Second, time.Millisecond)
	_, err = s.GetRun(ctx, "run-1")
	require.NoError(t, err, "a read while someone waits")
	require.NoError(t, s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded}))
	a := answer(t, ch, 2*time.Second)
	require.NoError(t, a.err)
	assert.Equal(t, store.Succeeded, a.run.Status)
}
