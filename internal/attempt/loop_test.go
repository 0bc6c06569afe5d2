package attempt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

// loop runs try under a fresh three-attempt schedule on a fake clock.
func loop(ctx context.Context, try func(waits *[]time.Duration) attempt.Outcome) (error, time.Time, *retrytest.Clock, []time.Duration) {
	clock := retrytest.NewClock(t0)
	p := retry.Policy{MaxAttempts: 3, InitialInterval: time.Second, Jitter: -1, Clock: clock}
	l := attempt.Loop{Schedule: p.Start(), Clock: clock}
	var waits []time.Duration
	err, until := l.Run(ctx, func() attempt.Outcome { return try(&waits) })
	return err, until, clock, waits
}

// record returns an outcome whose wait lands in a fresh record.
func record(waits *[]time.Duration, err error, then attempt.Then) attempt.Outcome {
	*waits = append(*waits, 0)
	return attempt.Outcome{Err: err, Then: then, Wait: &(*waits)[len(*waits)-1]}
}

func TestLoopBacksOffAndWritesEachWaitIntoItsRecord(t *testing.T) {
	n := 0
	err, until, clock, waits := loop(context.Background(), func(w *[]time.Duration) attempt.Outcome {
		if n++; n < 3 {
			return record(w, retry.Transient(errors.New("503")), attempt.Backoff)
		}
		return record(w, nil, attempt.Backoff)
	})
	require.NoError(t, err)
	assert.True(t, until.IsZero())
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps())
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 0}, waits)
}

func TestLoopTriesAgainAtOnceOrStops(t *testing.T) {
	n := 0
	contractErr := retry.Mark(retry.ClassContract, errors.New("broken answer"))
	err, _, clock, _ := loop(context.Background(), func(w *[]time.Duration) attempt.Outcome {
		n++
		if n < 5 {
			return record(w, contractErr, attempt.Now)
		}
		return record(w, contractErr, attempt.Stop)
	})
	assert.Same(t, contractErr, err, "the last failure itself")
	assert.Equal(t, 5, n, "Now does not count against the schedule")
	assert.Empty(t, clock.Sleeps())
}

// A wait longer than the run's LongWait goes to the queue, but only for a
// failure known to pass; without a durable run every wait is in memory.
func TestLoopDefersOnlyKnownFailuresOfDurableRuns(t *testing.T) {
	durable := attempt.WithRun(context.Background(), &attempt.Run[string]{Info: "run", Env: attempt.Env{LongWait: 500 * time.Millisecond}})
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		cause  error
		defers bool
	}{
		{"known transient, durable", durable, retry.Transient(errors.New("503")), true},
		{"unclassified, durable", durable, errors.New("field x is malformed"), false},
		{"known transient, in memory", context.Background(), retry.Transient(errors.New("503")), false},
	} {
		err, until, clock, waits := loop(tc.ctx, func(w *[]time.Duration) attempt.Outcome {
			return record(w, tc.cause, attempt.Backoff)
		})
		assert.Same(t, tc.cause, err, tc.name)
		if tc.defers {
			assert.Equal(t, t0.Add(time.Second), until, tc.name)
			assert.Equal(t, []time.Duration{time.Second}, waits, "the deferred wait is on the record")
			assert.Empty(t, clock.Sleeps(), tc.name)
			continue
		}
		assert.True(t, until.IsZero(), tc.name)
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps(), tc.name)
	}
}

func TestLoopStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	err, _, _, _ := loop(ctx, func(w *[]time.Duration) attempt.Outcome {
		cancel()
		return record(w, retry.Transient(errors.New("503")), attempt.Backoff)
	})
	assert.ErrorIs(t, err, retry.ErrCancelled)
}

func TestSameIsIdentityNotText(t *testing.T) {
	a := errors.New("boom")
	assert.True(t, attempt.Same(a, a))
	assert.False(t, attempt.Same(a, errors.New("boom")))
	assert.True(t, attempt.Same(nil, nil))
	assert.False(t, attempt.Same(a, nil))
	// Errors of a type that cannot be compared are never the same, and
	// comparing them does not panic.
	assert.False(t, attempt.Same(sliceErr{"x"}, sliceErr{"x"}))
}

type sliceErr []string

func (e sliceErr) Error() string { return e[0] }
