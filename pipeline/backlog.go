package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// Backlog is what the store holds of a runtime's pipelines that has not
// ended, by why it is not done yet. A worker with
// WorkerConfig.StopWhenDrained returns with Runnable and Running (its own)
// at zero; the rest is left for later.
type Backlog struct {
	// Runnable counts queued runs due now (a paused pipeline's included:
	// they wait for its intake to open).
	Runnable int
	// Running counts runs workers hold.
	Running int
	// Deferred counts queued runs held back until a later time (a durable
	// retry wait, an outage schedule, Submit's NotBefore).
	Deferred int
	// AwaitingEvent counts runs waiting for an event (Await) whose
	// deadline has not passed; Deferred leaves them out.
	AwaitingEvent int
	// Waiting counts runs waiting for their branch runs, and branch runs
	// waiting for a slot under their fan-out's limit.
	Waiting int
	// AwaitingReview counts runs waiting for a person's decision.
	AwaitingReview int
	// Held counts runs a worker of a changed definition held: they wait
	// for a replay or a cancel (plumb versions check says why).
	Held int
	// Next is when the first deferred run becomes runnable, or the first
	// wait for an event reaches its deadline, so that a drained batch job
	// knows when to start again; zero when none is deferred or waits for
	// an event.
	Next time.Time
	// NextTick is the next tick due of the runtime's schedules
	// (Schedule), when the store has them: when a drained cron worker
	// starts again. Zero without schedules.
	NextTick time.Time
}

// Empty reports whether every run has ended: nothing runnable, running,
// deferred, awaiting an event, waiting, awaiting review or held.
func (b Backlog) Empty() bool {
	return b.Runnable+b.Running+b.Deferred+b.AwaitingEvent+b.Waiting+b.AwaitingReview+b.Held == 0
}

func (b Backlog) String() string {
	s := fmt.Sprintf("%d runnable, %d running, %d deferred, %d waiting, %d awaiting review",
		b.Runnable, b.Running, b.Deferred, b.Waiting, b.AwaitingReview)
	if b.AwaitingEvent > 0 {
		s += fmt.Sprintf(", %d awaiting an event", b.AwaitingEvent)
	}
	if b.Held > 0 {
		s += fmt.Sprintf(", %d held", b.Held)
	}
	if !b.Next.IsZero() {
		s += "; next due at " + b.Next.UTC().Format(time.RFC3339)
	}
	if !b.NextTick.IsZero() {
		s += "; next tick at " + b.NextTick.UTC().Format(time.RFC3339)
	}
	return s
}

// Backlog says what the store holds of the runtime's pipelines (every
// pipeline in the store, when none is bound to the runtime) that has not
// ended: whether anything is still deferred, awaiting an event, waiting,
// awaiting review or held, and when the next deferred run is due. It
// reads counts, and the queued runs only when some are deferred or
// awaiting an event.
func (rt *Runtime) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	st := rt.cfg.Store
	if st == nil {
		return b, ErrNoStore
	}
	names := rt.Pipelines()
	mine := func(name string) bool { return len(names) == 0 || slices.Contains(names, name) }
	// The smallest window: the step counts are not wanted.
	stats, err := st.Stats(ctx, "", time.Nanosecond)
	if err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	for _, ps := range stats {
		if !mine(ps.Pipeline) {
			continue
		}
		b.Runnable += ps.ByStatus[store.Queued] - ps.Deferred
		b.Deferred += ps.Deferred - ps.AwaitingEvent
		b.AwaitingEvent += ps.AwaitingEvent
		b.Running += ps.ByStatus[store.Running]
		b.Waiting += ps.ByStatus[store.Waiting]
		b.AwaitingReview += ps.ByStatus[store.AwaitingReview]
		b.Held += ps.ByStatus[store.Held]
	}
	if b.NextTick, err = rt.nextTick(ctx); err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	if b.Deferred+b.AwaitingEvent == 0 {
		return b, nil
	}
	now := rt.cfg.Clock.Now()
	f := store.RunFilter{Status: []store.Status{store.Queued}, Limit: 1000, NoCount: true}
	for {
		page, err := st.ListRuns(ctx, f)
		if err != nil {
			return b, fmt.Errorf("backlog: %w", err)
		}
		for _, r := range page.Runs {
			if mine(r.Pipeline) && r.NotBefore.After(now) && (b.Next.IsZero() || r.NotBefore.Before(b.Next)) {
				b.Next = r.NotBefore
			}
		}
		if len(page.Runs) < f.Limit {
			return b, nil
		}
		f.Before = page.Runs[len(page.Runs)-1].ID
	}
}
