package step_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// syncBuffer is a log sink safe for the abandoned goroutine to write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// sleep is time.Sleep(3 * time.Second), cut short when the test is done
// with it: it never looks at a context.
func sleep(release <-chan struct{}) {
	select {
	case <-release:
	case <-time.After(3 * time.Second):
	}
}

// abandonedCount reads plumb.step.abandoned for one pipeline and step.
func abandonedCount(t *testing.T, reader *sdkmetric.ManualReader, pipeline, stepName string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "plumb.step.abandoned" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				p, _ := dp.Attributes.Value(observe.AttrPipeline)
				s, _ := dp.Attributes.Value(observe.AttrStep)
				if p.AsString() == pipeline && s.AsString() == stepName {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// A function that ignores its context cannot hold the step past its
// timeout: the attempt ends there as a transient timeout, the call is
// abandoned, counted and logged, and what it returns later is discarded.
func TestTimeoutAbandonsAFunctionThatIgnoresItsContext(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel := observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	var logs syncBuffer
	ctx := observe.WithTelemetry(context.Background(), tel)
	ctx = withRun(ctx, step.RunInfo{Pipeline: "leads", RunID: "run-7"},
		attempt.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})

	release, returned := make(chan struct{}), make(chan struct{})
	s := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		defer close(returned)
		sleep(release) // a call that never looks at its context
		return Label{Stage: "hot", Confidence: 1}, nil
	}, step.Config{Timeout: 200 * time.Millisecond, Retry: retry.Never})

	start := time.Now()
	res, err := s.Run(ctx, ada)
	elapsed := time.Since(start)
	assert.Less(t, elapsed, 2*time.Second, "the attempt ends at its timeout, not when the function returns")
	assert.GreaterOrEqual(t, elapsed, 200*time.Millisecond)

	require.Error(t, err)
	assert.True(t, retry.IsTimeout(err), "a timeout: %v", err)
	assert.ErrorIs(t, err, step.ErrAbandoned)
	assert.ErrorIs(t, err, retry.ErrTransient)
	assert.True(t, retry.Known(err))
	var te *retry.TimeoutError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 200*time.Millisecond, te.After)
	require.Len(t, res.Attempts, 1)
	a := res.Attempts[0]
	assert.True(t, a.Abandoned, "the record says the call was abandoned")
	assert.Equal(t, retry.ClassTransient, a.Class)
	assert.False(t, a.Unclassified)
	assert.Zero(t, res.Output)

	assert.Equal(t, int64(1), abandonedCount(t, reader, "leads", "enrich"))
	line := logs.String()
	assert.Contains(t, line, "level=WARN")
	for _, want := range []string{"pipeline=leads", "step=enrich", "run_id=run-7", "timeout=200ms", "side effects"} {
		assert.Contains(t, line, want)
	}

	// The late success changes nothing.
	close(release)
	<-returned
	assert.Zero(t, res.Output)
	assert.Len(t, res.Attempts, 1)
}

// The abandoned attempt is retried like any timeout, and the late result
// of the first call never reaches the caller.
func TestAbandonedAttemptIsRetriedAndItsLateResultDiscarded(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	release := make(chan struct{})
	defer close(release)
	s := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			sleep(release)
			return Label{Stage: "new", Confidence: 0.1}, nil // late, and wrong
		}
		return Label{Stage: "hot", Confidence: 0.9}, nil
	}, step.Config{Timeout: 50 * time.Millisecond,
		Retry: retry.Policy{MaxAttempts: 2, InitialInterval: time.Millisecond, Jitter: -1}})
	ctx := withRun(context.Background(), step.RunInfo{Pipeline: "leads", RunID: "r"}, attempt.Env{Logger: slog.New(slog.DiscardHandler)})
	res, err := s.Run(ctx, ada)
	require.NoError(t, err)
	assert.Equal(t, Label{Stage: "hot", Confidence: 0.9}, res.Output)
	require.Len(t, res.Attempts, 2)
	assert.True(t, res.Attempts[0].Abandoned)
	assert.False(t, res.Attempts[1].Abandoned)
}

// A panic in an abandoned call is recovered and logged: it never crashes
// the process.
func TestPanicInAnAbandonedCallIsRecovered(t *testing.T) {
	var logs syncBuffer
	ctx := withRun(context.Background(), step.RunInfo{Pipeline: "leads", RunID: "run-8"},
		attempt.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	release := make(chan struct{})
	s := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		sleep(release)
		panic("late boom")
	}, step.Config{Timeout: 20 * time.Millisecond, Retry: retry.Never})
	_, err := s.Run(ctx, ada)
	assert.ErrorIs(t, err, step.ErrAbandoned)
	close(release)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "late boom") }, 5*time.Second, 5*time.Millisecond)
	assert.Contains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "run_id=run-8")
}

// A function that honours its context, and one that returns in time, are
// not abandoned; a panic before the timeout is a *PanicError as ever.
func TestTimeoutKeepsWhatAHonestFunctionReturns(t *testing.T) {
	cfg := step.Config{Timeout: 50 * time.Millisecond, Retry: retry.Never}
	honest := step.New("enrich", func(ctx context.Context, l Lead) (Label, error) {
		<-ctx.Done()
		return Label{}, ctx.Err()
	}, cfg)
	res, err := honest.Run(context.Background(), ada)
	assert.True(t, retry.IsTimeout(err))
	assert.NotErrorIs(t, err, step.ErrAbandoned)
	require.Len(t, res.Attempts, 1)
	assert.False(t, res.Attempts[0].Abandoned)

	quick := step.New("enrich", func(ctx context.Context, l Lead) (Label, error) {
		return Label{Stage: "warm", Confidence: 0.5}, nil
	}, cfg)
	res, err = quick.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, "warm", res.Output.Stage)

	panics := step.New("enrich", func(ctx context.Context, l Lead) (Label, error) { panic("boom") }, cfg)
	_, err = panics.Run(context.Background(), ada)
	assert.ErrorIs(t, err, step.ErrPanic)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Attempts[0].Stack, "timeout_test.go", "the stack is the function's")

	errs := step.New("enrich", func(ctx context.Context, l Lead) (Label, error) {
		return Label{}, retry.Permanent(errors.New("HTTP 401"))
	}, cfg)
	_, err = errs.Run(context.Background(), ada)
	assert.ErrorIs(t, err, retry.ErrPermanent)
}

// When the run itself ends while the function ignores its context, the
// call is abandoned too: the attempt is cancelled, and says so.
func TestCancelledRunAbandonsTheCall(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		sleep(release)
		return Label{Stage: "hot"}, nil
	}, step.Config{Timeout: time.Minute, Retry: retry.Never})
	ctx, cancel := context.WithCancel(withRun(context.Background(), step.RunInfo{}, attempt.Env{Logger: slog.New(slog.DiscardHandler)}))
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	res, err := s.Run(ctx, ada)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.ErrorIs(t, err, retry.ErrCancelled)
	require.Len(t, res.Attempts, 1)
	assert.True(t, res.Attempts[0].Abandoned)
	assert.Equal(t, retry.ClassCancelled, res.Attempts[0].Class)
}
