package attempt

import (
	"context"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Then says what follows a failed attempt.
type Then uint8

const (
	// Backoff asks the retry schedule: wait (in memory, or in the queue
	// when the wait is long) and try again, or stop when it is spent or
	// the failure is not one it retries.
	Backoff Then = iota
	// Now tries again at once: the failure is answered by a different
	// request (a re-ask), not by waiting.
	Now
	// Stop makes no further attempt.
	Stop
)

// Outcome is what one attempt did.
type Outcome struct {
	// Err is the attempt's failure, nil on success.
	Err error
	// Then says what follows a failure.
	Then Then
	// Wait points at the Wait field of the attempt's record, where the
	// loop writes the wait it takes after the attempt. Nil when the
	// attempt has no record.
	Wait *time.Duration
}

// Loop is one sequence of attempts under one retry schedule.
type Loop struct {
	Schedule retry.Schedule
	Clock    retry.Clock
}

// Run calls try until an attempt succeeds or what follows a failure ends
// the loop, and returns the last failure (nil on success). When ctx ends
// after a failed attempt, Run returns a cancelled error at once. A wait
// longer than the run's LongWait (see Env) defers the run: Run returns the
// failure with until, the time the next attempt is due, which the caller
// wraps in a *step.DeferredError; it does so even past the policy's time
// budget, since the queue waits for free. An unclassified failure is never
// deferred: the queue is for failures expected to pass, not for bugs.
func (l *Loop) Run(ctx context.Context, try func() Outcome) (err error, until time.Time) {
	for {
		o := try()
		if o.Err == nil {
			return nil, time.Time{}
		}
		if ctx.Err() != nil {
			return retry.Mark(retry.ClassCancelled, ctx.Err()), time.Time{}
		}
		switch o.Then {
		case Stop:
			return o.Err, time.Time{}
		case Now:
			continue
		}
		d := l.Schedule.Next(o.Err)
		if d.Waits() && deferrable(ctx, d.Wait, o.Err) {
			setWait(o.Wait, d.Wait)
			return o.Err, l.Clock.Now().Add(d.Wait)
		}
		if !d.Retry {
			return o.Err, time.Time{}
		}
		setWait(o.Wait, d.Wait)
		if err := l.Clock.Sleep(ctx, d.Wait); err != nil {
			return retry.Mark(retry.ClassCancelled, err), time.Time{}
		}
	}
}

// deferrable says whether a wait belongs in the queue: the run is durable,
// the wait exceeds its LongWait, and err is known to pass.
func deferrable(ctx context.Context, wait time.Duration, err error) bool {
	e := EnvFrom(ctx)
	return e != nil && e.LongWait > 0 && wait > e.LongWait && retry.Known(err)
}

func setWait(p *time.Duration, d time.Duration) {
	if p != nil {
		*p = d
	}
}
