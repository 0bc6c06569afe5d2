package storekit_test

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
	"github.com/plumb-dev/plumb/store/storekit"
)

var at = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

func TestPlanCancel(t *testing.T) {
	tests := []struct {
		status store.Status
		want   storekit.CancelAction
	}{
		{store.Queued, storekit.CancelEnd},
		{store.Waiting, storekit.CancelEnd},
		{store.AwaitingReview, storekit.CancelEnd},
		{store.Held, storekit.CancelEnd},
		{store.Running, storekit.CancelMark},
	}
	for _, tt := range tests {
		got, err := storekit.PlanCancel(&store.Run{ID: "r1", Status: tt.status})
		require.NoError(t, err, tt.status)
		assert.Equal(t, tt.want, got, tt.status)
		assert.Equal(t, tt.want, storekit.ChildCancel(tt.status), tt.status)
	}
	for _, st := range []store.Status{store.Succeeded, store.DeadLettered, store.Cancelled} {
		got, err := storekit.PlanCancel(&store.Run{ID: "r1", Status: st})
		assert.Equal(t, storekit.CancelNone, got, st)
		var fe *store.FinalError
		require.True(t, errors.As(err, &fe), "%s: %v", st, err)
		assert.Equal(t, "cancel", fe.Op)
		assert.Equal(t, "r1", fe.RunID)
		assert.ErrorIs(t, err, store.ErrFinal)
		assert.ErrorIs(t, err, store.ErrConflict)
		assert.Equal(t, storekit.CancelNone, storekit.ChildCancel(st), "an ended child is left")
	}
}

func TestCancelError(t *testing.T) {
	assert.Equal(t, "cancelled by ana: duplicate", storekit.CancelError(store.Cancellation{By: "ana", Reason: "duplicate"}))
	assert.Equal(t, "cancelled by ana", storekit.CancelError(store.Cancellation{By: "ana"}))
}

func TestMarkCancel(t *testing.T) {
	r := &store.Run{ID: "r1", Status: store.Running, LeaseToken: "w#1", UpdatedAt: at}
	first := store.Cancellation{By: "ana", Reason: "duplicate", At: at.Add(time.Second)}
	assert.True(t, storekit.MarkCancel(r, first, at.Add(time.Second)))
	assert.Equal(t, first, *r.Cancel)
	assert.True(t, r.UpdatedAt.Equal(at.Add(time.Second)))
	assert.Equal(t, store.Running, r.Status, "only marked")
	assert.Equal(t, "w#1", r.LeaseToken, "the lease stays the worker's")

	assert.False(t, storekit.MarkCancel(r, store.Cancellation{By: "bob", At: at.Add(time.Minute)}, at.Add(time.Minute)))
	assert.Equal(t, first, *r.Cancel, "the first cancellation stands")
	assert.True(t, r.UpdatedAt.Equal(at.Add(time.Second)), "a second one changes nothing")
}

func TestEndCancelled(t *testing.T) {
	now := at.Add(time.Hour)
	asked := store.Cancellation{By: "ana", Reason: "duplicate", At: at}
	r := &store.Run{ID: "r1", Status: store.Queued, Step: "classify", Error: "HTTP 503", Class: retry.ClassTransient,
		Input: json.RawMessage(`{"email":"a@b"}`), NotBefore: now.Add(time.Hour)}
	recs := []store.StepRecord{{Index: 0, Step: "parse", Status: store.StepSucceeded, Input: json.RawMessage(`{}`), Output: json.RawMessage(`{"x":1}`)}}
	from := storekit.EndCancelled(r, asked, recs, now)
	assert.Equal(t, store.Queued, from)
	assert.Equal(t, store.Cancelled, r.Status)
	assert.Equal(t, asked, *r.Cancel)
	assert.Equal(t, "cancelled by ana: duplicate", r.Error)
	assert.Equal(t, retry.ClassCancelled, r.Class)
	assert.Equal(t, "classify", r.Step, "where it stopped")
	assert.True(t, r.FinishedAt.Equal(now))
	assert.True(t, r.UpdatedAt.Equal(now))
	assert.True(t, r.NotBefore.IsZero())
	assert.Nil(t, r.Input, "a run that keeps no payloads is scrubbed")
	assert.Equal(t, store.Hash([]byte(`{"email":"a@b"}`)), r.InputHash)
	assert.Nil(t, recs[0].Output)

	// A marked run ends under the cancellation it carries, its lease gone.
	marked := &store.Run{ID: "r2", Status: store.Running, Cancel: &asked, LeaseOwner: "w", LeaseToken: "w#1",
		LeaseExpires: now, KeepPayloads: true, Input: json.RawMessage(`{}`)}
	from = storekit.EndCancelled(marked, store.Cancellation{By: "parent p", At: now}, nil, now)
	assert.Equal(t, store.Running, from)
	assert.Equal(t, asked, *marked.Cancel)
	assert.Equal(t, "cancelled by ana: duplicate", marked.Error)
	assert.Empty(t, marked.LeaseOwner)
	assert.Empty(t, marked.LeaseToken)
	assert.True(t, marked.LeaseExpires.IsZero())
	assert.JSONEq(t, `{}`, string(marked.Input), "a run that keeps its payloads keeps them")

	a := &store.RunAttempt{Attempt: 1, Status: store.Queued, Input: json.RawMessage(`{"email":"a@b"}`)}
	storekit.EndAttempt(a, r)
	assert.Equal(t, store.Cancelled, a.Status)
	assert.Equal(t, r.Error, a.Error)
	assert.Equal(t, retry.ClassCancelled, a.Class)
	assert.Equal(t, "classify", a.Step)
	assert.True(t, a.FinishedAt.Equal(now))
	assert.Nil(t, a.Input, "a final attempt of a run that keeps no payloads keeps no input")
}

