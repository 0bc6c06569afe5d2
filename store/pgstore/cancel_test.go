package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// twoStores opens two stores on one schema, each with a pool of its own:
// two processes, as far as the server knows.
func twoStores(t *testing.T) (a, b *pgstore.Store) {
	t.Helper()
	a = openStore(t, pgstore.Config{})
	return a, openStore(t, pgstore.Config{Schema: a.Schema()})
}

// claimOne enqueues run id and claims it under a lease of d.
func claimOne(t *testing.T, s *pgstore.Store, id string, d time.Duration) store.Claimed {
	t.Helper()
	ctx := t.Context()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: json.RawMessage(`{"n":1}`), KeepPayloads: true})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: d})
	require.NoError(t, err)
	require.Len(t, c, 1)
	return c[0]
}

// requireCancelled checks the end of a run cancelled by "ops" for "bad
// input" while its step was step.
func requireCancelled(t *testing.T, s *pgstore.Store, id, by, reason, step string) *store.RunDetail {
	t.Helper()
	d, err := s.GetRun(t.Context(), id)
	require.NoError(t, err)
	r := d.Run
	require.Equal(t, store.Cancelled, r.Status, "run %s", id)
	require.NotNil(t, r.Cancel, "run %s", id)
	assert.Equal(t, by, r.Cancel.By)
	assert.Equal(t, reason, r.Cancel.Reason)
	assert.False(t, r.Cancel.At.IsZero())
	want := "cancelled by " + by
	if reason != "" {
		want += ": " + reason
	}
	assert.Equal(t, want, r.Error)
	assert.Equal(t, retry.ClassCancelled, r.Class)
	assert.Equal(t, step, r.Step, "the step where it stopped is kept")
	assert.False(t, r.FinishedAt.IsZero())
	assert.Empty(t, r.LeaseToken)
	assert.Equal(t, store.Cancelled, d.Attempts[len(d.Attempts)-1].Status, "the attempt ended")
	return d
}

// A running run cancelled through one store (an operator's process) ends
// cancelled at the next write of the worker holding it through another:
// the heartbeat reports it lost and keeps its lease, and then the
// checkpoint, the finish, the fork or the release is refused with
// ErrCancelled and the run ends; a worker that died leaves it to the next
// claim of its expired lease, which ends it and does not return it.
func TestCancelRunningAcrossStores(t *testing.T) {
	rec := store.StepRecord{Index: 1, Step: "classify", Status: store.StepSucceeded, Output: json.RawMessage(`{}`)}
	writes := map[string]func(ctx context.Context, s *pgstore.Store, l store.Lease) error{
		"checkpoint": func(ctx context.Context, s *pgstore.Store, l store.Lease) error {
			return s.Checkpoint(ctx, l, rec)
		},
		"finish": func(ctx context.Context, s *pgstore.Store, l store.Lease) error {
			return s.Finish(ctx, l, store.Outcome{Status: store.Succeeded, Record: &rec, Output: json.RawMessage(`{}`)})
		},
		"fork": func(ctx context.Context, s *pgstore.Store, l store.Lease) error {
			kid := store.NewRun{ID: store.BranchID(l.RunID, 1, 0), Pipeline: "sub", Input: []byte(`{}`),
				Parent: &store.Parent{RunID: l.RunID, Step: "split", Index: 1}}
			return s.Fork(ctx, l, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
				Children: []store.NewRun{kid}})
		},
		"release": func(ctx context.Context, s *pgstore.Store, l store.Lease) error {
			require.NoError(t, s.Release(ctx, []store.Lease{l}), "a release gives the run back whatever became of it")
			return store.ErrCancelled
		},
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			worker, ops := twoStores(t)
			ctx := t.Context()
			c := claimOne(t, worker, "run-1", time.Minute)
			require.NoError(t, worker.Checkpoint(ctx, c.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded}))

			r, err := ops.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops", Reason: "bad input"})
			require.NoError(t, err)
			assert.Equal(t, store.Running, r.Status, "a held run is marked, not ended")
			require.NotNil(t, r.Cancel)
			r, err = ops.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "someone else", Reason: "again"})
			require.NoError(t, err)
			assert.Equal(t, "ops", r.Cancel.By, "the first cancellation stands")

			lost, err := worker.Heartbeat(ctx, []store.Lease{c.Lease}, time.Minute)
			require.NoError(t, err)
			assert.Equal(t, []string{"run-1"}, lost, "the worker learns at its heartbeat")
			d, err := worker.GetRun(ctx, "run-1")
			require.NoError(t, err)
			assert.Equal(t, c.Lease.Token, d.Run.LeaseToken, "the lease stays valid")
			assert.Equal(t, store.Running, d.Run.Status)

			require.ErrorIs(t, write(ctx, worker, c.Lease), store.ErrCancelled)
			d = requireCancelled(t, ops, "run-1", "ops", "bad input", "")
			assert.Len(t, d.Steps, 1, "the refused write recorded nothing")
			assert.ErrorIs(t, worker.Checkpoint(ctx, c.Lease, rec), store.ErrLeaseLost, "the lease is gone now")

			_, err = ops.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops"})
			var fe *store.FinalError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "cancel", fe.Op)
			assert.ErrorIs(t, err, store.ErrConflict)
		})
	}
	t.Run("claim", func(t *testing.T) {
		clock := retrytest.NewClock(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
		worker := openStore(t, pgstore.Config{Clock: clock})
		ops := openStore(t, pgstore.Config{Schema: worker.Schema(), Clock: clock})
		ctx := t.Context()
		claimOne(t, worker, "run-1", time.Minute)
		_, err := ops.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops", Reason: "bad input"})
		require.NoError(t, err)
		clock.Advance(2 * time.Minute) // the worker died: its lease expired
		got, err := ops.Claim(ctx, store.ClaimRequest{Worker: "w2", Pipelines: []string{"leads"}, Limit: 5, Lease: time.Minute})
		require.NoError(t, err)
		assert.Empty(t, got, "a cancelled run is not claimed")
		requireCancelled(t, ops, "run-1", "ops", "bad input", "")
	})
}

