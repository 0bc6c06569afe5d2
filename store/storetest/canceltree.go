package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// An operator's cancellation of a waiting parent takes the whole tree:
// the branch runs no worker holds end at once (queued, waiting for a
// slot, waiting for their own branches, in review), and theirs; running
// ones are marked and end at their workers' next word. The parent is
// cancelled itself, so its children's ends settle nothing.
func testCancelTree(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 5, false)
	h.fork(p.Lease, 3, kids)
	k0 := h.claimRun(kids[0].ID, kids[0].Pipeline)
	h.toReview(h.claimRun(kids[1].ID, kids[1].Pipeline).Lease)
	k3 := h.claimRun(kids[3].ID, kids[3].Pipeline)
	grand := branches(kids[3].ID, "grand", 2, true)
	h.fork(k3.Lease, 1, grand)
	g0 := h.claimRun(grand[0].ID, "grand")
	const Q, R, W, AR = store.Queued, store.Running, store.Waiting, store.AwaitingReview
	require.Equal(t, []store.Status{R, AR, Q, W, W}, h.statuses(p.Run.ID))
	require.Equal(t, []store.Status{R, W}, h.statuses(kids[3].ID))

	h.cancel(p.Run.ID, operator, why)
	at := h.clock.Now()
	byParent := store.Cancellation{By: "parent " + p.Run.ID, Reason: why, At: at}
	byChild := store.Cancellation{By: "parent " + kids[3].ID, Reason: why, At: at}
	pd := h.cancelledAs(p.Run.ID, store.Cancellation{By: operator, Reason: why, At: at}, forkStep)
	h.cancelledAs(kids[1].ID, byParent, "summarise")
	h.cancelledAs(kids[2].ID, byParent, "")
	h.cancelledAs(kids[3].ID, byParent, forkStep)
	h.cancelledAs(kids[4].ID, byParent, "")
	h.cancelledAs(grand[1].ID, byChild, "")
	for _, m := range []struct {
		id string
		c  store.Cancellation
	}{{kids[0].ID, byParent}, {grand[0].ID, byChild}} {
		r := h.get(m.id).Run
		assert.Equal(t, store.Running, r.Status, "run %s is held: it is only marked", m.id)
		if assert.NotNil(t, r.Cancel, "run %s", m.id) {
			assert.Equal(t, m.c.By, r.Cancel.By, "run %s", m.id)
			assert.Equal(t, why, r.Cancel.Reason, "run %s has its parent's reason", m.id)
		}
	}
	assert.Empty(t, h.claim("w2", 10), "nothing of the tree is claimable, nor released")

	h.clock.Advance(time.Second)
	lost, err := h.s.Heartbeat(h.ctx, []store.Lease{k0.Lease, g0.Lease}, lease)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{kids[0].ID, grand[0].ID}, lost, "both workers are told")
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{k0.Lease}))
	h.cancelledAs(kids[0].ID, byParent, "")
	h.clock.Advance(time.Second)
	err = h.s.Finish(h.ctx, g0.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{"done":true}`)})
	assert.ErrorIs(t, err, store.ErrCancelled)
	h.cancelledAs(grand[0].ID, byChild, "")

	d := h.get(p.Run.ID)
	assert.Equal(t, store.Cancelled, d.Run.Status, "every child has ended, and the cancelled parent stays cancelled")
	assert.Equal(t, 1, d.Run.Attempt, "nothing was replayed")
	assert.True(t, d.Run.FinishedAt.Equal(pd.Run.FinishedAt))
	assert.Equal(t, store.Cancelled, h.status(kids[3].ID))
	h.clock.Advance(2 * lease)
	assert.Empty(t, h.claim("w2", 10))
}

// A parent that its worker ends cancelled takes its children too: those
// no worker holds end, and theirs, by "parent <id>" for the parent's
// error; a running one is marked, and its worker's finish is refused.
func testCancelledParentCancelsChildren(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 4, false)
	h.fork(p.Lease, 0, kids)
	for _, k := range kids {
		h.failChild(k)
	}
	// The parent is joining while an operator replays every child.
	c := h.claimRun(p.Run.ID, pipeA)
	for _, k := range kids {
		_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: k.ID})
		require.NoError(t, err)
	}
	running := h.claimRun(kids[1].ID, kids[1].Pipeline)
	h.toReview(h.claimRun(kids[2].ID, kids[2].Pipeline).Lease)
	k3 := h.claimRun(kids[3].ID, kids[3].Pipeline)
	grand := branches(kids[3].ID, "grand", 2, true)
	h.fork(k3.Lease, 1, grand)
	require.Equal(t, []store.Status{store.Queued, store.Waiting}, h.statuses(kids[3].ID))

	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Cancelled, Step: "parse", Error: "context canceled"}))
	at := h.clock.Now()
	assert.Nil(t, h.get(p.Run.ID).Run.Cancel, "no one asked: the worker ended it")
	byParent := store.Cancellation{By: "parent " + p.Run.ID, Reason: "context canceled", At: at}
	assert.Equal(t, byParent, storekit.ChildCancellation(&h.get(p.Run.ID).Run, at))
	h.cancelledAs(kids[0].ID, byParent, "")
	h.cancelledAs(kids[2].ID, byParent, "summarise")
	h.cancelledAs(kids[3].ID, byParent, forkStep)
	byChild := store.Cancellation{By: "parent " + kids[3].ID, Reason: "context canceled", At: at}
	h.cancelledAs(grand[0].ID, byChild, "")
	h.cancelledAs(grand[1].ID, byChild, "")
	r := h.get(kids[1].ID).Run
	assert.Equal(t, store.Running, r.Status)
	require.NotNil(t, r.Cancel, "a running child is marked")
	assert.Equal(t, byParent.By, r.Cancel.By)
	assert.Empty(t, h.claim("w2", 10), "nothing of the cancelled tree is claimable")

	err := h.s.Finish(h.ctx, running.Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{"done":true}`)})
	assert.ErrorIs(t, err, store.ErrCancelled)
	h.cancelledAs(kids[1].ID, byParent, "")
	d := h.get(p.Run.ID)
	assert.Equal(t, store.Cancelled, d.Run.Status, "a cancelled parent stays cancelled")
	assert.Equal(t, 1, d.Run.Attempt)
}