func TestChildCancellation(t *testing.T) {
	asked := &store.Run{ID: "p1", Status: store.Cancelled, Error: "cancelled by ana: duplicate", Cancel: &store.Cancellation{By: "ana", Reason: "duplicate", At: at}}
	assert.Equal(t, store.Cancellation{By: "parent p1", Reason: "duplicate", At: at.Add(time.Minute)},
		storekit.ChildCancellation(asked, at.Add(time.Minute)), "the parent's reason, asked now")
	byWorker := &store.Run{ID: "p2", Status: store.Cancelled, Error: "context canceled"}
	assert.Equal(t, store.Cancellation{By: "parent p2", Reason: "context canceled", At: at},
		storekit.ChildCancellation(byWorker, at), "no one asked: the parent's error")
}

func TestCancelledWrite(t *testing.T) {
	err := storekit.CancelledWrite("checkpoint", "r1")
	assert.ErrorIs(t, err, store.ErrCancelled)
	assert.NotErrorIs(t, err, store.ErrLeaseLost)
	assert.Contains(t, err.Error(), "checkpoint run r1")
}

func TestWaitEnded(t *testing.T) {
	for st, want := range map[store.Status]bool{store.Queued: false, store.Running: false, store.Waiting: false,
		store.Succeeded: true, store.DeadLettered: true, store.Cancelled: true, store.AwaitingReview: true, store.Held: true} {
		assert.Equal(t, want, storekit.WaitEnded(st), st)
	}
}

func TestWaitRun(t *testing.T) {
	var b storekit.Broadcast
	status := make(chan store.Status, 1)
	status <- store.Queued
	read := func() (*store.Run, error) {
		st := <-status
		status <- st
		return &store.Run{ID: "r1", Status: st}, nil
	}
	done := make(chan *store.Run, 1)
	go func() {
		r, err := storekit.WaitRun(context.Background(), b.Next, read)
		assert.NoError(t, err)
		done <- r
	}()
	// A notification with the run still live wakes the waiter, which reads
	// again and goes on waiting.
	b.Notify()
	<-status
	status <- store.Succeeded
	b.Notify()
	select {
	case r := <-done:
		assert.Equal(t, store.Succeeded, r.Status)
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken")
	}

	_, err := storekit.WaitRun(context.Background(), b.Next, func() (*store.Run, error) { return nil, store.ErrNotFound })
	assert.ErrorIs(t, err, store.ErrNotFound)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = storekit.WaitRun(ctx, b.Next, func() (*store.Run, error) { return &store.Run{Status: store.Running}, nil })
	assert.ErrorIs(t, err, context.Canceled)
	r, err := storekit.WaitRun(ctx, b.Next, func() (*store.Run, error) { return &store.Run{Status: store.AwaitingReview}, nil })
	require.NoError(t, err, "an ended run is returned even when ctx has ended")
	assert.Equal(t, store.AwaitingReview, r.Status)
}

func TestBroadcastWakesEveryWaiter(t *testing.T) {
	var b storekit.Broadcast
	first, second := b.Next(), b.Next()
	b.Notify()
	for i, ch := range []<-chan struct{}{first, second} {
		select {
		case <-ch:
		default:
			t.Errorf("waiter %d was not woken", i)
		}
	}
	after := b.Next()
	select {
	case <-after:
		t.Error("a waiter that subscribed after the notification was woken by it")
	default:
	}
	b.Notify()
	b.Notify() // with no one subscribed: nothing to wake, never blocks
}
