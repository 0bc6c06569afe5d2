package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// toReview stops a held branch run to await review at summarise.
func (h *harness) toReview(l store.Lease) {
	h.t.Helper()
	pending := rec(1, "summarise", store.StepReview, `{"summary":"maybe"}`)
	require.NoError(h.t, h.s.Finish(h.ctx, l, store.Outcome{Status: store.AwaitingReview, Record: &pending, Step: "summarise",
		Review: &store.Review{Step: "summarise", Index: 1, Reason: "confidence 0.4 < 0.7", Proposed: json.RawMessage(`{"summary":"maybe"}`)}}))
	h.clock.Advance(time.Millisecond)
}

func (h *harness) decide(id string, approve bool) *store.Run {
	h.t.Helper()
	r, err := h.s.Decide(h.ctx, id, store.Decision{Review: h.get(id).Run.ReviewRef(), Approved: approve, Reviewer: "ana", Reason: "checked"})
	require.NoError(h.t, err)
	h.clock.Advance(time.Millisecond)
	return r
}

func (h *harness) statuses(parent string) []store.Status {
	h.t.Helper()
	var out []store.Status
	for _, b := range h.branches(store.BranchQuery{Parent: parent}) {
		out = append(out, b.Status)
	}
	return out
}

// The last live child to end queues its parent in the same call, whatever
// the end; earlier ends do not. The parent resumes with the checkpoints
// before its fork.
func testJoinSettles(t *testing.T, h *harness) {
	for _, last := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled} {
		p := h.forkingParent()
		kids := branches(p.Run.ID, "sub", 3, false)
		h.fork(p.Lease, 0, kids)
		h.end(kids[0], store.Succeeded)
		assert.Equal(t, store.Waiting, h.status(p.Run.ID), "two children are live")
		h.end(kids[1], store.DeadLettered)
		assert.Equal(t, store.Waiting, h.status(p.Run.ID), "one child is live")
		assert.Empty(t, h.claim("w2", 10, pipeA))

		var wake <-chan struct{}
		if w, ok := h.s.(store.Waker); ok {
			ctx, cancel := context.WithCancel(h.ctx)
			var err error
			wake, err = w.Subscribe(ctx)
			require.NoError(t, err)
			defer cancel()
		}
		h.end(kids[2], last)
		d := h.get(p.Run.ID)
		assert.Equal(t, store.Queued, d.Run.Status, "the last child ended %s: the parent is queued", last)
		assert.True(t, d.Run.NotBefore.IsZero())
		if wake != nil {
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Errorf("the parent was queued, but no worker was woken")
			}
		}
		c := h.claimRun(p.Run.ID, pipeA)
		assert.Equal(t, 1, c.Lease.Attempt, "the join goes on within the attempt")
		require.Len(t, c.Checkpoints, 1, "the checkpoints before the fork")
		assert.Equal(t, 0, c.Checkpoints[0].Index)
		assert.JSONEq(t, `{"name":"Ada"}`, string(c.Checkpoints[0].Output))
		h.finish(c.Lease, store.Succeeded)
	}
}

// A child awaiting review is live: its parent waits for the decision. An
// approved child ends when it finishes; a rejection is its end.
func testJoinWaitsForReview(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 2, false)
	h.fork(p.Lease, 0, kids)
	h.end(kids[0], store.Succeeded)
	h.toReview(h.claimRun(kids[1].ID, kids[1].Pipeline).Lease)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID), "a child in review keeps its parent waiting")
	assert.Empty(t, h.claim("w2", 10))

	after := h.decide(kids[1].ID, true)
	assert.Equal(t, store.Queued, after.Status)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID), "an approved child is live")
	c := h.claimRun(kids[1].ID, kids[1].Pipeline)
	require.Len(t, c.Checkpoints, 1, "the approved output is the reviewed step's checkpoint")
	assert.Equal(t, 1, c.Checkpoints[0].Index)
	h.finish(c.Lease, store.Succeeded)
	assert.Equal(t, store.Queued, h.status(p.Run.ID))
	h.finish(h.claimRun(p.Run.ID, pipeA).Lease, store.Succeeded)

	p2 := h.forkingParent()
	one := branches(p2.Run.ID, "rev", 1, false)
	h.fork(p2.Lease, 0, one)
	h.toReview(h.claimRun(one[0].ID, one[0].Pipeline).Lease)
	assert.Equal(t, store.Waiting, h.status(p2.Run.ID))
	after = h.decide(one[0].ID, false)
	assert.Equal(t, store.DeadLettered, after.Status)
	assert.Equal(t, store.Queued, h.status(p2.Run.ID), "a rejection ends the child, in the same call")
	h.claimRun(p2.Run.ID, pipeA)
}

