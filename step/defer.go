package step

import (
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
