package storekit

import (
	"context"
	"sync"

	"github.com/plumb-dev/plumb/store"
)

// Broadcast wakes every goroutine of this process waiting for runs to
// change (Ops.WaitRun): a store calls Notify after each write that may
// have ended a run, once it is visible to readers. The zero Broadcast is
// ready to use.
type Broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

// Next returns a channel closed at the next Notify. Take it before
// reading the state waited for, so that no change falls between the read
// and the wait.
func (b *Broadcast) Next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// Notify wakes every waiter; it never blocks.
func (b *Broadcast) Notify() {
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// WaitRun is Ops.WaitRun over a store's read of one run: it reads the run
// (read's errors, store.ErrNotFound included, are returned as they are)
// and returns it once WaitEnded says so, reading again each time next's
// channel is closed, until ctx ends. next is subscribed before each read,
// so that an end written between the read and the wait still wakes it.
func WaitRun(ctx context.Context, next func() <-chan struct{}, read func() (*store.Run, error)) (*store.Run, error) {
	for {
		woken := next()
		r, err := read()
		if err != nil {
			return nil, err
		}
		if WaitEnded(r.Status) {
			return r, nil
		}
		select {
		case <-woken:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