// At most Limit children are queued or running; the others wait and are
// released in branch order as siblings end or stop to await review.
func testForkLimit(t *testing.T, h *harness) {
	const Q, R, W, AR, S, DL, C = store.Queued, store.Running, store.Waiting, store.AwaitingReview, store.Succeeded, store.DeadLettered, store.Cancelled
	p := h.forkingParent()
	kids := branches(p.Run.ID, "items", 5, true)
	h.fork(p.Lease, 2, kids)
	assert.Equal(t, []store.Status{Q, Q, W, W, W}, h.statuses(p.Run.ID))
	got := h.claim("w1", 10)
	require.Len(t, got, 2, "only the limit is claimable")
	assert.ElementsMatch(t, []string{kids[0].ID, kids[1].ID}, ids(claimedRuns(got)), "the first branches take the slots")
	assert.Empty(t, h.claim("w1", 10))
	held := map[string]store.Lease{}
	for _, c := range got {
		held[c.Run.ID] = c.Lease
	}
	claimNext := func(want store.NewRun) {
		t.Helper()
		c := h.claim("w1", 10)
		require.Len(t, c, 1)
		require.Equal(t, want.ID, c[0].Run.ID, "released in branch order")
		held[want.ID] = c[0].Lease
	}

	h.finish(held[kids[0].ID], S)
	assert.Equal(t, []store.Status{S, R, Q, W, W}, h.statuses(p.Run.ID), "an end releases the next")
	claimNext(kids[2])
	h.toReview(held[kids[1].ID])
	assert.Equal(t, []store.Status{S, AR, R, Q, W}, h.statuses(p.Run.ID), "a stop to await review frees its slot")
	claimNext(kids[3])
	h.finish(held[kids[2].ID], DL)
	assert.Equal(t, []store.Status{S, AR, DL, R, Q}, h.statuses(p.Run.ID))
	claimNext(kids[4])
	h.decide(kids[1].ID, false)
	assert.Equal(t, []store.Status{S, DL, DL, R, R}, h.statuses(p.Run.ID))
	h.finish(held[kids[3].ID], C)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
	h.finish(held[kids[4].ID], S)
	assert.Equal(t, store.Queued, h.status(p.Run.ID))
	h.finish(h.claimRun(p.Run.ID, pipeA).Lease, S)

	// An approved child runs at once, on top of the limit; the sibling it
	// overtook waits until the count is below the limit again.
	p2 := h.forkingParent()
	more := branches(p2.Run.ID, "more", 3, true)
	h.fork(p2.Lease, 1, more)
	assert.Equal(t, []store.Status{Q, W, W}, h.statuses(p2.Run.ID))
	h.toReview(h.claimRun(more[0].ID, "more").Lease)
	assert.Equal(t, []store.Status{AR, Q, W}, h.statuses(p2.Run.ID))
	k1 := h.claimRun(more[1].ID, "more")
	assert.Equal(t, Q, h.decide(more[0].ID, true).Status, "a person's decision is not held back")
	h.finish(h.claimRun(more[0].ID, "more").Lease, S)
	assert.Equal(t, []store.Status{S, R, W}, h.statuses(p2.Run.ID), "the only slot is still taken")
	h.finish(k1.Lease, S)
	assert.Equal(t, []store.Status{S, S, Q}, h.statuses(p2.Run.ID))
	h.end(more[2], S)
	assert.Equal(t, store.Queued, h.status(p2.Run.ID))
}

