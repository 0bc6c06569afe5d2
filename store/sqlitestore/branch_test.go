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
	"github.com/plumb-dev/plumb/store/storekit"
)

// The branch cases every store passes are storetest's; these are what
// only a file shows: the join's row, the same file open twice, a reopen,
// and the migration.

const (
	forkAt   = "classify"
	forkIdx  = 1
	subPipe  = "summarise"
	topPipe  = "leads"
	ctxLease = time.Minute
)

var bg0 = context.Background()

// parentAtFork enqueues a run and claims it, with its first step
// checkpointed, ready to fork.
func parentAtFork(t *testing.T, s *Store, id string) store.Lease {
	t.Helper()
	_, _, err := s.Enqueue(bg0, store.NewRun{ID: id, Pipeline: topPipe, Input: json.RawMessage(`{"n":1}`), KeepPayloads: true})
	require.NoError(t, err)
	c := claimID(t, s, id, topPipe)
	require.NoError(t, s.Checkpoint(bg0, c.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"n":1}`)}))
	return c.Lease
}

// claimID claims runs of pipeline until it holds id, giving back the others.
func claimID(t *testing.T, s *Store, id, pipeline string) store.Claimed {
	t.Helper()
	cs, err := s.Claim(bg0, store.ClaimRequest{Worker: "w", Pipelines: []string{pipeline}, Limit: 1000, Lease: ctxLease})
	require.NoError(t, err)
	var got *store.Claimed
	var others []store.Lease
	for i := range cs {
		if cs[i].Run.ID == id {
			got = &cs[i]
		} else {
			others = append(others, cs[i].Lease)
		}
	}
	require.NoError(t, s.Release(bg0, others))
	require.NotNil(t, got, "run %s is not claimable", id)
	return *got
}

func children(parent string, n int) []store.NewRun {
	out := make([]store.NewRun, n)
	for i := range out {
		out[i] = store.NewRun{ID: store.BranchID(parent, forkIdx, i), Pipeline: subPipe,
			Input: json.RawMessage(fmt.Sprintf(`{"item":%d}`, i)), KeepPayloads: true,
			Parent: &store.Parent{RunID: parent, Step: forkAt, Index: forkIdx, Branch: i}}
	}
	return out
}

func fork(t *testing.T, s *Store, l store.Lease, limit int, kids []store.NewRun) {
	t.Helper()
	require.NoError(t, s.Fork(bg0, l, store.Fork{Record: store.StepRecord{Index: forkIdx, Step: forkAt, Status: store.StepWaiting},
		Children: kids, Limit: limit}))
}

// joinRow reads a fork's join.
func joinRow(t *testing.T, s *Store, parent string) (live, limit int) {
	t.Helper()
	require.NoError(t, s.db.QueryRow("SELECT live, lim FROM joins WHERE parent_id = ? AND idx = ?", parent, forkIdx).Scan(&live, &limit))
	return live, limit
}

func status(t *testing.T, s *Store, id string) store.Status {
	t.Helper()
	d, err := s.GetRun(bg0, id)
	require.NoError(t, err)
	return d.Run.Status
}

// Many children ending at once, through two stores on one file (as two
// processes would) and from many goroutines, leave the join at exactly 0
// and queue the parent once.
func TestJoinConcurrentChildrenSettleOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	a, err := Open(path, Config{Synchronous: "NORMAL"})
	require.NoError(t, err)
	defer a.Close()
	b, err := Open(path, Config{Synchronous: "NORMAL"})
	require.NoError(t, err)
	defer b.Close()

	const n = 40
	l := parentAtFork(t, a, "run-p")
	kids := children("run-p", n)
	fork(t, a, l, 0, kids)
	live, _ := joinRow(t, a, "run-p")
	require.Equal(t, n, live)
	assert.Equal(t, store.Waiting, status(t, a, "run-p"))

	cs, err := a.Claim(bg0, store.ClaimRequest{Worker: "w", Pipelines: []string{subPipe}, Limit: n, Lease: ctxLease})
	require.NoError(t, err)
	require.Len(t, cs, n)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Store{a, b}[i%2]
			assert.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(fmt.Sprint(i))}))
		}()
	}
	wg.Wait()
	live, _ = joinRow(t, a, "run-p")
	assert.Zero(t, live, "every child counted once")
	assert.Equal(t, store.Queued, status(t, b, "run-p"))
	got, err := b.Claim(bg0, store.ClaimRequest{Worker: "w", Limit: 10, Lease: ctxLease})
	require.NoError(t, err)
	require.Len(t, got, 1, "the parent, once")
	assert.Equal(t, "run-p", got[0].Run.ID)

	bs, err := a.Branches(bg0, store.BranchQuery{Parent: "run-p", Outputs: true})
	require.NoError(t, err)
	require.Len(t, bs, n)
	for i, br := range bs {
		assert.Equal(t, i, br.Branch, "branch order, not id order")
		assert.Equal(t, store.Succeeded, br.Status)
	}
}

// Under a limit, a fork of many children keeps at most the limit queued or
// running, releases the next in branch order as each ends, and a reopen of
// the file keeps the join where it was.
func TestForkLimitAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	s, err := Open(path, Config{})
	require.NoError(t, err)
	l := parentAtFork(t, s, "run-p")
	kids := children("run-p", 5)
	fork(t, s, l, 2, kids)
	statuses := func(s *Store) []store.Status {
		bs, err := s.Branches(bg0, store.BranchQuery{Parent: "run-p"})
		require.NoError(t, err)
		var out []store.Status
		for _, b := range bs {
			out = append(out, b.Status)
		}
		return out
	}
	assert.Equal(t, []store.Status{store.Queued, store.Queued, store.Waiting, store.Waiting, store.Waiting}, statuses(s))
	c := claimID(t, s, kids[0].ID, subPipe)
	require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.Succeeded}))
	assert.Equal(t, []store.Status{store.Succeeded, store.Queued, store.Queued, store.Waiting, store.Waiting}, statuses(s))
	d, err := s.GetRun(bg0, kids[2].ID)
	require.NoError(t, err)
	assert.Equal(t, store.Queued, d.Attempts[0].Status, "the released child's attempt says so")
	assert.Equal(t, storekit.ForkReason("run-p"), d.Attempts[0].Reason)
	require.NoError(t, s.Close())

	s, err = Open(path, Config{})
	require.NoError(t, err)
	defer s.Close()
	live, limit := joinRow(t, s, "run-p")
	assert.Equal(t, 4, live)
	assert.Equal(t, 2, limit)
	for _, k := range kids[1:] {
		c := claimID(t, s, k.ID, subPipe)
		require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.DeadLettered, Step: "fetch", Error: "boom"}))
	}
	assert.Equal(t, store.Queued, status(t, s, "run-p"))
	live, _ = joinRow(t, s, "run-p")
	assert.Zero(t, live)
}

// A parent dead-lettered at its join is replayed from the fork's step when
// a replayed child succeeds and no sibling is live; its own parent's join
// counts it live again (nesting).
func TestSettleReplayNested(t *testing.T) {
	s := openTemp(t, Config{})
	top := parentAtFork(t, s, "run-g")
	mid := children("run-g", 1)[0]
	fork(t, s, top, 0, []store.NewRun{mid})

	c := claimID(t, s, mid.ID, subPipe)
	require.NoError(t, s.Checkpoint(bg0, c.Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"m":1}`)}))
	kids := children(mid.ID, 2)
	fork(t, s, c.Lease, 0, kids)
	for i, k := range kids {
		kc := claimID(t, s, k.ID, subPipe)
		st := store.Succeeded
		if i == 1 {
			st = store.DeadLettered
		}
		require.NoError(t, s.Finish(bg0, kc.Lease, store.Outcome{Status: st, Error: "x"}))
	}
	// The middle run joins, fails its join, and dead-letters at the fork.
	c = claimID(t, s, mid.ID, subPipe)
	require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.DeadLettered, Step: forkAt, Error: "branch failed"}))
	assert.Equal(t, store.Queued, status(t, s, "run-g"), "the top run's only child ended")
	g := claimID(t, s, "run-g", topPipe)
	require.NoError(t, s.Finish(bg0, g.Lease, store.Outcome{Status: store.DeadLettered, Step: forkAt, Error: "branch failed"}))
	live, _ := joinRow(t, s, "run-g")
	require.Zero(t, live)

	_, err := s.Replay(bg0, store.ReplayRequest{RunID: kids[1].ID})
	require.NoError(t, err)
	kc := claimID(t, s, kids[1].ID, subPipe)
	require.NoError(t, s.Finish(bg0, kc.Lease, store.Outcome{Status: store.Succeeded}))

	d, err := s.GetRun(bg0, mid.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Queued, d.Run.Status)
	assert.Equal(t, 2, d.Run.Attempt)
	assert.Equal(t, storekit.RecoveredReason(kids[1].ID), d.Attempts[1].Reason)
	cs, err := s.Claim(bg0, store.ClaimRequest{Worker: "w", Pipelines: []string{subPipe}, Limit: 1, Lease: ctxLease})
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Len(t, cs[0].Checkpoints, 1, "the steps before the fork are carried")
	assert.Equal(t, "parse", cs[0].Checkpoints[0].Step)
	live, _ = joinRow(t, s, "run-g")
	assert.Equal(t, 1, live, "the top run's join counts its replayed child")
}

