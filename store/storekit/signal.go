package storekit

import (
	"context"
	"sync"
)

// Signal is a Waker for stores whose writes all happen in this process
// (memstore, and a SQLite file used by one process): the store calls Notify
// when runs may have become claimable, and every subscriber is woken. The
// zero Signal is ready to use.
type Signal struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel woken by Notify until ctx ends.
func (s *Signal) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan struct{}]struct{}{}
	}
	s.subs[c] = struct{}{}
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs, c)
		close(c) // lets a subscriber ranging over c stop
		s.mu.Unlock()
	})
	return c, nil
}

// Notify wakes every subscriber; it never blocks.
func (s *Signal) Notify() {
	s.mu.Lock()
	for c := range s.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()
}
