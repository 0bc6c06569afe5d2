package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// maintain runs a worker's periodic duties: it refreshes the pause state
// its breaker and probes rely on, escalates overdue reviews (taking their
// default decision when the step has one), watches for silence, and keeps
// the queue gauges current.
func (w *Worker) maintain(ctx context.Context) {
	var silence *notify.SilenceWatch
	for _, d := range w.defs {
		if d.cfg.ExpectEvery > 0 && d.cfg.Notifier != nil {
			if silence == nil {
				silence = notify.NewSilenceWatch(d.cfg.Notifier, notify.SilenceConfig{Clock: d.cfg.Clock, Logger: w.log})
			}
			silence.Expect(d.name, d.cfg.ExpectEvery)
			if page, err := w.st.ListRuns(ctx, store.RunFilter{Pipeline: d.name, Limit: 1, NoCount: true}); err == nil && len(page.Runs) > 0 {
				silence.Seed(d.name, page.Runs[0].CreatedAt)
			}
		}
	}
	unregister := w.gauges()
	defer unregister()
	t := time.NewTicker(w.cfg.Poll)
	defer t.Stop()
	var statsAt time.Time
	for tick := 0; ; tick++ {
		// Pauses every tick: a probe must not wait; the rest less often,
		// as they read more of the store.
		w.refreshPauses(ctx)
		if tick%5 == 0 {
			w.reviewDeadlines(ctx)
		}
		if silence != nil && tick%5 == 0 {
			for _, d := range w.defs {
				if page, err := w.st.ListRuns(ctx, store.RunFilter{Pipeline: d.name, Limit: 1, NoCount: true}); err == nil && len(page.Runs) > 0 {
					silence.Seen(d.name, page.Runs[0].CreatedAt)
				}
			}
			_ = silence.Check(w.clock().Now())
		}
		// The gauges' counts read every run: often enough for a dashboard,
		// rarely enough to cost nothing on a deep queue.
		if time.Since(statsAt) >= statsEvery {
			w.refreshStats(ctx)
			statsAt = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// statsEvery is how often a worker refreshes its queue gauges.
const statsEvery = 15 * time.Second

func (w *Worker) clock() interface{ Now() time.Time } {
	for _, d := range w.defs {
		return d.cfg.Clock
	}
	return nil
}

// refreshPauses reads each pipeline's pause into its cache.
func (w *Worker) refreshPauses(ctx context.Context) {
	for _, d := range w.defs {
		p, err := w.st.GetPause(ctx, d.name)
		if err != nil {
			continue
		}
		d.pauseCache.set(d.name, p)
	}
}

// markProbes flags the claimed runs that a tripped breaker let through.
func (w *Worker) markProbes(ctx context.Context, claimed []store.Claimed) map[string]bool {
	var probes map[string]bool
	checked := map[string]bool{}
	for _, c := range claimed {
		d := w.defs[c.Run.Pipeline]
		if !d.cfg.Breaker.on() || checked[d.name] {
			continue
		}
		checked[d.name] = true
		p, err := w.st.GetPause(ctx, d.name)
		if err != nil || p == nil || p.ProbeRun == "" {
			continue
		}
		d.pauseCache.set(d.name, p)
		if probes == nil {
			probes = map[string]bool{}
		}
		probes[p.ProbeRun] = true
	}
	return probes
}

// reviewDeadlines escalates reviews past their deadline, once across all
// workers (the store's EscalateReview lets one win), and applies the
// step's default decision when it has one.
func (w *Worker) reviewDeadlines(ctx context.Context) {
	for _, d := range w.defs {
		runsPage, err := w.st.ListRuns(ctx, store.RunFilter{Pipeline: d.name, Status: []store.Status{store.AwaitingReview}, Limit: 500})
		runs := runsPage.Runs
		if err != nil {
			continue
		}
		now := d.cfg.Clock.Now()
		for _, r := range runs {
			rv := r.Review
			if rv == nil || rv.Deadline.IsZero() || rv.Deadline.After(now) || rv.Escalated {
				continue
			}
			if err := w.st.EscalateReview(ctx, r.ID); err != nil {
				if !errors.Is(err, store.ErrConflict) {
					w.log.Warn("plumb: could not escalate an overdue review", slog.String("run_id", r.ID), slog.String("error", err.Error()))
				}
				continue
			}
			overdue := now.Sub(rv.CreatedAt).Round(time.Second)
			reason := "review of step " + rv.Step + " undecided after " + overdue.String() + ": " + rv.Reason
			// The default decides the review seen overdue, never one the run
			// opened since (a person decided in between): that one is refused.
			seen := r.ReviewRef()
			_, def := d.stageNamed(rv.Step).reviewPolicy()
			switch def {
			case step.ApproveProposal:
				if rv.Proposed != nil {
					if _, err := w.st.Decide(ctx, r.ID, store.Decision{Review: seen, Approved: true, Reviewer: "plumb:deadline", Default: true,
						Reason: "approved by default at the review deadline"}); err == nil {
						reason += "; approved by default"
						wake(w.st)
					}
				}
			case step.RejectAtDeadline:
				if _, err := w.st.Decide(ctx, r.ID, store.Decision{Review: seen, Approved: false, Reviewer: "plumb:deadline", Default: true,
					Reason: "rejected by default at the review deadline"}); err == nil {
					reason += "; rejected by default"
				}
			}
			d.notify(ctx, notify.Event{Kind: notify.ReviewOverdue, Pipeline: d.name, RunID: r.ID, Step: rv.Step, Reason: reason})
		}
	}
}

func (d *definition) stageNamed(name string) stage {
	for _, st := range d.stages {
		if st.name() == name {
			return st
		}
	}
	return d.stages[0]
}

// Queue gauges: what plumb status shows, in telemetry.
type gaugeState struct {
	mu    sync.Mutex
	stats map[string]store.PipelineStats
}

func (w *Worker) refreshStats(ctx context.Context) {
	stats, err := w.st.Stats(ctx, "", time.Minute)
	if err != nil {
		return
	}
	w.gaugeState.mu.Lock()
	defer w.gaugeState.mu.Unlock()
	w.gaugeState.stats = map[string]store.PipelineStats{}
	for _, s := range stats {
		if _, ours := w.defs[s.Pipeline]; ours {
			w.gaugeState.stats[s.Pipeline] = s
		}
	}
}

// gauges registers the queue gauges on the first pipeline's meter.
func (w *Worker) gauges() (unregister func()) {
	var tel *observe.Telemetry
	for _, d := range w.defs {
		tel = d.cfg.Telemetry
		break
	}
	m := tel.Meter()
	depth, _ := m.Int64ObservableGauge("plumb.queue.depth", metric.WithUnit("{run}"), metric.WithDescription("Runs queued, by pipeline."))
	inflight, _ := m.Int64ObservableGauge("plumb.runs.in_flight", metric.WithUnit("{run}"), metric.WithDescription("Runs being executed, by pipeline."))
	reviews, _ := m.Int64ObservableGauge("plumb.reviews.pending", metric.WithUnit("{run}"), metric.WithDescription("Runs awaiting review, by pipeline."))
	dead, _ := m.Int64ObservableGauge("plumb.dead_letters.open", metric.WithUnit("{run}"), metric.WithDescription("Dead-lettered runs not yet replayed, by pipeline."))
	paused, _ := m.Int64ObservableGauge("plumb.pipeline.paused", metric.WithUnit("{pipeline}"), metric.WithDescription("1 while a pipeline's intake is paused."))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		w.gaugeState.mu.Lock()
		defer w.gaugeState.mu.Unlock()
		for name, s := range w.gaugeState.stats {
			attrs := metric.WithAttributes(attribute.String(string(observe.AttrPipeline), name))
			o.ObserveInt64(depth, int64(s.ByStatus[store.Queued]), attrs)
			o.ObserveInt64(inflight, int64(s.ByStatus[store.Running]), attrs)
			o.ObserveInt64(reviews, int64(s.ByStatus[store.AwaitingReview]), attrs)
			o.ObserveInt64(dead, int64(s.ByStatus[store.DeadLettered]), attrs)
			p := int64(0)
			if s.Paused != nil {
				p = 1
			}
			o.ObserveInt64(paused, p, attrs)
		}
		return nil
	}, depth, inflight, reviews, dead, paused)
	if err != nil {
		return func() {}
	}
	return func() { _ = reg.Unregister() }
}