// A child waiting for an event gives its slot to the next sibling, as one
// awaiting review does; the event makes it run again at once, on top of
// the limit, and the bound holds again as soon as it can.
func testForkLimitAwait(t *testing.T, h *harness) {
	const Q, R, W, S = store.Queued, store.Running, store.Waiting, store.Succeeded
	p := h.forkingParent()
	kids := branches(p.Run.ID, "items", 3, true)
	h.fork(p.Lease, 1, kids)
	assert.Equal(t, []store.Status{Q, W, W}, h.statuses(p.Run.ID))
	c0 := h.claimRun(kids[0].ID, "items")
	require.True(t, h.await(c0.Lease, "invoice:0").Waiting())
	assert.Equal(t, []store.Status{Q, Q, W}, h.statuses(p.Run.ID), "a wait for an event frees its slot")
	c1 := h.claimRun(kids[1].ID, "items")
	assert.Equal(t, []store.Status{Q, R, W}, h.statuses(p.Run.ID))

	h.clock.Advance(time.Minute)
	assert.Equal(t, kids[0].ID, h.send("invoice:0", "stripe", "evt_0", `{"paid":true}`).Woke)
	c0 = h.claimRun(kids[0].ID, "items")
	res := h.await(c0.Lease, "invoice:0")
	require.NotNil(t, res.Event, "the event is the wait's")
	h.finish(c0.Lease, S)
	assert.Equal(t, []store.Status{S, R, W}, h.statuses(p.Run.ID), "the one slot is still taken")
	h.finish(c1.Lease, S)
	assert.Equal(t, []store.Status{S, S, Q}, h.statuses(p.Run.ID))

	// A wait whose deadline passes makes its child run again, on top of
	// the limit, as an event does.
	c2 := h.claimRun(kids[2].ID, "items")
	require.True(t, h.await(c2.Lease, "invoice:2").Waiting())
	h.clock.Advance(within + time.Second)
	c2 = h.claimRun(kids[2].ID, "items")
	assert.True(t, h.await(c2.Lease, "invoice:2").Expired)
	h.finish(c2.Lease, S)
	assert.Equal(t, store.Queued, h.status(p.Run.ID), "every branch ended: the parent goes on")
}

