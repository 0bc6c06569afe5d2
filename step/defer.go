package step

import (
	"context"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// DeferredError says a run should wait in the queue, not in memory: the
// next attempt is due at Until, later than the run's long-wait threshold. A
// durable pipeline puts the run back in the queue with that not-before
// time, freeing its worker; the wait survives a restart.
type DeferredError struct {
	Until time.Time
	Err   error
}

func (e *DeferredError) Error() string {
	return "waiting until " + e.Until.UTC().Format(time.RFC3339) + " to try again: " + e.Err.Error()
}

// Unwrap returns the failure that asked for the wait.
func (e *DeferredError) Unwrap() error { return e.Err }

// Is matches retry.ErrTransient: the failure is expected to pass.
func (e *DeferredError) Is(target error) bool { return target == retry.ErrTransient }

// Defer returns a *DeferredError when wait is long enough to belong in the
// queue (the run is durable and wait exceeds its LongWait) and err is known
// to pass (retry.Known), else nil, in which case the caller sleeps as usual.
// An unclassified error is never deferred: the queue is for failures that
// are expected to pass, not for bugs. Step functions with their own retry
// loops (model steps) call it before sleeping.
func Defer(ctx context.Context, now time.Time, wait time.Duration, err error) error {
	ri := RunInfoFrom(ctx)
	if ri == nil || ri.LongWait <= 0 || wait <= ri.LongWait || !retry.Known(err) {
		return nil
	}
	return &DeferredError{Until: now.Add(wait), Err: err}
}