// CancelMatching cancels what a filter matches among the runs that have
// not ended (by default), lists them only on a dry run, and refuses a
// filter on ended statuses.
func testCancelMatching(t *testing.T, h *harness) {
	review, _ := h.awaitReview(`{"label":"warm"}`)
	ok := h.enqueue(pipeA)
	h.finish(h.claimRun(ok.ID, pipeA).Lease, store.Succeeded)
	dead := h.enqueue(pipeA)
	h.finish(h.claimRun(dead.ID, pipeA).Lease, store.DeadLettered)
	p := h.forkingParent()
	kids := branches(p.Run.ID, pipeB, 1, true)
	h.fork(p.Lease, 0, kids)
	held := h.enqueue(pipeA)
	hc := h.claimRun(held.ID, pipeA)
	queued := h.enqueue(pipeA)
	other := h.enqueue(pipeB)
	live := []string{review.ID, queued.ID, held.ID, p.Run.ID}
	unchanged := func(what string) {
		t.Helper()
		for id, st := range map[string]store.Status{review.ID: store.AwaitingReview, ok.ID: store.Succeeded, dead.ID: store.DeadLettered,
			queued.ID: store.Queued, held.ID: store.Running, p.Run.ID: store.Waiting, other.ID: store.Queued} {
			r := h.get(id).Run
			assert.Equal(t, st, r.Status, "%s: run %s", what, id)
			assert.Nil(t, r.Cancel, "%s: run %s", what, id)
		}
	}

	calls := 0
	count := func(int, int, string, error) { calls++ }
	res, err := store.CancelMatching(h.ctx, h.s, store.RunFilter{Pipeline: pipeA}, operator, why, true, count)
	require.NoError(t, err)
	assert.ElementsMatch(t, live, ids(res.Matched), "queued, running, waiting and awaiting review, by default")
	assert.Zero(t, res.More)
	assert.Empty(t, res.Cancelled, "a dry run cancels nothing")
	assert.Zero(t, calls)
	unchanged("dry run")

	res, err = store.CancelMatching(h.ctx, h.s, store.RunFilter{Pipeline: pipeA, Limit: 3}, operator, why, true, nil)
	require.NoError(t, err)
	assert.Len(t, res.Matched, 3)
	assert.Equal(t, 1, res.More, "the limit cut one off")

	for _, f := range []store.RunFilter{
		{Status: []store.Status{store.Queued, store.Succeeded}}, {Status: []store.Status{store.Cancelled}}, {Status: []store.Status{store.DeadLettered}},
	} {
		_, err = store.CancelMatching(h.ctx, h.s, f, operator, why, false, count)
		assert.Error(t, err, "statuses %v", f.Status)
	}
	assert.Zero(t, calls)
	unchanged("refused")

	var done []int
	res, err = store.CancelMatching(h.ctx, h.s, store.RunFilter{Pipeline: pipeA}, operator, why, false, func(n, total int, id string, err error) {
		assert.Equal(t, 4, total)
		assert.NoError(t, err, "run %s", id)
		done = append(done, n)
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, live, res.Cancelled)
	assert.Empty(t, res.Failed)
	assert.Equal(t, []int{1, 2, 3, 4}, done)
	now := h.clock.Now()
	c := store.Cancellation{By: operator, Reason: why, At: now}
	h.cancelledAs(review.ID, c, "classify")
	h.cancelledAs(queued.ID, c, "")
	h.cancelledAs(p.Run.ID, c, forkStep)
	h.cancelledAs(kids[0].ID, store.Cancellation{By: "parent " + p.Run.ID, Reason: why, At: now}, "")
	r := h.get(held.ID).Run
	assert.Equal(t, store.Running, r.Status, "a held run is marked")
	require.NotNil(t, r.Cancel)
	assert.Equal(t, operator, r.Cancel.By)
	assert.Equal(t, store.Succeeded, h.status(ok.ID))
	assert.Equal(t, store.DeadLettered, h.status(dead.ID))
	assert.Equal(t, store.Queued, h.status(other.ID), "another pipeline's run is not matched")
	assert.Nil(t, h.get(other.ID).Run.Cancel)

	require.NoError(t, h.s.Release(h.ctx, []store.Lease{hc.Lease}))
	h.cancelledAs(held.ID, c, "")
}
