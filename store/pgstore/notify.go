package pgstore

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifier decides which writes notify the channel in their own
// transaction. A transaction that notifies takes, at commit, a lock that
// serialises every notifying commit of the database, so notifying on each
// of many concurrent enqueues would cap their throughput. Instead at most
// one write per NotifyEvery notifies in its transaction (an idle store's
// first write wakes workers at once); a write in between leaves its
// pipeline pending, and one notification per pending pipeline goes out
// when the interval ends. It is sent after the commits it stands for, so
// no wake-up arrives before the run it announces is visible.
type notifier struct {
	s     *Store
	every time.Duration

	mu       sync.Mutex
	last     time.Time
	pending  map[string]struct{}
	timer    *time.Timer
	stopped  bool
	flushing sync.WaitGroup
}

func newNotifier(s *Store) *notifier {
	return &notifier{s: s, every: s.cfg.NotifyEvery, pending: map[string]struct{}{}}
}

// inTx reports whether the next write should notify in its transaction.
func (n *notifier) inTx() bool {
	if n.every < 0 {
		return true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now() // real time, not Config.Clock: this paces the server, it stamps no record
	if now.Sub(n.last) >= n.every {
		n.last = now
		return true
	}
	return false
}

// committed is called after a write that made runs of pipelines claimable
// committed without notifying: a notification follows.
func (n *notifier) committed(pipelines ...string) {
	if len(pipelines) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	for _, p := range pipelines {
		n.pending[p] = struct{}{}
	}
	if n.timer == nil {
		n.flushing.Add(1)
		n.timer = time.AfterFunc(max(0, time.Until(n.last.Add(n.every))), n.flush)
	}
}

// flush sends the pending notifications.
func (n *notifier) flush() {
	defer n.flushing.Done()
	n.mu.Lock()
	pending := slices.Collect(maps.Keys(n.pending))
	clear(n.pending)
	n.timer = nil
	n.last = time.Now()
	n.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	for range 2 { // a second try gets a fresh connection if the first one had died
		if _, err = n.s.pool.Exec(ctx, n.s.q.notify, n.s.cfg.Channel, pending); err == nil {
			return
		}
	}
	// Workers poll: the runs are found, only later.
	n.s.log.Warn("pgstore: could not notify the workers", slog.String("channel", n.s.cfg.Channel), slog.String("error", err.Error()))
}

// stop sends what is pending at once and waits for it; later writes
// schedule nothing.
func (n *notifier) stop() {
	n.mu.Lock()
	n.stopped = true
	t := n.timer
	n.mu.Unlock()
	if t != nil && t.Stop() {
		n.flush()
	}
	n.flushing.Wait()
}

// listener holds the one LISTEN connection of a store, outside the pool,
// on both its channels: Config.Channel, whose notifications it fans out
// to the subscribers (idle workers), and Config.EndChannel, whose payload
// is a run that ended, which wakes the waiters of that run (WaitRun). It
// reconnects when the connection drops, and then wakes every subscriber
// and every waiter: notifications sent meanwhile were lost.
type listener struct {
	s *Store

	mu      sync.Mutex
	subs    map[chan struct{}]struct{}
	waits   map[string]map[*waiter]struct{}
	started bool
	ready   chan struct{} // closed after the first connection attempt
	once    sync.Once
	cancel  context.CancelFunc
	done    chan struct{}
	stopped chan struct{} // closed by stop
}

// waiter is one WaitRun's subscription to its run's end: c holds a wake-up
// until the waiter reads the run again.
type waiter struct {
	id string
	c  chan struct{}
}

func newListener(s *Store) *listener {
	return &listener{s: s, subs: map[chan struct{}]struct{}{}, waits: map[string]map[*waiter]struct{}{},
		ready: make(chan struct{}), stopped: make(chan struct{})}
}

// start starts the LISTEN connection once; l.mu is held.
func (l *listener) start() {
	if l.started {
		return
	}
	l.started = true
	bg, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go l.run(bg)
}

// await subscribes to the end of run id, starting the LISTEN connection if
// it is not yet; the caller waits for l.ready before its first read.
func (l *listener) await(id string) *waiter {
	w := &waiter{id: id, c: make(chan struct{}, 1)}
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.waits[id]
	if set == nil {
		set = map[*waiter]struct{}{}
		l.waits[id] = set
	}
	set[w] = struct{}{}
	l.start()
	return w
}

func (l *listener) forget(w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set := l.waits[w.id]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(l.waits, w.id)
		}
	}
}

// ended wakes the waiters of run id, or with all every waiter.
func (l *listener) ended(id string, all bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wake := func(set map[*waiter]struct{}) {
		for w := range set {
			select {
			case w.c <- struct{}{}:
			default: // a wake-up is already waiting
			}
		}
	}
	if !all {
		wake(l.waits[id])
		return
	}
	for _, set := range l.waits {
		wake(set)
	}
}

// Subscribe returns a channel that receives a value whenever runs may have
// become claimable, from any process: it LISTENs on the store's channel on
// a connection of its own, shared by all subscribers and kept from the
// first Subscribe until Close. The first call waits for that connection
// (or its first failure: it is then retried in the background, and the
// workers' polling covers the gap). The channel is closed when ctx ends or
// the store closes.
func (s *Store) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	c := make(chan struct{}, 1)
	l := s.wake
	l.mu.Lock()
	l.subs[c] = struct{}{}
	l.start()
	l.mu.Unlock()
	s.leave()
	context.AfterFunc(ctx, func() { l.remove(c) })
	select {
	case <-l.ready:
	case <-ctx.Done():
	}
	return c, nil
}

func (l *listener) remove(c chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.subs[c]; ok {
		delete(l.subs, c)
		close(c)
	}
}

func (l *listener) broadcast() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.subs {
		select {
		case c <- struct{}{}:
		default: // a wake-up is already waiting
		}
	}
}

func (l *listener) stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	for c := range l.subs {
		delete(l.subs, c)
		close(c)
	}
	close(l.stopped)
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Liveness of an idle LISTEN connection is checked this often: a peer
// that vanished without closing the connection would otherwise go
// unnoticed.
const listenPing = 30 * time.Second

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	ready := func() { l.once.Do(func() { close(l.ready) }) }
	defer ready()
	first := true
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := l.connect(ctx)
		if first {
			first = false
			ready()
		} else if err == nil {
			// Notifications may have been lost while down: every worker
			// looks for work, every waiter reads its run again.
			l.broadcast()
			l.ended("", true)
		}
		if err != nil {
			if ctx.Err() == nil {
				l.s.log.Warn("pgstore: cannot LISTEN for wake-ups; retrying (workers poll meanwhile)",
					slog.String("store", l.s.where), slog.String("error", err.Error()))
			}
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		err = l.wait(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		if ctx.Err() == nil {
			l.s.log.Warn("pgstore: the LISTEN connection dropped; reconnecting",
				slog.String("store", l.s.where), slog.String("error", err.Error()))
		}
	}
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	cc := l.s.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, err
	}
	for _, ch := range []string{l.s.cfg.Channel, l.s.cfg.EndChannel} {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			_ = conn.Close(ctx)
			return nil, err
		}
	}
	return conn, nil
}

// wait relays notifications until the connection fails or ctx ends.
func (l *listener) wait(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil && n.Channel == l.s.cfg.EndChannel:
			l.ended(n.Payload, false)
		case err == nil:
			l.broadcast()
		case ctx.Err() != nil:
			return ctx.Err()
		case wctx.Err() != nil && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