// A run no worker holds ends cancelled at once, its payloads scrubbed
// when it keeps none; an unknown run is ErrNotFound.
func TestCancelQueuedEndsAtOnce(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := t.Context()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: json.RawMessage(`{"secret":1}`)})
	require.NoError(t, err)
	r, err := s.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops"})
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, r.Status)
	d := requireCancelled(t, s, "run-1", "ops", "", "")
	assert.Nil(t, d.Run.Input, "a run that keeps no payloads is scrubbed")
	assert.NotEmpty(t, d.Run.InputHash)
	got, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = s.Cancel(ctx, store.CancelRequest{RunID: "nope", By: "ops"})
	assert.ErrorIs(t, err, store.ErrNotFound)

	// A replay of the cancelled run clears the cancellation.
	r, err = s.Replay(ctx, store.ReplayRequest{RunID: "run-1", Input: json.RawMessage(`{"secret":2}`)})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, r.Status)
	assert.Nil(t, r.Cancel)
	d, err = s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Nil(t, d.Run.Cancel)
}

// Cancelling a parent that waits for its branch runs ends those no worker
// holds (by "parent <id>", for the parent's reason) and marks the running
// one, whose worker, in another process, learns at its heartbeat and whose
// next write ends it cancelled; a waiter of that branch, in a third
// store, is woken.
func TestCancelParentMarksRunningBranches(t *testing.T) {
	a, ops := twoStores(t)
	waiter := openStore(t, pgstore.Config{Schema: a.Schema()})
	ctx := t.Context()
	p := claimOne(t, a, "run-1", time.Minute)
	var kids []store.NewRun
	for i := range 3 {
		kids = append(kids, store.NewRun{ID: store.BranchID("run-1", 1, i), Pipeline: "sub", Input: []byte(`{}`), KeepPayloads: true,
			Parent: &store.Parent{RunID: "run-1", Step: "split", Index: 1, Branch: i}})
	}
	require.NoError(t, a.Fork(ctx, p.Lease, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
		Children: kids, Limit: 2}))
	got, err := a.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"sub"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 1)
	running := got[0]
	require.Equal(t, kids[0].ID, running.Run.ID)

	woken := make(chan *store.Run, 1)
	go func() {
		r, err := waiter.WaitRun(ctx, running.Run.ID)
		assert.NoError(t, err)
		woken <- r
	}()

	r, err := ops.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops", Reason: "duplicate lead"})
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, r.Status)
	requireCancelled(t, ops, "run-1", "ops", "duplicate lead", "split")
	by := "parent run-1"
	requireCancelled(t, ops, kids[1].ID, by, "duplicate lead", "")
	requireCancelled(t, ops, kids[2].ID, by, "duplicate lead", "")
	d, err := ops.GetRun(ctx, running.Run.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Running, d.Run.Status)
	require.NotNil(t, d.Run.Cancel, "the running branch is marked")
	assert.Equal(t, by, d.Run.Cancel.By)

	lost, err := a.Heartbeat(ctx, []store.Lease{running.Lease}, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{running.Run.ID}, lost)
	err = a.Finish(ctx, running.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, store.ErrCancelled)
	requireCancelled(t, ops, running.Run.ID, by, "duplicate lead", "")
	select {
	case r := <-woken:
		assert.Equal(t, store.Cancelled, r.Status)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiter of the branch was not woken")
	}
	assert.Equal(t, store.Cancelled, requireCancelled(t, ops, "run-1", "ops", "duplicate lead", "split").Run.Status,
		"a cancelled parent stays cancelled")
}

