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

// forkParent enqueues and claims a run of "parent", checkpoints its first
// step and forks n children of pipeline "kid" at step 1 ("split").
func forkParent(t *testing.T, s *pgstore.Store, id string, n, limit int, keep bool) (store.Lease, []store.NewRun) {
	t.Helper()
	ctx := context.Background()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "parent", Input: json.RawMessage(`{"n":1}`), KeepPayloads: true})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "pw", Pipelines: []string{"parent"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "load", Status: store.StepSucceeded,
		Output: json.RawMessage(`{"items":[]}`)}))
	kids := make([]store.NewRun, n)
	for i := range kids {
		kids[i] = store.NewRun{ID: store.BranchID(id, 1, i), Pipeline: "kid", Input: json.RawMessage(fmt.Sprintf(`{"item":%d}`, i)),
			KeepPayloads: keep, Parent: &store.Parent{RunID: id, Step: "split", Index: 1, Branch: i}}
	}
	require.NoError(t, s.Fork(ctx, c[0].Lease, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
		Children: kids, Limit: limit}))
	return c[0].Lease, kids
}

// join reads a fork's join row.
func join(t *testing.T, s *pgstore.Store, parent string) (live, active int) {
	t.Helper()
	require.NoError(t, admin(t).QueryRow(context.Background(), "SELECT live, active FROM "+pgx.Identifier{s.Schema()}.Sanitize()+
		".joins WHERE parent_id = $1 AND idx = 1", parent).Scan(&live, &active))
	return live, active
}

