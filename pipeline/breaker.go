package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// BreakerConfig trips a pipeline's intake when a step keeps failing: the
// failure rate says something upstream is broken, and every run sent into
// it would only be dead-lettered. Its zero value is off; set Window or
// Consecutive to turn it on.
type BreakerConfig struct {
	// Window is how many of a step's latest outcomes (a step finished for a
	// run: succeeded, or failed after its retries and fallbacks) the
	// failure rate is computed over. Zero means no rate rule.
	Window int
	// Rate is the failure rate over a full Window that trips the breaker.
	// Defaults to 0.5.
	Rate float64
	// Consecutive trips the breaker after this many failures in a row.
	// Zero means no such rule.
	Consecutive int
	// CoolDown is how long the intake stays shut before one probe run is let
	// through (half-open); the probe's success resumes intake, its failure
	// shuts it for another CoolDown. Defaults to 1 minute.
	CoolDown time.Duration
	// Classes are the failure classes that count. Defaults to transient and
	// permanent (an outage, a revoked key), not contract or review: a model's
	// wrong answer says nothing of upstream health.
	Classes []retry.Class
}

func (b *BreakerConfig) on() bool { return b.Window > 0 || b.Consecutive > 0 }

func (b *BreakerConfig) counts(c retry.Class) bool {
	if len(b.Classes) == 0 {
		return c == retry.ClassTransient || c == retry.ClassPermanent
	}
	return slices.Contains(b.Classes, c)
}

func (b *BreakerConfig) coolDown() time.Duration {
	if b.CoolDown <= 0 {
		return time.Minute
	}
	return b.CoolDown
}

// breaker keeps each step's recent outcomes, in this process.
type breaker struct {
	// tripMu is held while a counted failure is judged and its outcome
	// written, so that two failures that trip the breaker together pause
	// the intake once, and no failure judged before a pause is written
	// after it.
	tripMu sync.Mutex
	mu     sync.Mutex
	window map[string][]bool // step -> ring of outcomes, true = failed
	next   map[string]int
	streak map[string]int
}

func newBreaker() *breaker {
	return &breaker{window: map[string][]bool{}, next: map[string]int{}, streak: map[string]int{}}
}

// observe records a step outcome and reports whether the breaker trips,
// with the reason.
func (b *breaker) observe(cfg *BreakerConfig, step string, failed bool) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if failed {
		b.streak[step]++
	} else {
		b.streak[step] = 0
	}
	if cfg.Consecutive > 0 && b.streak[step] >= cfg.Consecutive {
		return fmt.Sprintf("step %s failed %d times in a row", step, b.streak[step]), true
	}
	if cfg.Window <= 0 {
		return "", false
	}
	w := b.window[step]
	if len(w) < cfg.Window {
		w = append(w, failed)
		b.window[step] = w
	} else {
		w[b.next[step]] = failed
		b.next[step] = (b.next[step] + 1) % cfg.Window
	}
	if len(w) < cfg.Window {
		return "", false
	}
	n := 0
	for _, f := range w {
		if f {
			n++
		}
	}
	rate := cfg.Rate
	if rate <= 0 {
		rate = 0.5
	}
	if float64(n)/float64(len(w)) >= rate {
		return fmt.Sprintf("step %s failed %d of its last %d runs", step, n, len(w)), true
	}
	return "", false
}

func (b *breaker) reset(step string) {
	b.mu.Lock()
	delete(b.window, step)
	delete(b.next, step)
	delete(b.streak, step)
	b.mu.Unlock()
}

// stepOutcome feeds the breaker after a step finished for a run. It
// returns the pause in force for this run when the failure must not be
// dead-lettered: the breaker is (or just got) tripped and the failure is
// of a class it counts.
func (d *definition) stepOutcome(ctx context.Context, r *runState, i int, err error) *store.Pause {
	cfg := &d.cfg.Breaker
	if !cfg.on() || r.lease == nil {
		return nil
	}
	name := d.stages[i].name()
	class := retry.Classify(err)
	if err != nil && !cfg.counts(class) {
		return nil
	}
	failed := err != nil
	if r.probe {
		return d.probeOutcome(ctx, r, name, failed)
	}
	if !failed {
		d.breaker.observe(cfg, name, false)
		return nil
	}
	// The caller (fail) holds tripMu: failures are judged one at a time.
	reason, trip := d.breaker.observe(cfg, name, true)
	if p := d.pauseCache.get(d.name); p != nil {
		return p
	}
	if !trip {
		return nil
	}
	now := d.cfg.Clock.Now()
	p := store.Pause{Pipeline: d.name, Reason: reason, By: "breaker:" + name, Since: now, ProbeAfter: now.Add(cfg.coolDown())}
	if err := d.cfg.Store.SetPause(context.WithoutCancel(ctx), p); err != nil {
		d.cfg.Logger.Error("plumb: breaker tripped but the pause could not be stored", slog.String("pipeline", d.name), slog.String("error", err.Error()))
		return nil
	}
	d.pauseCache.set(d.name, &p)
	d.cfg.Logger.Warn("plumb: breaker tripped; intake paused", slog.String("pipeline", d.name), slog.String("reason", reason))
	d.notify(ctx, notify.Event{Kind: notify.Paused, Pipeline: d.name, Step: name, Class: class.String(), Reason: reason + "; one probe run in " + cfg.coolDown().String()})
	return &p
}