// A parent whose join failed is replayed from its fork when a child it
// named is replayed and succeeds; a child replayed while its siblings are
// live is waited for again.
func testReplayedChildResumesParent(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 2, false)
	for _, k := range kids {
		require.NoError(t, h.s.RegisterPipeline(h.ctx, subDef(k.Pipeline)))
	}
	h.fork(p.Lease, 0, kids)
	h.end(kids[0], store.Succeeded)
	h.failChild(kids[1])
	c := h.claimRun(p.Run.ID, pipeA)
	joinFailed := rec(forkIndex, forkStep, store.StepFailed, "")
	joinFailed.Error, joinFailed.Class = "branch "+kids[1].ID+" failed at summarise", retry.ClassPermanent
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Record: &joinFailed,
		Step: forkStep, Error: joinFailed.Error, Class: retry.ClassPermanent}))

	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: kids[1].ID})
	require.NoError(t, err)
	assert.Equal(t, store.DeadLettered, h.status(p.Run.ID), "the parent waits for no one: it is dead-lettered")
	h.failChild(kids[1])
	assert.Equal(t, store.DeadLettered, h.status(p.Run.ID), "a child that failed again recovers nothing")
	assert.Equal(t, 1, h.get(p.Run.ID).Run.Attempt)

	h.clock.Advance(time.Minute)
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: kids[1].ID, Input: json.RawMessage(`{"page":"<p>fixed</p>"}`)})
	require.NoError(t, err)
	k := h.claimRun(kids[1].ID, kids[1].Pipeline)
	require.Len(t, k.Checkpoints, 1)
	assert.Equal(t, store.StepPatched, k.Checkpoints[0].Status)
	h.finish(k.Lease, store.Succeeded)

	d := h.get(p.Run.ID)
	assert.Equal(t, store.Queued, d.Run.Status, "the child recovered: the parent is replayed, in the same call")
	assert.Equal(t, 2, d.Run.Attempt)
	assert.Empty(t, d.Run.Error)
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, store.DeadLettered, d.Attempts[0].Status)
	assert.Equal(t, storekit.RecoveredReason(kids[1].ID), d.Attempts[1].Reason)
	c = h.claimRun(p.Run.ID, pipeA)
	assert.Equal(t, 2, c.Lease.Attempt)
	require.Len(t, c.Checkpoints, 1, "replayed from the fork: the checkpoints before it are carried")
	assert.Equal(t, 0, c.Checkpoints[0].Index)
	assert.Equal(t, store.StepReused, c.Checkpoints[0].Status)
	assert.JSONEq(t, `{"name":"Ada"}`, string(c.Checkpoints[0].Output))
	h.fork(c.Lease, 0, kids)
	assert.Equal(t, store.Queued, h.status(p.Run.ID), "the join resumes with the child's result")
	assert.Equal(t, 3, h.get(kids[1].ID).Run.Attempt, "the recovered child is kept")
	h.finish(h.claimRun(p.Run.ID, pipeA).Lease, store.Succeeded)

	p2 := h.forkingParent()
	live := branches(p2.Run.ID, "live", 3, false)
	h.fork(p2.Lease, 0, live)
	h.failChild(live[0])
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: live[0].ID})
	require.NoError(t, err)
	h.end(live[1], store.Succeeded)
	h.end(live[2], store.Succeeded)
	assert.Equal(t, store.Waiting, h.status(p2.Run.ID), "the replayed child is live again: the parent waits for it")
	h.end(live[0], store.Succeeded)
	assert.Equal(t, store.Queued, h.status(p2.Run.ID))
	assert.Equal(t, 1, h.get(p2.Run.ID).Run.Attempt, "a waiting parent is queued, not replayed")

	h.finish(h.claimRun(p2.Run.ID, pipeA).Lease, store.Succeeded)

	// A parent that went on past its fork (it kept the successes) is left
	// as it is.
	p3 := h.forkingParent()
	gone := branches(p3.Run.ID, "gone", 1, false)
	h.fork(p3.Lease, 0, gone)
	h.failChild(gone[0])
	c = h.claimRun(p3.Run.ID, pipeA)
	h.checkpoint(c.Lease, forkIndex, forkStep, `{"label":"hot"}`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Step: "draft", Error: "boom", Class: retry.ClassPermanent}))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: gone[0].ID})
	require.NoError(t, err)
	h.end(gone[0], store.Succeeded)
	d = h.get(p3.Run.ID)
	assert.Equal(t, store.DeadLettered, d.Run.Status, "dead-lettered at draft, not at the fork")
	assert.Equal(t, 1, d.Run.Attempt)
}

