package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Digest defaults, as documented on DigestConfig's fields.
const (
	DefaultDigestWindow  = time.Minute
	DefaultDigestSamples = 5
)

// DigestConfig configures a Digest. Its zero value is usable.
type DigestConfig struct {
	// Window is how long the events of a group are collected after the
	// group's first event went out. Defaults to 1 minute.
	Window time.Duration
	// Samples is how many run ids a digest carries. Defaults to 5.
	Samples int
	// Clock is the time source of windows and of the flush loop. Defaults to
	// retry.SystemClock.
	Clock retry.Clock
	// ManualFlush stops Notify from starting the background flush loop: the
	// caller runs Run itself or calls Flush. Tests that move a
	// retrytest.Clock set it, since that clock's Sleep returns at once and a
	// loop would race ahead of the test. Defaults to false.
	ManualFlush bool
	// OnError is called when the flush loop fails to send a digest to the
	// next notifier. Defaults to a log warning only.
	OnError func(Event, error)
	// Logger receives a warning for every digest the flush loop failed to
	// send. Defaults to slog.Default().
	Logger *slog.Logger
}

// Digest is a Notifier that keeps a burst of alike events from becoming a
// burst of messages. Events are grouped by kind, pipeline, step and class.
// The first event of a group goes to the next notifier at once, so the first
// sign of trouble is never delayed; the rest that arrive within the window
// are collected and sent as one digest event when the window closes. The
// next event after that starts a fresh window and goes out at once again. So
// 500 dead letters in a minute make two messages, not 500.
//
// A digest event has the group's kind, pipeline, step and class, Count (how
// many events it stands for), up to Samples run ids, and a Reason such as
// "499 more dead_lettered in 1m at step enrich (contract); first: ...". A
// window in which only one more event arrived sends that event unchanged.
// Close it when done: Close stops the flush loop and sends what is pending.
type Digest struct {
	next    Notifier
	window  time.Duration
	samples int
	clock   retry.Clock
	cfg     DigestConfig
	logger  *slog.Logger

	mu      sync.Mutex
	groups  map[groupKey]*group
	running bool // a flush loop runs (started by Notify or Run)
	closed  bool

	stop     context.Context // ends at Close; every flush loop watches it
	stopLoop context.CancelFunc
	loops    sync.WaitGroup
}

var _ Notifier = (*Digest)(nil)

type groupKey struct {
	kind                  Kind
	pipeline, step, class string
}

type group struct {
	start   time.Time // when the group's first event went out
	n       int       // events collected since
	held    Event     // the first event collected
	samples []string
	last    time.Time
	link    string
}

// NewDigest returns a Digest that sends to next.
func NewDigest(next Notifier, cfg DigestConfig) *Digest {
	d := &Digest{next: next, window: cfg.Window, samples: cfg.Samples, clock: cfg.Clock, cfg: cfg,
		logger: loggerOrDefault(cfg.Logger), groups: make(map[groupKey]*group)}
	if d.window <= 0 {
		d.window = DefaultDigestWindow
	}
	if d.samples <= 0 {
		d.samples = DefaultDigestSamples
	}
	if d.clock == nil {
		d.clock = retry.SystemClock
	}
	d.stop, d.stopLoop = context.WithCancel(context.Background())
	return d
}