// WaitRun, in one store, returns once another store (another process)
// ends the run, woken by the notification of its commit: succeeded,
// awaiting review, dead-lettered through a review's rejection, cancelled.
// A run that has ended returns at once; an unknown run is ErrNotFound; a
// context that ends first is its error.
func TestWaitRunWokenByAnotherStore(t *testing.T) {
	waiter, worker := twoStores(t)
	ctx := t.Context()
	wait := func(id string) <-chan *store.Run {
		c := make(chan *store.Run, 1)
		go func() {
			r, err := waiter.WaitRun(ctx, id)
			assert.NoError(t, err)
			c <- r
		}()
		return c
	}
	woken := func(c <-chan *store.Run, want store.Status) {
		t.Helper()
		select {
		case r := <-c:
			require.NotNil(t, r)
			assert.Equal(t, want, r.Status)
		case <-time.After(5 * time.Second):
			t.Fatalf("not woken by the end (%s)", want)
		}
	}
	quiet := func(c <-chan *store.Run) {
		t.Helper()
		select {
		case r := <-c:
			t.Fatalf("woken before the run ended: %+v", r)
		case <-time.After(200 * time.Millisecond):
		}
	}

	c := claimOne(t, worker, "run-1", time.Minute)
	w1 := wait("run-1")
	quiet(w1)
	require.NoError(t, worker.Checkpoint(ctx, c.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded}))
	quiet(w1)
	start := time.Now()
	require.NoError(t, worker.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{}`)}))
	woken(w1, store.Succeeded)
	t.Logf("finish to wake-up: %s", time.Since(start).Round(time.Millisecond))

	c = claimOne(t, worker, "run-2", time.Minute)
	w2 := wait("run-2")
	quiet(w2)
	require.NoError(t, worker.Finish(ctx, c.Lease, store.Outcome{Status: store.AwaitingReview, Step: "parse",
		Review: &store.Review{Step: "parse", Reason: "check"}}))
	woken(w2, store.AwaitingReview)
	w2 = wait("run-2")
	woken(w2, store.AwaitingReview) // ended already: at once

	_, _, err := worker.Enqueue(ctx, store.NewRun{ID: "run-3", Pipeline: "leads"})
	require.NoError(t, err)
	w3 := wait("run-3")
	quiet(w3)
	_, err = worker.Cancel(ctx, store.CancelRequest{RunID: "run-3", By: "ops"})
	require.NoError(t, err)
	woken(w3, store.Cancelled)

	_, err = waiter.WaitRun(ctx, "nope")
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, _, err = worker.Enqueue(ctx, store.NewRun{ID: "run-4", Pipeline: "leads"})
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = waiter.WaitRun(short, "run-4")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// Every waiter reads its run again when the LISTEN connection comes back,
// so that an end whose notification was lost while it was down is still
// seen. The end is written here without a notification (as one lost in
// the gap would be), then the connection is cut.
func TestWaitRunAfterListenerReconnect(t *testing.T) {
	app := appName("plumb-wait")
	log, _ := newQuietLogger()
	s := openStoreDSN(t, withParam(testDSN(t), "application_name", app), pgstore.Config{Logger: log})
	ctx := t.Context()
	ids := []string{"run-1", "run-2"}
	woken := make(chan *store.Run, len(ids))
	for _, id := range ids {
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads"})
		require.NoError(t, err)
		go func() {
			r, err := s.WaitRun(ctx, id)
			assert.NoError(t, err)
			woken <- r
		}()
	}
	// The waiters wait: subscribed, and (a second later, generous on a
	// loaded machine) past their first read, which an end written before
	// it would answer with no notification at all.
	require.Eventually(t, func() bool { return pgstore.WaitersOf(s) == len(ids) }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(time.Second)
	_, err := admin(t).Exec(ctx, "UPDATE "+pgx.Identifier{s.Schema(), "runs"}.Sanitize()+
		" SET status = 'succeeded', finished_at = updated_at WHERE id = ANY($1)", ids)
	require.NoError(t, err)
	select {
	case r := <-woken:
		t.Fatalf("woken with no notification and no reconnect: %+v", r)
	case <-time.After(200 * time.Millisecond):
	}
	require.Positive(t, terminateBackends(t, app))
	for range ids {
		select {
		case r := <-woken:
			require.NotNil(t, r)
			assert.Equal(t, store.Succeeded, r.Status)
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter did not read its run again after the reconnect")
		}
	}
}

// WaitRun shares the store's one LISTEN connection with the workers'
// wake-ups, however many runs are waited for.
func TestWaitRunSharesOneConnection(t *testing.T) {
	app := appName("plumb-share")
	s := openStoreDSN(t, withParam(testDSN(t), "application_name", app), pgstore.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := s.Subscribe(ctx)
	require.NoError(t, err)
	done := make(chan struct{})
	const waiters = 20
	for i := range waiters {
		id := "run-" + string(rune('a'+i))
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads"})
		require.NoError(t, err)
		go func() {
			defer func() { done <- struct{}{} }()
			_, _ = s.WaitRun(ctx, id)
		}()
	}
	time.Sleep(300 * time.Millisecond)
	var listening int
	require.NoError(t, admin(t).QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity a
		WHERE a.application_name = $1 AND a.query LIKE 'LISTEN%'`, app).Scan(&listening))
	assert.Equal(t, 1, listening, "one LISTEN connection for every waiter and subscriber")
	cancel()
	for range waiters {
		<-done
	}
}

