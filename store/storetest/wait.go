package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// The WaitRun cases. The fake clock drives leases only: a waiter is a
// real goroutine, and a wake-up is awaited on a channel with a generous
// timeout.

// wakeUp bounds how long a waiter may take to see a run's end.
const wakeUp = 10 * time.Second

type waited struct {
	run *store.Run
	err error
}

// waitFor starts WaitRun(ctx, id) in a goroutine and returns its answer's
// channel.
func (h *harness) waitFor(ctx context.Context, id string) <-chan waited {
	out := make(chan waited, 1)
	go func() {
		r, err := h.s.WaitRun(ctx, id)
		out <- waited{r, err}
	}()
	return out
}

// answer waits for a waiter's answer.
func (h *harness) answer(ch <-chan waited, what string) waited {
	h.t.Helper()
	select {
	case w := <-ch:
		return w
	case <-time.After(wakeUp):
		h.t.Fatalf("%s: WaitRun did not return within %s", what, wakeUp)
		return waited{}
	}
}

// stillWaiting requires that a waiter has not returned: the run it waits
// for is live.
func (h *harness) stillWaiting(ch <-chan waited, what string) {
	h.t.Helper()
	// Give the waiter time to read the run and block; if it answered
	// wrongly, the answer is there by now. The case passes either way the
	// scheduler goes when the store is right.
	time.Sleep(20 * time.Millisecond)
	select {
	case w := <-ch:
		h.t.Fatalf("%s: WaitRun returned for a live run: %+v, %v", what, w.run, w.err)
	default:
	}
}

// WaitRun returns at once the run that is in an end state, awaiting
// review included, and an unknown run is not found.
func testWaitRunEnded(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(h.ctx, wakeUp)
	defer cancel()
	ends := map[store.Status]string{}
	for _, st := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled} {
		r := h.enqueue(pipeA)
		h.finish(h.claimRun(r.ID, pipeA).Lease, st)
		ends[st] = r.ID
	}
	rv, _ := h.awaitReview(`{"label":"warm"}`)
	ends[store.AwaitingReview] = rv.ID
	q := h.enqueue(pipeA)
	h.cancel(q.ID, operator, why)
	for st, id := range ends {
		got, err := h.s.WaitRun(ctx, id)
		require.NoError(t, err, "a %s run", st)
		assert.Equal(t, id, got.ID)
		assert.Equal(t, st, got.Status)
	}
	got, err := h.s.WaitRun(ctx, q.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, got.Status)
	require.NotNil(t, got.Cancel, "the run as the store has it")
	assert.Equal(t, operator, got.Cancel.By)

	_, err = h.s.WaitRun(ctx, "no-such-run")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

// A waiter is woken by the write that ends the run, whichever it is, and
// not by the writes that leave it live.
func testWaitRunWakes(t *testing.T, h *harness) {
	ctx, cancel := context.WithTimeout(h.ctx, 3*wakeUp)
	defer cancel()
	type path struct {
		want store.Status
		end  func(c store.Claimed)
	}
	paths := map[string]path{
		"finish": {store.Succeeded, func(c store.Claimed) {
			require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"Hi"`)}))
		}},
		"dead letter": {store.DeadLettered, func(c store.Claimed) {
			require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Step: "classify", Error: "boom", Class: retry.ClassPermanent}))
		}},
		"park": {store.AwaitingReview, func(c store.Claimed) {
			require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.AwaitingReview, Step: "classify",
				Review: &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Proposed: json.RawMessage(`{"label":"warm"}`)}}))
		}},
		"cancel of a held run, then its release": {store.Cancelled, func(c store.Claimed) {
			h.cancel(c.Run.ID, operator, why)
			require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
		}},
		"cancel of a held run, then its lease expires": {store.Cancelled, func(c store.Claimed) {
			h.cancel(c.Run.ID, operator, why)
			h.clock.Advance(2 * lease)
			h.claim("w2", 10)
		}},
	}
	for what, p := range paths {
		r := h.enqueue(pipeA)
		ch := h.waitFor(ctx, r.ID)
		h.stillWaiting(ch, what+": queued")
		c := h.claimRun(r.ID, pipeA)
		h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
		_, err := h.s.Heartbeat(h.ctx, []store.Lease{c.Lease}, lease)
		require.NoError(t, err)
		h.stillWaiting(ch, what+": running")
		p.end(c)
		w := h.answer(ch, what)
		require.NoError(t, w.err, what)
		require.NotNil(t, w.run, what)
		assert.Equal(t, r.ID, w.run.ID, what)
		assert.Equal(t, p.want, w.run.Status, what)
	}

	// A queued run cancelled by an operator, and a waiting parent whose
	// cancellation ends its branches: each waiter is woken.
	parent := h.forkingParent()
	kids := branches(parent.Run.ID, "sub", 2, false)
	h.fork(parent.Lease, 0, kids)
	q := h.enqueue(pipeA)
	qch := h.waitFor(ctx, q.ID)
	pch, kch := h.waitFor(ctx, parent.Run.ID), h.waitFor(ctx, kids[1].ID)
	h.stillWaiting(qch, "queued")
	h.stillWaiting(pch, "waiting parent")
	h.stillWaiting(kch, "queued branch")
	h.cancel(q.ID, operator, why)
	w := h.answer(qch, "cancel")
	require.NoError(t, w.err)
	assert.Equal(t, store.Cancelled, w.run.Status)
	h.stillWaiting(pch, "another run's cancellation")
	h.cancel(parent.Run.ID, operator, why)
	for what, ch := range map[string]<-chan waited{"parent": pch, "branch": kch} {
		w := h.answer(ch, what)
		require.NoError(t, w.err, what)
		assert.Equal(t, store.Cancelled, w.run.Status, what)
	}

	// Many waiters on one run are all woken.
	r := h.enqueue(pipeA)
	var chs []<-chan waited
	for range 5 {
		chs = append(chs, h.waitFor(ctx, r.ID))
	}
	h.stillWaiting(chs[0], "many")
	h.finish(h.claimRun(r.ID, pipeA).Lease, store.Succeeded)
	for i, ch := range chs {
		w := h.answer(ch, "many")
		require.NoError(t, w.err, "waiter %d", i)
		assert.Equal(t, store.Succeeded, w.run.Status, "waiter %d", i)
	}
}

// WaitRun returns ctx's error when ctx ends first: cancelled while it
// waits, or already done.
func testWaitRunContext(t *testing.T, h *harness) {
	r := h.enqueue(pipeA)
	ctx, cancel := context.WithCancel(h.ctx)
	ch := h.waitFor(ctx, r.ID)
	h.stillWaiting(ch, "live")
	cancel()
	w := h.answer(ch, "cancelled context")
	assert.ErrorIs(t, w.err, context.Canceled)
	assert.Nil(t, w.run)

	dctx, dcancel := context.WithDeadline(h.ctx, time.Now().Add(-time.Second))
	defer dcancel()
	_, err := h.s.WaitRun(dctx, r.ID)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, errors.Is(err, store.ErrNotFound))
	assert.Equal(t, store.Queued, h.status(r.ID), "waiting changes nothing")
}