// probeOutcome resumes intake when the probe run's step succeeded, and
// shuts it for another cool-down when it failed.
func (d *definition) probeOutcome(ctx context.Context, r *runState, step string, failed bool) *store.Pause {
	ctx = context.WithoutCancel(ctx)
	r.probe = false
	if !failed {
		if ok, err := d.cfg.Store.ClearPause(ctx, store.Resume{Pipeline: d.name, By: "breaker:" + step, Reason: "the probe run passed step " + step}); err == nil && ok {
			d.breaker.reset(step)
			d.pauseCache.set(d.name, nil)
			d.notify(ctx, notify.Event{Kind: notify.Resumed, Pipeline: d.name, Step: step, RunID: r.info.Info.RunID,
				Reason: "the probe run passed step " + step})
		}
		return nil
	}
	now := d.cfg.Clock.Now()
	p := store.Pause{Pipeline: d.name, Reason: "the probe run failed at step " + step + " again", By: "breaker:" + step,
		Since: now, ProbeAfter: now.Add(d.cfg.Breaker.coolDown())}
	if err := d.cfg.Store.SetPause(ctx, p); err != nil {
		d.cfg.Logger.Error("plumb: could not re-arm the breaker's pause", slog.String("pipeline", d.name), slog.String("error", err.Error()))
	}
	d.pauseCache.set(d.name, &p)
	return &p
}

// Pause shuts the pipeline's intake by hand: workers on the store stop
// claiming its runs (those in flight finish) until Resume. The pause is
// recorded in the store, so it survives restarts and every worker sees it.
func (p *Pipeline[In, Out]) Pause(ctx context.Context, reason, by string) error {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return err
	}
	if by == "" {
		by = "operator"
	}
	ps := store.Pause{Pipeline: d.name, Reason: reason, By: by, Since: d.cfg.Clock.Now()}
	if err := d.cfg.Store.SetPause(ctx, ps); err != nil {
		return err
	}
	d.pauseCache.set(d.name, &ps)
	d.notify(ctx, notify.Event{Kind: notify.Paused, Pipeline: d.name, Reason: reason + " (paused by " + by + ")"})
	return nil
}

// Resume opens the pipeline's intake again and resets its steps'
// breakers. Like Pause it records why and who in the pipeline's log
// (store.Ops.PipelineLog), which the console and `plumb status` show;
// by "" records "operator", reason "" records "resumed by hand".
func (p *Pipeline[In, Out]) Resume(ctx context.Context, reason, by string) error {
	d := p.def
	if err := d.ready(ctx); err != nil {
		return err
	}
	if by == "" {
		by = "operator"
	}
	if reason == "" {
		reason = "resumed by hand"
	}
	was, err := d.cfg.Store.ClearPause(ctx, store.Resume{Pipeline: d.name, By: by, Reason: reason})
	if err != nil {
		return err
	}
	d.pauseCache.set(d.name, nil)
	for _, st := range d.stages {
		d.breaker.reset(st.name())
	}
	if was {
		d.notify(ctx, notify.Event{Kind: notify.Resumed, Pipeline: d.name, Reason: reason + " (resumed by " + by + ")"})
		wake(d.cfg.Store)
	}
	return nil
}

// pauses caches the pause state of pipelines, refreshed by workers.
type pauses struct {
	mu sync.Mutex
	m  map[string]*store.Pause
}

func (c *pauses) get(name string) *store.Pause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[name]
}

func (c *pauses) set(name string, p *store.Pause) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*store.Pause{}
	}
	if p == nil {
		delete(c.m, name)
	} else {
		cp := *p
		c.m[name] = &cp
	}
	c.mu.Unlock()
}