// work claims and finishes runs of "kid" with s until none is left,
// from workers goroutines; it returns how many it finished.
func work(t *testing.T, s *pgstore.Store, workers int, status func(id string) store.Status) int {
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for idle := 0; idle < 3; {
				c, err := s.Claim(ctx, store.ClaimRequest{Worker: fmt.Sprint("kw", w), Pipelines: []string{"kid"}, Limit: 4, Lease: time.Minute})
				if !assert.NoError(t, err) {
					return
				}
				if len(c) == 0 {
					idle++
					time.Sleep(20 * time.Millisecond)
					continue
				}
				idle = 0
				for _, cl := range c {
					st := status(cl.Run.ID)
					o := store.Outcome{Status: st, Output: json.RawMessage(`{"ok":true}`), Spent: store.Spend{Tokens: 3}}
					if st == store.DeadLettered {
						o.Output, o.Step, o.Error = nil, "summarise", "failed"
					}
					if !assert.NoError(t, s.Finish(ctx, cl.Lease, o)) {
						return
					}
					mu.Lock()
					done++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return done
}

// Many children of one parent end at once, in several goroutines of two
// stores with pools of their own (as two processes would): every end
// counts once, live reaches 0 exactly once, the parent is queued once and
// no transaction deadlocks.
func TestBranchJoinConcurrentEnds(t *testing.T) {
	a := openStore(t, pgstore.Config{})
	b := openStore(t, pgstore.Config{Schema: a.Schema()})
	ctx := context.Background()
	const n = 300
	_, kids := forkParent(t, a, "p-1", n, 0, false)
	var wg sync.WaitGroup
	var da, db int
	wg.Add(2)
	ok := func(string) store.Status { return store.Succeeded }
	go func() { defer wg.Done(); da = work(t, a, 4, ok) }()
	go func() { defer wg.Done(); db = work(t, b, 4, ok) }()
	wg.Wait()
	assert.Equal(t, n, da+db)
	assert.Positive(t, da, "store a finished some")
	assert.Positive(t, db, "store b finished some")
	live, active := join(t, a, "p-1")
	assert.Zero(t, live)
	assert.Zero(t, active)
	d, err := a.GetRun(ctx, "p-1")
	require.NoError(t, err)
	assert.Equal(t, store.Queued, d.Run.Status)
	c, err := b.Claim(ctx, store.ClaimRequest{Worker: "pw2", Pipelines: []string{"parent"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1, "the parent is claimable once")
	bs, err := a.Branches(ctx, store.BranchQuery{Parent: "p-1", Outputs: true})
	require.NoError(t, err)
	require.Len(t, bs, n)
	for i, br := range bs {
		assert.Equal(t, kids[i].ID, br.RunID)
		assert.Equal(t, store.Succeeded, br.Status)
		assert.JSONEq(t, `{"ok":true}`, string(br.Output), "a child that keeps no payloads keeps its output")
		assert.Equal(t, 3, br.Spent.Tokens)
	}
}

// Under a limit, concurrent ends in two stores never let more children
// be queued or running than the limit, and release every waiting child.
func TestBranchLimitUnderConcurrency(t *testing.T) {
	a := openStore(t, pgstore.Config{})
	b := openStore(t, pgstore.Config{Schema: a.Schema()})
	const n, limit = 60, 5
	forkParent(t, a, "p-1", n, limit, true)
	count := func(status ...string) int {
		var k int
		require.NoError(t, admin(t).QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{a.Schema()}.Sanitize()+
			".runs WHERE parent_id = 'p-1' AND status = ANY($1)", status).Scan(&k))
		return k
	}
	assert.Equal(t, limit, count("queued"))
	assert.Equal(t, n-limit, count("waiting"))
	stop := make(chan struct{})
	var over int
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if count("queued", "running") > limit {
				over++
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var da, db int
	wg.Add(2)
	ok := func(string) store.Status { return store.Succeeded }
	go func() { defer wg.Done(); da = work(t, a, 3, ok) }()
	go func() { defer wg.Done(); db = work(t, b, 3, ok) }()
	wg.Wait()
	close(stop)
	watch.Wait()
	assert.Equal(t, n, da+db)
	assert.Zero(t, over, "more than the limit were queued or running")
	live, active := join(t, a, "p-1")
	assert.Zero(t, live)
	assert.Zero(t, active)
}

// A fork of 10,000 children is one statement. How long it takes is
// logged here and measured by BenchmarkFanOut10k, never bounded in a test.
func TestForkTenThousandChildren(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	start := time.Now()
	forkParent(t, s, "p-1", 10_000, 16, true)
	took := time.Since(start)
	t.Logf("fork of 10,000 children (enqueue, claim and checkpoint of the parent included): %v", took)
	live, active := join(t, s, "p-1")
	assert.Equal(t, 10_000, live)
	assert.Equal(t, 16, active)
	start = time.Now()
	bs, err := s.Branches(context.Background(), store.BranchQuery{Parent: "p-1"})
	require.NoError(t, err)
	t.Logf("Branches of 10,000 children: %v", time.Since(start))
	require.Len(t, bs, 10_000)
	assert.Equal(t, store.BranchID("p-1", 1, 9999), bs[9999].RunID)
	page, err := s.ListRuns(context.Background(), store.RunFilter{Parent: "p-1", Limit: 10})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 10)
	assert.Equal(t, 9990, page.More)
	page, err = s.ListRuns(context.Background(), store.RunFilter{TopLevel: true})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	assert.Equal(t, "p-1", page.Runs[0].ID)
}

// The last child ending after the parent dead-lettered at the fork, in
// another store, replays the parent from the fork's step.
func TestBranchRecoveryReplaysParent(t *testing.T) {
	a := openStore(t, pgstore.Config{})
	b := openStore(t, pgstore.Config{Schema: a.Schema()})
	ctx := context.Background()
	require.NoError(t, a.RegisterPipeline(ctx, store.PipelineDef{Name: "parent", KeepPayloads: true,
		Steps: []store.StepDef{{Name: "load"}, {Name: "split"}, {Name: "save"}}}))
	require.NoError(t, a.RegisterPipeline(ctx, store.PipelineDef{Name: "kid", KeepPayloads: true,
		Steps: []store.StepDef{{Name: "summarise"}}}))
	forkParent(t, a, "p-1", 3, 0, true)
	work(t, a, 2, func(id string) store.Status {
		if id == store.BranchID("p-1", 1, 2) {
			return store.DeadLettered
		}
		return store.Succeeded
	})
	c, err := a.Claim(ctx, store.ClaimRequest{Worker: "pw", Pipelines: []string{"parent"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, a.Finish(ctx, c[0].Lease, store.Outcome{Status: store.DeadLettered, Step: "split", Error: "a branch failed"}))

	_, err = b.Replay(ctx, store.ReplayRequest{RunID: store.BranchID("p-1", 1, 2)})
	require.NoError(t, err)
	live, _ := join(t, a, "p-1")
	assert.Equal(t, 1, live)
	work(t, b, 1, func(string) store.Status { return store.Succeeded })
	d, err := a.GetRun(ctx, "p-1")
	require.NoError(t, err)
	assert.Equal(t, store.Queued, d.Run.Status)
	assert.Equal(t, 2, d.Run.Attempt)
	assert.Equal(t, "branch "+store.BranchID("p-1", 1, 2)+" recovered", d.Attempts[1].Reason)
	c, err = b.Claim(ctx, store.ClaimRequest{Worker: "pw", Pipelines: []string{"parent"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.Len(t, c[0].Checkpoints, 1, "the replay carries the checkpoint before the fork")
	assert.Equal(t, "load", c[0].Checkpoints[0].Step)
}

// A parent that keeps its payloads ending cancelled leaves the batch
// path for the cancel hook: its waiting and queued children are
// cancelled, their payloads scrubbed, the join emptied.
func TestCancelHookOnBatchPath(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	lease, kids := forkParent(t, s, "p-1", 4, 2, false)
	_ = lease
	// Take the parent back while its children live, as a worker whose
	// fork is made again would: the join's rows remain.
	_, err := admin(t).Exec(ctx, "UPDATE "+pgx.Identifier{s.Schema()}.Sanitize()+".runs SET status = 'queued' WHERE id = 'p-1'")
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "pw", Pipelines: []string{"parent"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Cancelled, Error: "stopped"}))
	for _, k := range kids {
		d, err := s.GetRun(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, d.Run.Status, k.ID)
		assert.Nil(t, d.Run.Input, "scrubbed")
		assert.NotEmpty(t, d.Run.InputHash)
	}
	live, active := join(t, s, "p-1")
	assert.Zero(t, live)
	assert.Zero(t, active)
}

// Prune deletes a succeeded parent with its children, grandchildren and
// joins.
func TestPruneDeletesTheTree(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	forkParent(t, s, "p-1", 3, 0, true)
	work(t, s, 1, func(string) store.Status { return store.Succeeded })
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "pw", Pipelines: []string{"parent"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{}`)}))
	sc := pgx.Identifier{s.Schema()}.Sanitize()
	var runs, joins, attempts int
	time.Sleep(2 * time.Millisecond)
	n, err := s.Prune(ctx, store.Retention{MaxAge: time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	require.NoError(t, admin(t).QueryRow(ctx, "SELECT (SELECT count(*) FROM "+sc+".runs), (SELECT count(*) FROM "+sc+
		".joins), (SELECT count(*) FROM "+sc+".attempts)").Scan(&runs, &joins, &attempts))
	assert.Zero(t, runs)
	assert.Zero(t, joins)
	assert.Zero(t, attempts)
}

// The children a limit lets run end together, so that the writer commits
// their ends in shared batches (one read and one write of the join per
// batch): each end counts once, the releases keep the limit, and the
// parent is settled once, by the batch that ended the last of them.
func TestBranchEndsShareBatches(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	const n, limit = 120, 24
	forkParent(t, s, "p-b", n, limit, false)
	before := s.WriteStats()
	ended := 0
	for ended < n {
		c, err := s.Claim(ctx, store.ClaimRequest{Worker: "kw", Pipelines: []string{"kid"}, Limit: n, Lease: time.Minute})
		require.NoError(t, err)
		require.NotEmpty(t, c, "%d of %d ended and none is claimable", ended, n)
		require.LessOrEqual(t, len(c), limit, "the limit holds")
		_, active := join(t, s, "p-b")
		require.LessOrEqual(t, active, limit)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, cl := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				assert.NoError(t, s.Finish(ctx, cl.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{"ok":true}`)}))
			}()
		}
		close(start)
		wg.Wait()
		ended += len(c)
		d, err := s.GetRun(ctx, "p-b")
		require.NoError(t, err)
		if ended < n {
			assert.Equal(t, store.Waiting, d.Run.Status, "the parent waits while %d children are live", n-ended)
		}
	}
	after := s.WriteStats()
	assert.Less(t, after.Batches-before.Batches, after.Ops-before.Ops, "the ends shared batches")
	live, active := join(t, s, "p-b")
	assert.Zero(t, live)
	assert.Zero(t, active)
	p, err := s.Claim(ctx, store.ClaimRequest{Worker: "pw2", Pipelines: []string{"parent"}, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, p, 1, "the parent is queued once")
	bs, err := s.Branches(ctx, store.BranchQuery{Parent: "p-b", Outputs: true})
	require.NoError(t, err)
	require.Len(t, bs, n)
	for _, b := range bs {
		assert.Equal(t, store.Succeeded, b.Status)
		assert.JSONEq(t, `{"ok":true}`, string(b.Output), "a branch run keeps its output")
	}
	var attempts int
	require.NoError(t, admin(t).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{s.Schema()}.Sanitize()+
		".attempts WHERE run_id = 'p-b'").Scan(&attempts))
	assert.Equal(t, 1, attempts, "settled once: no replay of the parent")
}
