package pipeline

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

const (
	// scheduleRefresh is how long an idle scheduler on the wall clock
	// waits at most before it reads the store again (another host may
	// have advanced a schedule, an operator deleted one); otherwise it
	// wakes at the next tick.
	scheduleRefresh = time.Minute
	// scheduleRetry is how long a tick whose input failed waits before
	// it is tried again.
	scheduleRetry = time.Minute
	// scheduleAdvanceTimeout bounds the advance a stopping worker still
	// writes after enqueueing a tick's runs.
	scheduleAdvanceTimeout = 5 * time.Second
)

// attrSchedule names a schedule in the plumb.schedule.ticks metric.
const attrSchedule = attribute.Key("plumb.schedule")

// scheduler fires the schedules of a worker's pipelines: at each tick it
// enqueues the tick's run (idempotent: every worker firing the tick
// enqueues under one key) and then advances the schedule's next tick by
// compare-and-set, so that the tick is fired once across every worker.
type scheduler struct {
	w      *Worker
	clock  retry.Clock
	scheds map[string]*schedule
	// retryAt holds a schedule whose input failed until then.
	retryAt map[string]time.Time
	// differs remembers the schedules the store declares otherwise (a
	// deploy in progress), warned once each.
	differs map[string]bool
	ticks   metric.Int64Counter
}

// newScheduler returns the scheduler of the worker's pipelines, or nil
// when they have no schedules.
func (w *Worker) newScheduler() *scheduler {
	rt := w.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var sc *scheduler
	for name, s := range rt.schedules {
		if _, ours := w.defs[s.pipeline]; !ours || s.err != nil {
			continue
		}
		if sc == nil {
			sc = &scheduler{w: w, clock: rt.cfg.Clock, scheds: map[string]*schedule{}, retryAt: map[string]time.Time{}, differs: map[string]bool{}}
			sc.ticks, _ = rt.cfg.Telemetry.Meter().Int64Counter("plumb.schedule.ticks", metric.WithUnit("{tick}"),
				metric.WithDescription("Schedule ticks, by schedule and outcome: enqueued, skipped (missed, and not run under the schedule's policy), failed (the input failed; retried)."))
		}
		sc.scheds[name] = s
	}
	return sc
}

// declare puts every schedule in the store; one declared already keeps
// its tick due (store.ScheduleQueue.PutSchedule).
func (sc *scheduler) declare(ctx context.Context) error {
	now := sc.clock.Now()
	for _, s := range sc.scheds {
		if _, err := sc.w.st.PutSchedule(ctx, store.Schedule{Name: s.name, Pipeline: s.pipeline, Spec: s.tab.Spec(),
			TimeZone: s.cron.TimeZone, Missed: s.cron.Missed, Next: s.tab.Next(now).UTC()}); err != nil {
			return err
		}
	}
	return nil
}