// A cancelled parent cancels, in one write, its children no worker holds
// and theirs; a running child is marked, and its worker's finish ends it
// cancelled.
func TestCancelHookRecursive(t *testing.T) {
	s := openTemp(t, Config{})
	top := parentAtFork(t, s, "run-c")
	kids := children("run-c", 3)
	fork(t, s, top, 0, kids)
	mid := claimID(t, s, kids[0].ID, subPipe)
	grand := children(kids[0].ID, 2)
	fork(t, s, mid.Lease, 1, grand)
	running := claimID(t, s, kids[1].ID, subPipe)

	// The parent is claimed again after a crash-free release, say, and
	// ends cancelled.
	_, err := s.db.Exec("UPDATE runs SET status = 'queued' WHERE id = 'run-c'")
	require.NoError(t, err)
	c := claimID(t, s, "run-c", topPipe)
	require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.Cancelled}))

	assert.Equal(t, store.Cancelled, status(t, s, kids[0].ID))
	assert.Equal(t, store.Running, status(t, s, kids[1].ID))
	assert.Equal(t, store.Cancelled, status(t, s, kids[2].ID))
	for _, g := range grand {
		d, err := s.GetRun(bg0, g.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, d.Run.Status, "grandchildren are cancelled too")
		assert.Equal(t, "cancelled by parent "+kids[0].ID, d.Run.Error)
		assert.Equal(t, store.Cancelled, d.Attempts[0].Status)
	}
	live, _ := joinRow(t, s, "run-c")
	assert.Equal(t, 1, live, "the running child is still live")
	d, err := s.GetRun(bg0, kids[1].ID)
	require.NoError(t, err)
	require.NotNil(t, d.Run.Cancel, "the running child is marked")
	assert.Equal(t, "parent run-c", d.Run.Cancel.By)
	err = s.Finish(bg0, running.Lease, store.Outcome{Status: store.Succeeded})
	require.ErrorIs(t, err, store.ErrCancelled)
	assert.Equal(t, store.Cancelled, status(t, s, kids[1].ID))
	live, _ = joinRow(t, s, "run-c")
	assert.Zero(t, live)
	assert.Equal(t, store.Cancelled, status(t, s, "run-c"), "a cancelled parent is not settled")
}

