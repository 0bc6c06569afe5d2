package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func TestDoRetriesTransientWithExponentialBackoff(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 5, InitialInterval: 100 * time.Millisecond, Jitter: -1, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 4 {
			return errors.New("flaky")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 4, calls)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, clock.Sleeps())
}

func TestJitterStaysInBounds(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 6, InitialInterval: time.Second, Jitter: 0.5, MaxElapsed: -1, Clock: clock}
	_ = p.Do(context.Background(), func(context.Context) error { return errors.New("down") })
	sleeps := clock.Sleeps()
	require.Len(t, sleeps, 5)
	base := time.Second
	for i, s := range sleeps {
		assert.GreaterOrEqual(t, s, base/2, "wait %d", i)
		assert.LessOrEqual(t, s, base*3/2, "wait %d", i)
		base *= 2
	}
}

func TestMaxAttemptsAndLastErrorReturned(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 3, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return errors.New("still down")
	})
	require.EqualError(t, err, "still down")
	assert.Equal(t, 3, calls)
	assert.Len(t, clock.Sleeps(), 2)
}

func TestPermanentIsNotRetried(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 5, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.Permanent(errors.New("401 unauthorized"))
	})
	require.ErrorIs(t, err, retry.ErrPermanent)
	assert.Equal(t, 1, calls)
	assert.Empty(t, clock.Sleeps())
}

func TestRetryableOverride(t *testing.T) {
	p := retry.Policy{MaxAttempts: 3, Clock: retrytest.NewClock(t0),
		Retryable: func(c retry.Class) bool { return c == retry.ClassTransient || c == retry.ClassContract }}
	calls := 0
	_ = p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.ErrContract
	})
	assert.Equal(t, 3, calls)
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond, Jitter: -1, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls == 1 {
			return &httpErr{status: 429, after: 7 * time.Second}
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{7 * time.Second}, clock.Sleeps(), "the server's wait beats the shorter backoff")
}

func TestMaxElapsedStopsBeforeAWaitThatWouldCrossIt(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 10, MaxElapsed: 10 * time.Second, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		return retry.After(errors.New("busy"), 30*time.Second)
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls)
	assert.Empty(t, clock.Sleeps())

	s := p.Start()
	d := s.Next(retry.After(errors.New("busy"), 30*time.Second))
	assert.False(t, d.Retry)
	assert.Equal(t, "time budget exhausted", d.Reason)
	assert.Equal(t, 30*time.Second, d.Wait)
}

func TestSchedulePlans(t *testing.T) {
	p := retry.Policy{MaxAttempts: 2, Clock: retrytest.NewClock(t0)}
	s := p.Start()
	d := s.Next(retry.Permanent(errors.New("x")))
	assert.Equal(t, retry.Plan{Class: retry.ClassPermanent, Reason: "not retryable"}, d)
	s = p.Start()
	d = s.Next(errors.New("x"))
	assert.True(t, d.Retry)
	d = s.Next(errors.New("x"))
	assert.False(t, d.Retry)
	assert.Equal(t, "attempts exhausted", d.Reason)
	assert.Equal(t, 2, s.Attempts())
}

func TestCancellationStopsAtOnceAndIsNotAFailure(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	p := retry.Policy{MaxAttempts: 5, Clock: retrytest.NewClock(t0)}
	err := p.Do(ctx, func(context.Context) error {
		calls++
		cancel()
		return errors.New("interrupted")
	})
	assert.Equal(t, 1, calls)
	assert.ErrorIs(t, err, retry.ErrCancelled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, retry.ClassCancelled, retry.Classify(err))
}

func TestCancellationDuringARealWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := retry.Policy{MaxAttempts: 5, InitialInterval: time.Hour, MaxElapsed: -1}
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- p.Do(ctx, func(context.Context) error {
			close(started)
			return errors.New("down")
		})
	}()
	<-started
	cancel()
	err := <-done
	assert.ErrorIs(t, err, retry.ErrCancelled)
}

func TestAttemptTimeoutIsTransient(t *testing.T) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 2, AttemptTimeout: 5 * time.Millisecond, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(ctx context.Context) error {
		calls++
		<-ctx.Done() // a call that hangs until its deadline
		return ctx.Err()
	})
	assert.Equal(t, 2, calls, "a timed-out attempt is retried")
	var te *retry.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 5*time.Millisecond, te.After)
	assert.Equal(t, retry.ClassTransient, retry.Classify(err))
	assert.True(t, retry.IsTimeout(err))
}

func TestZeroPolicyDefaults(t *testing.T) {
	var p retry.Policy
	assert.Equal(t, retry.DefaultMaxAttempts, p.Attempts())
	assert.True(t, p.Retries(retry.ClassTransient))
	assert.False(t, p.Retries(retry.ClassContract))
	assert.Equal(t, 1, retry.Never.Attempts())
}

func BenchmarkScheduleSuccessPath(b *testing.B) {
	p := retry.Policy{}
	b.ReportAllocs()
	for b.Loop() {
		s := p.Start()
		_ = s
	}
}
