package step

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
)

// abandonGrace is how long a function has, once its attempt's context
// ended, to return before its call is abandoned.
const abandonGrace = 100 * time.Millisecond

// callResult is what the function returned, or the panic it raised.
type callResult[Out any] struct {
	out Out
	err error
}

// bounded calls the function under the per-attempt timeout, in a goroutine
// of its own, so that a function that ignores its context cannot hold the
// attempt past the timeout. When the attempt's context ends first the call
// is abandoned: it finishes in the background, what it returns is
// discarded, and it is counted and logged, because it may still cause side
// effects (send the email, charge the card) that nobody will see.
func (s *Step[In, Out]) bounded(ctx context.Context, in In, n int) (Out, error) {
	timeout := s.cfg.Timeout
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Buffered: an abandoned call must never block on a result nobody reads.
	done := make(chan callResult[Out], 1)
	var abandoned atomic.Bool
	go func() {
		var r callResult[Out]
		defer func() {
			if v := recover(); v != nil {
				r.err = newPanicError(v)
			}
			if abandoned.Load() {
				s.lateResult(ctx, n, timeout, r.err)
			}
			done <- r
		}()
		r.out, r.err = s.fn(actx, in)
	}()
	var r callResult[Out]
	select {
	case r = <-done:
	case <-actx.Done():
		// A function that honours its context returns within moments of
		// its end: give it those before calling it abandoned, so that only
		// calls that really ignore their context are counted.
		grace := time.NewTimer(abandonGrace)
		select {
		case r = <-done:
			grace.Stop()
		case <-grace.C:
			abandoned.Store(true)
			return r.out, s.abandon(ctx, n, timeout)
		}
	}
	if r.err != nil && ctx.Err() == nil && actx.Err() == context.DeadlineExceeded {
		return r.out, &retry.Error{Class: retry.ClassTransient, Err: &retry.TimeoutError{After: timeout, Err: r.err}}
	}
	return r.out, r.err
}

// abandon counts and logs a call left running, and returns the attempt's
// error: a transient timeout, or the end of the caller's context.
func (s *Step[In, Out]) abandon(ctx context.Context, n int, timeout time.Duration) error {
	ri := RunInfoFrom(ctx)
	pipeline, runID := "", ""
	if ri != nil {
		pipeline, runID = ri.Pipeline, ri.RunID
	}
	s.metrics(observe.FromContext(ctx), pipeline).Abandoned(context.WithoutCancel(ctx))
	logger(ctx).LogAttrs(ctx, slog.LevelWarn, "plumb: step call abandoned at its timeout; the function ignored its context and may still be running and cause side effects",
		slog.String("pipeline", pipeline), slog.String("step", s.name), slog.String("run_id", runID),
		slog.Int("attempt", n), slog.Duration("timeout", timeout))
	if err := ctx.Err(); err != nil {
		// The run ended, not the attempt: cancelled, not a timeout.
		return fmt.Errorf("%w: %w", err, ErrAbandoned)
	}
	return &retry.Error{Class: retry.ClassTransient, Err: &retry.TimeoutError{After: timeout, Err: ErrAbandoned}}
}

// lateResult logs how an abandoned call ended when it ended badly: a panic
// nobody else will see, recovered so that it cannot crash the process.
func (s *Step[In, Out]) lateResult(ctx context.Context, n int, timeout time.Duration, err error) {
	var pe *PanicError
	if err == nil || !asPanic(err, &pe) {
		return
	}
	ri := RunInfoFrom(ctx)
	pipeline, runID := "", ""
	if ri != nil {
		pipeline, runID = ri.Pipeline, ri.RunID
	}
	logger(ctx).LogAttrs(context.WithoutCancel(ctx), slog.LevelError, "plumb: abandoned step call panicked after its timeout",
		slog.String("pipeline", pipeline), slog.String("step", s.name), slog.String("run_id", runID),
		slog.Int("attempt", n), slog.Duration("timeout", timeout),
		slog.String("panic", pe.Error()), slog.String("stack", string(pe.Stack)))
}

func asPanic(err error, pe **PanicError) bool {
	p, ok := err.(*PanicError)
	*pe = p
	return ok
}

// logger is the run's logger, or slog.Default() for a step run on its own.
func logger(ctx context.Context) *slog.Logger {
	if e := attempt.EnvFrom(ctx); e != nil && e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}
