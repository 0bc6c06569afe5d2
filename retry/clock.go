package retry

import (
	"context"
	"time"
)

// Clock is the time source of a policy. Tests swap in a clock they control
// (retrytest.Clock) so that no test sleeps.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends, in which case it returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoffClock adapts a Clock to backoff.Clock.
type backoffClock struct{ c Clock }

func (b backoffClock) Now() time.Time { return b.c.Now() }