// Prune deletes a succeeded top-level run with its whole tree and its
// joins, keeps branch runs of live parents, and counts only top-level
// runs toward MaxRuns.
func TestPruneTrees(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openTemp(t, Config{Clock: clock})
	done := func(id string) {
		l := parentAtFork(t, s, id)
		kids := children(id, 2)
		fork(t, s, l, 0, kids)
		for _, k := range kids {
			c := claimID(t, s, k.ID, subPipe)
			require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.Succeeded}))
		}
		c := claimID(t, s, id, topPipe)
		require.NoError(t, s.Finish(bg0, c.Lease, store.Outcome{Status: store.Succeeded}))
	}
	done("run-1")
	clock.add(time.Hour)
	done("run-2")
	waiting := parentAtFork(t, s, "run-3")
	fork(t, s, waiting, 0, children("run-3", 2))

	n, err := s.Prune(bg0, store.Retention{MaxRuns: 1})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "run-1 and its two branches")
	count := func(q string) (n int) {
		require.NoError(t, s.db.QueryRow(q).Scan(&n))
		return n
	}
	assert.Equal(t, 6, count("SELECT count(*) FROM runs"))
	assert.Equal(t, 2, count("SELECT count(*) FROM joins"))
	assert.Zero(t, count("SELECT count(*) FROM attempts WHERE run_id LIKE 'run-1%'"))

	clock.add(30 * 24 * time.Hour)
	n, err = s.Prune(bg0, store.Retention{})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 3, count("SELECT count(*) FROM runs"), "the waiting parent and its branches stay")
}

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.add(d)
	return ctx.Err()
}
