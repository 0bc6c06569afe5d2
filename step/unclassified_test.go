package step_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

// A bare error is retried by the step's policy, then reported as
// permanent: nothing says waiting will help.
func TestUnclassifiedErrorIsRetriedThenPermanent(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("classify", func(_ context.Context, l Lead) (Label, error) {
		calls++
		return Label{}, errors.New("field x is malformed")
	}, step.Config{Retry: policy(clock, 3)})
	_, err := s.Run(context.Background(), ada)
	require.Error(t, err)
	assert.Equal(t, 3, calls, "the retry policy still applies")
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps())

	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, retry.ClassPermanent, se.Class)
	assert.True(t, se.Unclassified)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.NotErrorIs(t, err, retry.ErrTransient)
	assert.Equal(t, retry.ClassPermanent, retry.Classify(err))
	assert.False(t, retry.Known(err), "the step took its class from an unclassified error")
	for _, a := range se.Attempts {
		assert.Equal(t, retry.ClassTransient, a.Class, "each attempt was retried as transient")
		assert.True(t, a.Unclassified, "attempt %d", a.Number)
	}
}

// Known failures keep their class and are not marked.
func TestKnownTransientErrorStaysTransient(t *testing.T) {
	for _, cause := range []error{retry.Transient(errors.New("crm answered 503")), io.ErrUnexpectedEOF} {
		s := step.New("classify", func(_ context.Context, l Lead) (Label, error) {
			return Label{}, cause
		}, step.Config{Retry: policy(retrytest.NewClock(t0), 2)})
		_, err := s.Run(context.Background(), ada)
		var se *step.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, retry.ClassTransient, se.Class, "%v", cause)
		assert.False(t, se.Unclassified)
		assert.True(t, retry.Known(err))
		for _, a := range se.Attempts {
			assert.False(t, a.Unclassified)
		}
	}
}

// A wait past the run's long-wait threshold is taken in the queue only
// for a failure known to pass; an unclassified one is retried in memory
// and then given up on.
func TestUnclassifiedErrorIsNeverDeferred(t *testing.T) {
	ctx := withRun(context.Background(), step.RunInfo{Pipeline: "leads", RunID: "r1"}, attempt.Env{LongWait: 500 * time.Millisecond})
	run := func(cause error) (*retrytest.Clock, error) {
		clock := retrytest.NewClock(t0)
		s := step.New("classify", func(_ context.Context, l Lead) (Label, error) {
			return Label{}, cause
		}, step.Config{Retry: policy(clock, 3)})
		_, err := s.Run(ctx, ada)
		return clock, err
	}

	clock, err := run(errors.New("field x is malformed"))
	var de *step.DeferredError
	assert.False(t, errors.As(err, &de), "an unclassified error must not wait in the queue: %v", err)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps())
	assert.ErrorIs(t, err, retry.ErrPermanent)

	_, err = run(retry.Transient(errors.New("crm answered 503")))
	require.ErrorAs(t, err, &de, "a known transient failure still waits in the queue")
	assert.Equal(t, t0.Add(time.Second), de.Until)
}