// loop fires the schedules at their ticks until ctx ends. It sleeps until
// the next tick on the wall clock (reading the store again at least every
// scheduleRefresh); a clock of a test's, which no timer follows, is read
// every Poll.
func (sc *scheduler) loop(ctx context.Context, next time.Time) {
	for {
		wait := scheduleRefresh
		if !next.IsZero() {
			wait = min(wait, next.Sub(sc.clock.Now()))
		}
		if sc.clock != retry.SystemClock {
			wait = min(wait, sc.w.cfg.Poll)
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		var err error
		if next, err = sc.fire(ctx); err != nil && ctx.Err() == nil {
			sc.w.log.Warn("plumb: cannot read the schedules; retrying", slog.String("worker", sc.w.cfg.ID), slog.String("error", err.Error()))
			next = sc.clock.Now().Add(sc.w.cfg.Poll)
		}
	}
}

// fire fires every schedule of the worker's that is due, and returns the
// earliest next tick among them.
func (sc *scheduler) fire(ctx context.Context) (next time.Time, err error) {
	stored, err := sc.w.st.Schedules(ctx, "")
	if err != nil {
		return time.Time{}, err
	}
	now := sc.clock.Now()
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, st := range stored {
		s := sc.scheds[st.Name]
		if s == nil {
			continue
		}
		if st.Pipeline != s.pipeline || st.Spec != s.tab.Spec() || st.TimeZone != s.cron.TimeZone {
			// Another deployment declared it since: its workers fire it.
			if !sc.differs[st.Name] {
				sc.differs[st.Name] = true
				sc.w.log.Warn("plumb: a schedule is declared otherwise in the store (a deploy in progress?); this worker leaves it to the workers that declare it so",
					slog.String("schedule", st.Name), slog.String("stored", st.Pipeline+" "+st.Spec+" "+st.TimeZone),
					slog.String("declared", s.pipeline+" "+s.tab.Spec()+" "+s.cron.TimeZone))
			}
			continue
		}
		delete(sc.differs, st.Name)
		if st.Next.After(now) {
			earliest(st.Next)
			continue
		}
		if at, ok := sc.retryAt[st.Name]; ok && at.After(now) {
			earliest(at)
			continue
		}
		delete(sc.retryAt, st.Name)
		earliest(sc.fireOne(ctx, s, st, now))
	}
	return next, nil
}

// fireOne enqueues the runs of a due schedule's plan, then advances it;
// it returns when to look at it again.
func (sc *scheduler) fireOne(ctx context.Context, s *schedule, st store.Schedule, now time.Time) time.Time {
	log := sc.w.log.With(slog.String("schedule", s.name), slog.String("pipeline", s.pipeline))
	plan := s.tab.Plan(st.Next, now, s.cron.Missed, s.cron.Grace, s.cron.MaxCatchUp)
	d := sc.w.defs[s.pipeline]
	var lastRun string
	var lastTick time.Time
	for _, tick := range plan.Run {
		id, err := s.submit(ctx, d, tick.UTC())
		if err != nil {
			if ctx.Err() != nil {
				// Stopping: record the ticks enqueued so far, if the
				// schedule is still where this pass read it.
				if lastRun != "" {
					actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scheduleAdvanceTimeout)
					_, _ = sc.w.st.AdvanceSchedule(actx, store.ScheduleAdvance{Name: s.name, From: st.Next,
						Next: s.tab.Next(lastTick).UTC(), LastTick: lastTick.UTC(), LastRun: lastRun})
					cancel()
				}
				return time.Time{}
			}
			// Nothing is advanced: the tick comes due again, and the runs
			// enqueued before it are found by their keys.
			at := now.Add(scheduleRetry)
			sc.retryAt[s.name] = at
			sc.count(ctx, s, "failed", 1)
			log.Error("plumb: a schedule's tick could not be enqueued; retrying in a minute", slog.String("tick", store.ScheduleTick(tick)),
				slog.String("error", err.Error()))
			return at
		}
		lastRun, lastTick = id, tick
	}
	next := plan.Next
	if next.IsZero() {
		next = now.AddDate(5, 0, 0) // no tick within five years: look again then
	}
	// The runs are enqueued: the advance is written even when the worker
	// is stopping, so that the schedule's record does not lag its runs
	// (a worker killed here leaves that to the next pass, which finds
	// the runs by their keys).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scheduleAdvanceTimeout)
	defer cancel()
	ok, err := sc.w.st.AdvanceSchedule(actx, store.ScheduleAdvance{Name: s.name, From: st.Next, Next: next.UTC(),
		LastTick: lastTick.UTC(), LastRun: lastRun, Skipped: plan.Skipped})
	if err != nil {
		if actx.Err() == nil {
			log.Warn("plumb: cannot advance a schedule; its runs are enqueued, and the next pass tries again", slog.String("error", err.Error()))
		}
		return now.Add(sc.w.cfg.Poll)
	}
	if !ok {
		// Another worker fired the same tick first: the runs enqueued
		// here are its runs (one key per tick). When this pass enqueued
		// ticks past where that worker left the schedule (it caught up
		// later than this one), Next moves on to them, so that the
		// record does not lag the runs until some next pass.
		if lastRun != "" {
			sc.catchUp(actx, log, s.name, next, lastTick, lastRun)
		}
		return next
	}
	sc.count(ctx, s, "enqueued", len(plan.Run))
	sc.count(ctx, s, "skipped", plan.Skipped)
	if plan.Skipped > 0 || len(plan.Run) > 1 {
		atLeast := ""
		if !plan.Counted {
			atLeast = "at least "
		}
		log.Warn("plumb: a schedule found missed ticks", slog.String("policy", string(s.cron.Missed)),
			slog.String("due_since", store.ScheduleTick(st.Next)), slog.Int("enqueued", len(plan.Run)),
			slog.String("skipped", atLeast+strconv.Itoa(plan.Skipped)), slog.String("next", store.ScheduleTick(next)))
	}
	return next
}

// catchUp advances the named schedule to next, with the tick and run
// this pass enqueued last, unless another worker has advanced it as far;
// another worker's advance in between is read again (a few times: each
// lost race means the schedule moved on). Skipped ticks are the other
// worker's to count.
func (sc *scheduler) catchUp(ctx context.Context, log *slog.Logger, name string, next, lastTick time.Time, lastRun string) {
	for range 3 {
		stored, err := sc.w.st.Schedules(ctx, "")
		if err != nil {
			log.Warn("plumb: cannot read a schedule to record the ticks this worker enqueued; the next pass does", slog.String("error", err.Error()))
			return
		}
		i := slices.IndexFunc(stored, func(st store.Schedule) bool { return st.Name == name })
		if i < 0 || !stored[i].Next.Before(next) {
			return
		}
		ok, err := sc.w.st.AdvanceSchedule(ctx, store.ScheduleAdvance{Name: name, From: stored[i].Next, Next: next.UTC(),
			LastTick: lastTick.UTC(), LastRun: lastRun})
		if err != nil || ok {
			return
		}
	}
}

func (sc *scheduler) count(ctx context.Context, s *schedule, outcome string, n int) {
	if n <= 0 || sc.ticks == nil {
		return
	}
	sc.ticks.Add(ctx, int64(n), metric.WithAttributes(observe.AttrPipeline.String(s.pipeline), attrSchedule.String(s.name),
		observe.AttrOutcome.String(outcome)))
}