// ListRuns finds runs by the trigger's external id and by idempotency
// key, newest first, paged and counted, and each lookup can read its
// partial index under the generic plan a prepared statement gets.
func TestListRunsByExternalIDAndKey(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := t.Context()
	for i, nr := range []store.NewRun{
		{ID: "run-1", Pipeline: "leads", Trigger: step.Trigger{Source: "crm", ExternalID: "lead-7"}, IdempotencyKey: "k1"},
		{ID: "run-2", Pipeline: "leads", Trigger: step.Trigger{Source: "crm", ExternalID: "lead-8"}},
		{ID: "run-3", Pipeline: "other", Trigger: step.Trigger{Source: "crm", ExternalID: "lead-7"}, IdempotencyKey: "k1"},
		{ID: "run-4", Pipeline: "leads", Trigger: step.Trigger{Source: "crm", ExternalID: "lead-7"}},
	} {
		_, _, err := s.Enqueue(ctx, nr)
		require.NoError(t, err, "run %d", i)
	}
	ids := func(p store.RunPage) []string {
		var out []string
		for _, r := range p.Runs {
			out = append(out, r.ID)
		}
		return out
	}
	p, err := s.ListRuns(ctx, store.RunFilter{ExternalID: "lead-7"})
	require.NoError(t, err)
	assert.Equal(t, []string{"run-4", "run-3", "run-1"}, ids(p))
	p, err = s.ListRuns(ctx, store.RunFilter{ExternalID: "lead-7", Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, []string{"run-4", "run-3"}, ids(p))
	assert.Equal(t, 1, p.More)
	p, err = s.ListRuns(ctx, store.RunFilter{IdempotencyKey: "k1"})
	require.NoError(t, err)
	assert.Equal(t, []string{"run-3", "run-1"}, ids(p))
	p, err = s.ListRuns(ctx, store.RunFilter{IdempotencyKey: "k1", Pipeline: "leads", ExternalID: "lead-7"})
	require.NoError(t, err)
	assert.Equal(t, []string{"run-1"}, ids(p))
	p, err = s.ListRuns(ctx, store.RunFilter{ExternalID: "nope"})
	require.NoError(t, err)
	assert.Empty(t, p.Runs)

	conn, err := admin(t).Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	for _, q := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL plan_cache_mode = force_generic_plan"} {
		_, err := tx.Exec(ctx, q)
		require.NoError(t, err)
	}
	runs := pgx.Identifier{s.Schema(), "runs"}.Sanitize()
	for index, cond := range map[string]string{
		"runs_ext_id":   "r.trigger_ext_id = $1 AND r.trigger_ext_id <> ''",
		"runs_idem_key": "r.idem_key = $1 AND r.idem_key IS NOT NULL",
	} {
		var plan string
		rows, err := tx.Query(ctx, "EXPLAIN SELECT r.id FROM "+runs+" r WHERE "+cond+" ORDER BY r.id DESC LIMIT 50", "lead-7")
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan += line + "\n"
		}
		require.NoError(t, rows.Err())
		assert.Contains(t, plan, index, "the lookup reads its index:\n%s", plan)
	}
}