// Notify sends e at once when it is the first of its group in a window, and
// otherwise collects it for the group's digest. It returns the next
// notifier's error for what it sent. After Close, events pass straight
// through.
func (d *Digest) Notify(ctx context.Context, e Event) error {
	now := d.clock.Now()
	if e.At.IsZero() {
		e.At = now
	}
	k := groupKey{e.Kind, e.Pipeline, e.Step, e.Class}
	var out []Event
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return safeNotify(ctx, d.next, e)
	}
	if !d.running && !d.cfg.ManualFlush {
		d.running = true
		d.loops.Go(func() { d.loop(d.stop) })
	}
	g := d.groups[k]
	if g != nil && !now.Before(g.start.Add(d.window)) {
		// The window closed before a flush noticed; its digest goes first.
		if de, ok := g.digest(k, d.window); ok {
			out = append(out, de)
		}
		g = nil
	}
	if g == nil {
		d.groups[k] = &group{start: now}
		out = append(out, e)
	} else {
		g.add(e, d.samples)
	}
	d.mu.Unlock()
	var errs []error
	for _, ev := range out {
		if err := safeNotify(ctx, d.next, ev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (g *group) add(e Event, samples int) {
	if g.n == 0 {
		g.held = e
	}
	g.n += max(1, e.Count)
	ids := e.Samples
	if e.RunID != "" {
		ids = []string{e.RunID}
	}
	for _, id := range ids {
		if len(g.samples) < samples {
			g.samples = append(g.samples, id)
		}
	}
	if e.At.After(g.last) {
		g.last = e.At
	}
	if e.Link != "" {
		g.link = e.Link
	}
}

// digest is the event that stands for what the group collected, if anything.
func (g *group) digest(k groupKey, window time.Duration) (Event, bool) {
	switch {
	case g.n == 0:
		return Event{}, false
	case g.n == 1:
		return g.held, true
	}
	reason := fmt.Sprintf("%d more %s in %s", g.n, k.kind, humanDuration(window))
	if k.step != "" {
		reason += " at step " + k.step
	}
	if k.class != "" {
		reason += " (" + k.class + ")"
	}
	if g.held.Reason != "" {
		reason += "; first: " + g.held.Reason
	}
	return Event{Kind: k.kind, Pipeline: k.pipeline, Step: k.step, Class: k.class, Reason: reason,
		Link: g.link, At: g.last, Count: g.n, Samples: g.samples}, true
}

type sent struct {
	e   Event
	err error
}

// Flush sends the digest of every group whose window has closed by now, and
// forgets those groups so that their next event goes out at once. The flush
// loop calls it; tests call it with the time they choose. It returns the
// next notifier's errors, joined.
func (d *Digest) Flush(now time.Time) error {
	return joinSent(d.flush(context.Background(), now, false))
}

func (d *Digest) flush(ctx context.Context, now time.Time, all bool) []sent {
	type due struct {
		start time.Time
		e     Event
	}
	var out []due
	d.mu.Lock()
	for k, g := range d.groups {
		if all || !now.Before(g.start.Add(d.window)) {
			if e, ok := g.digest(k, d.window); ok {
				out = append(out, due{g.start, e})
			}
			delete(d.groups, k)
		}
	}
	d.mu.Unlock()
	// Oldest window first, then by group, so the order does not depend on
	// map iteration.
	slices.SortFunc(out, func(a, b due) int {
		return cmp.Or(a.start.Compare(b.start), cmp.Compare(a.e.Kind, b.e.Kind),
			cmp.Compare(a.e.Pipeline, b.e.Pipeline), cmp.Compare(a.e.Step, b.e.Step), cmp.Compare(a.e.Class, b.e.Class))
	})
	res := make([]sent, 0, len(out))
	for _, o := range out {
		res = append(res, sent{o.e, safeNotify(ctx, d.next, o.e)})
	}
	return res
}

func joinSent(ss []sent) error {
	var errs []error
	for _, s := range ss {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	return errors.Join(errs...)
}

// Run flushes closed windows as they close, until ctx ends or Close is
// called. It is needed only with ManualFlush; otherwise the first Notify
// starts the same loop, and Run then just waits. It returns ctx's error, or
// nil after Close.
func (d *Digest) Run(ctx context.Context) error {
	d.mu.Lock()
	start := !d.running && !d.closed
	d.running = true
	if start {
		d.loops.Add(1) // under the lock, so that Close's Wait sees it
	}
	d.mu.Unlock()
	if start {
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		unhook := context.AfterFunc(d.stop, cancel)
		defer unhook()
		d.loop(lctx)
		d.loops.Done()
	} else {
		select {
		case <-ctx.Done():
		case <-d.stop.Done():
		}
	}
	if d.stop.Err() != nil {
		return nil
	}
	return ctx.Err()
}

func (d *Digest) loop(ctx context.Context) {
	for {
		// Sleeping to the earliest deadline, or a whole window when idle,
		// never oversleeps: a group made during the sleep closes later.
		now := d.clock.Now()
		wait := d.window
		d.mu.Lock()
		for _, g := range d.groups {
			wait = min(wait, g.start.Add(d.window).Sub(now))
		}
		d.mu.Unlock()
		if err := d.clock.Sleep(ctx, wait); err != nil {
			return
		}
		for _, s := range d.flush(ctx, d.clock.Now(), false) {
			if s.err != nil {
				d.logger.LogAttrs(context.Background(), slog.LevelWarn, "notify: digest not sent",
					slog.String("error", s.err.Error()), slog.String("event", string(s.e.Kind)),
					slog.String("pipeline", s.e.Pipeline), slog.Int("count", s.e.Count))
				callHook(d.cfg.OnError, s.e, s.err, d.logger)
			}
		}
	}
}

// Close stops the flush loop and sends every pending digest at once, window
// closed or not, since the process is going away. Later events pass
// straight through. It returns the next notifier's errors, joined. Close a
// Digest before the Webhook it feeds, so the webhook can still deliver them.
func (d *Digest) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.stopLoop()
	d.loops.Wait()
	return joinSent(d.flush(ctx, d.clock.Now(), true))
}
