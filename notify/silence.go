package notify

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// DefaultSilenceCheck is how often Run checks when given no interval.
const DefaultSilenceCheck = time.Minute

// SilenceConfig configures a SilenceWatch. Its zero value is usable.
type SilenceConfig struct {
	// Clock is the time source of Expect and Run. Defaults to
	// retry.SystemClock.
	Clock retry.Clock
	// OnError is called when Run fails to send a silent event. Defaults to
	// a log warning only.
	OnError func(Event, error)
	// Logger receives a warning for every silent event Run failed to send.
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// SilenceWatch notices what no failure reports: a pipeline that stopped
// receiving runs, because a cron job died, a form lost its webhook or a
// queue stopped feeding it. Each watched pipeline has an expected interval;
// when its last run is older than that, one silent event goes to the next
// notifier. It is sent once per silence, and again only after a run arrived
// and a new silence began.
type SilenceWatch struct {
	next   Notifier
	clock  retry.Clock
	cfg    SilenceConfig
	logger *slog.Logger

	mu    sync.Mutex
	pipes map[string]*watch
}

type watch struct {
	every   time.Duration // 0: not expected
	last    time.Time     // the last run, or when watching began
	seen    bool          // last is a real run, not the start of watching
	alerted bool          // this silence was reported
}

// NewSilenceWatch returns a SilenceWatch that sends to next.
func NewSilenceWatch(next Notifier, cfg SilenceConfig) *SilenceWatch {
	w := &SilenceWatch{next: next, clock: cfg.Clock, cfg: cfg, logger: loggerOrDefault(cfg.Logger),
		pipes: make(map[string]*watch)}
	if w.clock == nil {
		w.clock = retry.SystemClock
	}
	return w
}

func (w *SilenceWatch) get(pipeline string) *watch {
	p := w.pipes[pipeline]
	if p == nil {
		p = &watch{}
		w.pipes[pipeline] = p
	}
	return p
}

// Expect watches pipeline for at least one run every interval. A pipeline
// that has seen no run counts from now, so a new deployment gets one interval
// of grace. A zero or negative interval stops watching it.
func (w *SilenceWatch) Expect(pipeline string, every time.Duration) {
	now := w.clock.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.get(pipeline)
	if every <= 0 {
		p.every, p.alerted = 0, false
		return
	}
	p.every = every
	if p.last.IsZero() {
		p.last = now
	}
}

// Seen records that a run of pipeline arrived at at (the clock's now when at
// is zero). The pipeline calls it for every run it receives, so it is cheap.
// A run newer than the last one ends a silence.
func (w *SilenceWatch) Seen(pipeline string, at time.Time) {
	if at.IsZero() {
		at = w.clock.Now()
	}
	w.record(pipeline, at)
}

// Seed starts pipeline's count from lastSeen, the time of its last run in the
// store, so that a process that restarts during a silence still reports it
// instead of granting a fresh interval. It overrides the start of watching
// but never a newer run. A zero lastSeen (no runs in the store) is ignored.
func (w *SilenceWatch) Seed(pipeline string, lastSeen time.Time) {
	if lastSeen.IsZero() {
		return
	}
	w.record(pipeline, lastSeen)
}

func (w *SilenceWatch) record(pipeline string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.get(pipeline)
	if !p.seen || at.After(p.last) {
		p.last, p.seen, p.alerted = at, true, false
	}
}

// Check sends a silent event for every watched pipeline whose last run is
// older than its interval at now, unless this silence was already reported.
// Events go out in pipeline order. It returns the next notifier's errors,
// joined; a silence whose event failed is reported again by the next Check,
// since a silence nobody hears of is the failure this type exists to stop.
func (w *SilenceWatch) Check(now time.Time) error {
	return joinSent(w.check(context.Background(), now))
}

func (w *SilenceWatch) check(ctx context.Context, now time.Time) []sent {
	var out []Event
	w.mu.Lock()
	for name, p := range w.pipes {
		if p.every <= 0 || p.alerted || now.Sub(p.last) <= p.every {
			continue
		}
		p.alerted = true
		out = append(out, Event{Kind: Silent, Pipeline: name, Reason: silenceReason(p, now), At: now})
	}
	w.mu.Unlock()
	slices.SortFunc(out, func(a, b Event) int { return strings.Compare(a.Pipeline, b.Pipeline) })

	res := make([]sent, 0, len(out))
	var failed []string
	for _, e := range out {
		err := safeNotify(ctx, w.next, e)
		if err != nil {
			failed = append(failed, e.Pipeline)
		}
		res = append(res, sent{e, err})
	}
	if len(failed) > 0 {
		w.mu.Lock()
		for _, name := range failed {
			if p := w.pipes[name]; p != nil && !p.last.After(now) {
				p.alerted = false
			}
		}
		w.mu.Unlock()
	}
	return res
}

func silenceReason(p *watch, now time.Time) string {
	s := "no runs for " + humanDuration(now.Sub(p.last)) + " (expected at least one every " + humanDuration(p.every) + "); "
	if p.seen {
		return s + "last run at " + p.last.UTC().Format(time.RFC3339)
	}
	return s + "none since watching began at " + p.last.UTC().Format(time.RFC3339)
}

// Run calls Check every interval (DefaultSilenceCheck when not positive),
// timed by the clock, until ctx ends; it then returns ctx's error. Failures
// to send are logged and passed to OnError.
func (w *SilenceWatch) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = DefaultSilenceCheck
	}
	for {
		if err := w.clock.Sleep(ctx, every); err != nil {
			return err
		}
		for _, s := range w.check(ctx, w.clock.Now()) {
			if s.err != nil {
				w.logger.LogAttrs(context.Background(), slog.LevelWarn, "notify: silent event not sent",
					slog.String("error", s.err.Error()), slog.String("pipeline", s.e.Pipeline))
				callHook(w.cfg.OnError, s.e, s.err, w.logger)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