// Prune deletes top-level succeeded runs with their branch runs; a branch
// run is never pruned alone, and does not count toward MaxRuns.
func testPruneBranches(t *testing.T, h *harness) {
	live := h.forkingParent()
	liveKids := branches(live.Run.ID, "other", 2, false)
	h.fork(live.Lease, 0, liveKids)
	h.end(liveKids[0], store.Succeeded)

	old := h.forkingParent()
	oldKids := branches(old.Run.ID, "sub", 2, false)
	h.fork(old.Lease, 0, oldKids)
	h.end(oldKids[0], store.Succeeded)
	h.failChild(oldKids[1])
	h.finish(h.claimRun(old.Run.ID, pipeA).Lease, store.Succeeded)
	h.clock.Advance(15 * 24 * time.Hour)

	recent := h.forkingParent()
	recentKids := branches(recent.Run.ID, "sub", 2, false)
	h.fork(recent.Lease, 0, recentKids)
	h.end(recentKids[0], store.Succeeded)
	h.end(recentKids[1], store.Succeeded)
	h.finish(h.claimRun(recent.Run.ID, pipeA).Lease, store.Succeeded)
	top := h.enqueue(pipeB)
	h.end(store.NewRun{ID: top.ID, Pipeline: pipeB}, store.Succeeded)

	n, err := h.s.Prune(h.ctx, store.Retention{MaxRuns: 2})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the old parent, with its two branch runs; branch runs do not count toward MaxRuns")
	for _, id := range []string{old.Run.ID, oldKids[0].ID, oldKids[1].ID} {
		_, err := h.s.GetRun(h.ctx, id)
		assert.ErrorIs(t, err, store.ErrNotFound, "run %s", id)
	}
	assert.Empty(t, h.branches(store.BranchQuery{Parent: old.Run.ID}))
	assert.Empty(t, h.list(store.RunFilter{Parent: old.Run.ID}))
	assert.Equal(t, store.Succeeded, h.status(liveKids[0].ID), "a succeeded child of a live parent is kept, however old")
	assert.Equal(t, store.Waiting, h.status(live.Run.ID))
	assert.Len(t, h.branches(store.BranchQuery{Parent: recent.Run.ID}), 2)

	newer := h.enqueue(pipeB)
	h.end(store.NewRun{ID: newer.ID, Pipeline: pipeB}, store.Succeeded)
	n, err = h.s.Prune(h.ctx, store.Retention{MaxRuns: 2})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the oldest of three recent successes goes by count, with its branch runs")
	for _, id := range []string{recent.Run.ID, recentKids[0].ID, recentKids[1].ID} {
		_, err := h.s.GetRun(h.ctx, id)
		assert.ErrorIs(t, err, store.ErrNotFound, "run %s", id)
	}
	h.get(top.ID)
	h.get(newer.ID)
	h.get(liveKids[0].ID)
}

// A branch run that keeps no payloads keeps its output: its parent joins
// it. A top-level run's output goes, as always.
func testBranchKeepsOutput(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 1, false)
	kids[0].KeepPayloads = false
	kids[0].Input = json.RawMessage(`{"email":"ada@example.com"}`)
	h.fork(p.Lease, 0, kids)
	k := h.claimRun(kids[0].ID, kids[0].Pipeline)
	h.checkpoint(k.Lease, 0, "fetch", `{"page":"secret"}`)
	last := rec(1, "summarise", store.StepSucceeded, `{"summary":"ok"}`)
	require.NoError(t, h.s.Finish(h.ctx, k.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: json.RawMessage(`{"summary":"ok"}`)}))

	d := h.get(kids[0].ID)
	assert.Nil(t, d.Run.Input, "the input is scrubbed")
	assert.Equal(t, store.Hash(kids[0].Input), d.Run.InputHash)
	assert.JSONEq(t, `{"summary":"ok"}`, string(d.Run.Output), "the output stays")
	for _, s := range d.Steps {
		assert.Nil(t, s.Output, "step %s", s.Step)
	}
	bs := h.branches(store.BranchQuery{Parent: p.Run.ID, Outputs: true})
	require.Len(t, bs, 1)
	assert.JSONEq(t, `{"summary":"ok"}`, string(bs[0].Output))
	assert.Equal(t, store.Hash(kids[0].Input), bs[0].InputHash)

	// Forked again with the same input, the scrubbed child is found as it is.
	c := h.claimRun(p.Run.ID, pipeA)
	h.fork(c.Lease, 0, kids)
	assert.Equal(t, store.Queued, h.status(p.Run.ID))
	assert.Equal(t, 1, h.get(kids[0].ID).Run.Attempt)

	top := h.enqueue(pipeB, func(nr *store.NewRun) { nr.KeepPayloads = false })
	h.end(store.NewRun{ID: top.ID, Pipeline: pipeB}, store.Succeeded)
	assert.Nil(t, h.get(top.ID).Run.Output, "a top-level run that keeps no payloads keeps no output")
}
