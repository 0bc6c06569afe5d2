package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

// sink is a Notifier that keeps what it was told and, if ch is set, passes
// it on.
type sink struct {
	mu     sync.Mutex
	events []notify.Event
	ch     chan notify.Event
	err    error
}

func (s *sink) Notify(_ context.Context, e notify.Event) error {
	s.mu.Lock()
	s.events = append(s.events, e)
	err := s.err
	s.mu.Unlock()
	if s.ch != nil {
		s.ch <- e
	}
	return err
}

func (s *sink) got() []notify.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notify.Event(nil), s.events...)
}

func newDigest(next notify.Notifier) (*notify.Digest, *retrytest.Clock) {
	clock := retrytest.NewClock(t0)
	return notify.NewDigest(next, notify.DigestConfig{Clock: clock, ManualFlush: true}), clock
}

func letter(i int) notify.Event {
	e := deadLetter
	e.RunID = fmt.Sprintf("run-%d", i)
	e.Reason = fmt.Sprintf("bad email in lead %d", i)
	return e
}

func TestDigestCollapsesABurst(t *testing.T) {
	s := &sink{}
	d, clock := newDigest(s)
	ctx := context.Background()
	for i := range 500 {
		e := letter(i)
		e.At = clock.Now()
		require.NoError(t, d.Notify(ctx, e))
		clock.Advance(100 * time.Millisecond) // 500 events in 50 s
	}
	require.Len(t, s.got(), 1, "the first goes out at once")
	assert.Equal(t, letter(0), s.got()[0])

	require.NoError(t, d.Flush(t0.Add(59*time.Second)))
	require.Len(t, s.got(), 1, "the window is still open")

	require.NoError(t, d.Flush(t0.Add(time.Minute)))
	got := s.got()
	require.Len(t, got, 2, "500 events, 2 messages")
	dg := got[1]
	assert.Equal(t, notify.DeadLettered, dg.Kind)
	assert.Equal(t, "leads", dg.Pipeline)
	assert.Equal(t, "enrich", dg.Step)
	assert.Equal(t, "contract", dg.Class)
	assert.Equal(t, 499, dg.Count)
	assert.Equal(t, []string{"run-1", "run-2", "run-3", "run-4", "run-5"}, dg.Samples)
	assert.Equal(t, "499 more dead_lettered in 1m at step enrich (contract); first: bad email in lead 1", dg.Reason)
	assert.Empty(t, dg.RunID)
	assert.Equal(t, deadLetter.Link, dg.Link)
	assert.Equal(t, t0.Add(49900*time.Millisecond), dg.At, "the time of the last event")

	require.NoError(t, d.Flush(t0.Add(time.Hour)))
	assert.Len(t, s.got(), 2, "a flushed digest is not sent twice")
}

func TestDigestGroupsSeparately(t *testing.T) {
	s := &sink{}
	d, _ := newDigest(s)
	ctx := context.Background()
	other := func(mut func(*notify.Event)) notify.Event {
		e := letter(9)
		mut(&e)
		return e
	}
	events := []notify.Event{
		letter(1), letter(2), letter(3),
		other(func(e *notify.Event) { e.Pipeline = "content" }),
		other(func(e *notify.Event) { e.Step = "score" }),
		other(func(e *notify.Event) { e.Class = "transient" }),
		other(func(e *notify.Event) { e.Kind = notify.ReviewNeeded }),
	}
	for _, e := range events {
		require.NoError(t, d.Notify(ctx, e))
	}
	assert.Equal(t, []notify.Event{events[0], events[3], events[4], events[5], events[6]}, s.got(),
		"the first of each group goes out at once")

	require.NoError(t, d.Flush(t0.Add(time.Minute)))
	got := s.got()
	require.Len(t, got, 6)
	assert.Equal(t, 2, got[5].Count)
	assert.Equal(t, []string{"run-2", "run-3"}, got[5].Samples)
}

func TestDigestNextWindowStartsFresh(t *testing.T) {
	s := &sink{}
	d, clock := newDigest(s)
	ctx := context.Background()
	require.NoError(t, d.Notify(ctx, letter(1)))
	require.NoError(t, d.Notify(ctx, letter(2)))
	require.NoError(t, d.Notify(ctx, letter(3)))
	clock.Advance(time.Minute)
	require.NoError(t, d.Flush(clock.Now()))
	require.Len(t, s.got(), 2)

	require.NoError(t, d.Notify(ctx, letter(4)))
	require.Len(t, s.got(), 3, "the first event after a window goes out at once")
	assert.Equal(t, letter(4), s.got()[2])
}