// Cancelling parents while their running branch runs end, from two
// stores at once, makes every write either succeed or be refused as
// cancelled: the locks the two take in different orders (a cancellation:
// the parent, its joins, its running children; a child's end: the child,
// its join, its parent) may deadlock, and the store retries the
// transaction the server aborted. Every parent ends cancelled, and every
// child succeeded or ended cancelled.
func TestCancelRacesBranchEnds(t *testing.T) {
	worker, ops := twoStores(t)
	ctx := t.Context()
	const parents, kids = 8, 3
	var leases []store.Claimed
	for i := range parents {
		id := "run-" + string(rune('a'+i))
		p := claimOne(t, worker, id, time.Minute)
		var children []store.NewRun
		for b := range kids {
			children = append(children, store.NewRun{ID: store.BranchID(id, 1, b), Pipeline: "sub", KeepPayloads: true,
				Input: []byte(`{}`), Parent: &store.Parent{RunID: id, Step: "split", Index: 1, Branch: b}})
		}
		require.NoError(t, worker.Fork(ctx, p.Lease, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
			Children: children}))
	}
	for len(leases) < parents*kids {
		got, err := worker.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"sub"}, Limit: parents * kids, Lease: time.Minute})
		require.NoError(t, err)
		leases = append(leases, got...)
	}
	errs := make(chan error, parents+parents*kids)
	start := make(chan struct{})
	for _, c := range leases {
		go func() {
			<-start
			err := worker.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{}`)})
			if errors.Is(err, store.ErrCancelled) {
				err = nil
			}
			errs <- err
		}()
	}
	for i := range parents {
		go func() {
			<-start
			_, err := ops.Cancel(ctx, store.CancelRequest{RunID: "run-" + string(rune('a'+i)), By: "ops"})
			errs <- err
		}()
	}
	close(start)
	for range parents + parents*kids {
		require.NoError(t, <-errs)
	}
	for i := range parents {
		id := "run-" + string(rune('a'+i))
		d, err := ops.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, d.Run.Status, "parent %s", id)
		for b := range kids {
			d, err := ops.GetRun(ctx, store.BranchID(id, 1, b))
			require.NoError(t, err)
			assert.Contains(t, []store.Status{store.Succeeded, store.Cancelled}, d.Run.Status, "child %s", d.Run.ID)
		}
	}
}