func TestDigestWindowClosedWithoutFlush(t *testing.T) {
	s := &sink{}
	d, clock := newDigest(s)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		require.NoError(t, d.Notify(ctx, letter(i)))
	}
	clock.Advance(2 * time.Minute) // no loop ran
	require.NoError(t, d.Notify(ctx, letter(4)))
	got := s.got()
	require.Len(t, got, 3)
	assert.Equal(t, 2, got[1].Count, "the old window's digest goes first")
	assert.Equal(t, letter(4), got[2])
}

func TestDigestOfOneIsTheEventItself(t *testing.T) {
	s := &sink{}
	d, _ := newDigest(s)
	require.NoError(t, d.Notify(context.Background(), letter(1)))
	require.NoError(t, d.Notify(context.Background(), letter(2)))
	require.NoError(t, d.Flush(t0.Add(time.Minute)))
	assert.Equal(t, []notify.Event{letter(1), letter(2)}, s.got())
}

func TestDigestCloseFlushesPending(t *testing.T) {
	s := &sink{}
	d, _ := newDigest(s)
	ctx := context.Background()
	for i := range 4 {
		require.NoError(t, d.Notify(ctx, letter(i)))
	}
	require.NoError(t, d.Close(ctx))
	got := s.got()
	require.Len(t, got, 2)
	assert.Equal(t, 3, got[1].Count)

	require.NoError(t, d.Notify(ctx, letter(9)))
	assert.Len(t, s.got(), 3, "after Close events pass straight through")
}

func TestDigestReturnsNextErrors(t *testing.T) {
	boom := errors.New("boom")
	s := &sink{err: boom}
	d, _ := newDigest(s)
	assert.ErrorIs(t, d.Notify(context.Background(), letter(1)), boom)
	require.NoError(t, d.Notify(context.Background(), letter(2)), "collected, not sent")
	require.NoError(t, d.Notify(context.Background(), letter(3)))
	assert.ErrorIs(t, d.Flush(t0.Add(time.Minute)), boom)
}

func TestDigestRunFlushesOnTheClock(t *testing.T) {
	s := &sink{ch: make(chan notify.Event, 10)}
	d, _ := newDigest(s)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, d.Notify(ctx, letter(i)))
	}
	<-s.ch // the first

	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	// retrytest.Clock's Sleep returns at once, moving time to the window's end.
	go func() { ran <- d.Run(runCtx) }()
	dg := <-s.ch
	assert.Equal(t, 2, dg.Count)
	cancel()
	assert.ErrorIs(t, <-ran, context.Canceled)
	require.NoError(t, d.Close(ctx))
}

// gateClock is a clock whose Sleep waits until the test wakes it, so the
// digest's own loop can be driven step by step.
type gateClock struct {
	*retrytest.Clock
	asleep chan time.Duration
	wake   chan struct{}
}

func (c *gateClock) Sleep(ctx context.Context, d time.Duration) error {
	c.asleep <- d
	select {
	case <-c.wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestDigestStartsItsLoopOnFirstNotify(t *testing.T) {
	clock := &gateClock{Clock: retrytest.NewClock(t0), asleep: make(chan time.Duration), wake: make(chan struct{})}
	s := &sink{ch: make(chan notify.Event, 10)}
	var failed []error
	d := notify.NewDigest(s, notify.DigestConfig{Clock: clock, Window: 30 * time.Second,
		Logger: slog.New(slog.DiscardHandler), OnError: func(_ notify.Event, err error) { failed = append(failed, err) }})
	ctx := context.Background()

	require.NoError(t, d.Notify(ctx, letter(1)))
	<-s.ch
	assert.Equal(t, 30*time.Second, <-clock.asleep, "the loop sleeps until the window closes")
	require.NoError(t, d.Notify(ctx, letter(2)))
	require.NoError(t, d.Notify(ctx, letter(3)))

	clock.Advance(30 * time.Second)
	clock.wake <- struct{}{}
	dg := <-s.ch
	assert.Equal(t, 2, dg.Count)
	assert.Contains(t, dg.Reason, "2 more dead_lettered in 30s")
	assert.Equal(t, 30*time.Second, <-clock.asleep, "idle: a whole window")

	require.NoError(t, d.Close(ctx))
	assert.Empty(t, failed)
	assert.NoError(t, d.Run(ctx), "Run after Close returns at once")
}
