package intake_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

// deliveries reads the plumb.intake.deliveries counter by outcome.
func deliveries(t testing.TB, reader *sdkmetric.ManualReader, source string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "plumb.intake.deliveries" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				src, _ := dp.Attributes.Value("plumb.source")
				oc, _ := dp.Attributes.Value(observe.AttrOutcome)
				if src.AsString() == source {
					out[oc.AsString()] += dp.Value
				}
			}
		}
	}
	return out
}

// The handler counts and traces on its pipeline's runtime's telemetry.
func TestTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	tel := observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
		observe.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))))
	e := newEnvWith(t, pipeline.RuntimeConfig{Telemetry: tel})
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret)})
	body := leadBody("lead-1", "ada@example.com")
	acc := post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", body), body)
	post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", body), body)
	post(t, http.DefaultClient, url, githubSign("forged", "d-2", body), body)
	post(t, http.DefaultClient, url, githubSign(ghSecret, "d-3", []byte(`{}`)), []byte(`{}`))
	assert.Equal(t, map[string]int64{"accepted": 1, "duplicate": 1, "unauthorized": 1, "invalid": 1}, deliveries(t, reader, "webhook:github"))

	ended := spans.Ended()
	require.Len(t, ended, 4)
	s := ended[0]
	assert.Equal(t, "plumb.intake webhook:github", s.Name())
	attrs := attribute.NewSet(s.Attributes()...)
	v, _ := attrs.Value(observe.AttrRunID)
	assert.Equal(t, acc.answer.RunID, v.AsString(), "the span names the run it made")
	v, _ = attrs.Value(observe.AttrOutcome)
	assert.Equal(t, "accepted", v.AsString())
}

// stepClock is a clock whose Sleep waits for the test to let it go on,
// then moves by the time slept.
type stepClock struct {
	*retrytest.Clock
	tick chan struct{}
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.tick:
	}
	c.Advance(d)
	return nil
}

func TestSilenceIsLoud(t *testing.T) {
	e := newEnv(t)
	body := leadBody("lead-1", "ada@example.com")
	_, url := e.serve(intake.Source{Name: "github", Verify: intake.GitHub(ghSecret)})
	require.Equal(t, http.StatusAccepted, post(t, http.DefaultClient, url, githubSign(ghSecret, "d-1", body), body).code)

	// The process restarts 50 minutes later, with a notifier: the watch
	// counts from the last run in the store, not from its own start. It
	// runs on the runtime's clock, and speaks through the pipeline's
	// notifier (here the runtime's).
	e.clock.Advance(50 * time.Minute)
	clock := &stepClock{Clock: e.clock, tick: make(chan struct{})}
	var mu sync.Mutex
	var events []notify.Event
	n := notify.Func(func(_ context.Context, ev notify.Event) error {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		return nil
	})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: e.st, Clock: clock, Notifier: n, Logger: quiet()})
	h := intake.New(leadPipeline(rt), intake.Source{Name: "github", Verify: intake.GitHub(ghSecret), ExpectEvery: time.Hour})
	require.NoError(t, h.Err())
	url = newServer(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Watch(ctx) }()
	got := func() []notify.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]notify.Event(nil), events...)
	}
	// Each tick lets the watch sleep its minute and check; a check has
	// run once the next tick is taken.
	tick := func(n int) {
		for range n {
			clock.tick <- struct{}{}
		}
	}
	tick(10) // 60 minutes after the last delivery: nothing yet
	tick(1)  // 61: silent
	tick(1)
	require.Len(t, got(), 1)
	assert.Equal(t, notify.Silent, got()[0].Kind)
	assert.Equal(t, "webhook:github", got()[0].Pipeline)
	assert.Contains(t, got()[0].Reason, "no runs for 1h")
	tick(10)
	assert.Len(t, got(), 1, "once per silence")

	// A delivery ends the silence (at 72 minutes, or 71 while the clock
	// moves); the next one is reported an hour after it.
	body = leadBody("lead-2", "bo@example.com")
	require.Equal(t, http.StatusAccepted, post(t, http.DefaultClient, url, githubSign(ghSecret, "d-2", body), body).code)
	tick(59) // checks up to 130 minutes have run
	assert.Len(t, got(), 1)
	tick(4) // up to 134
	assert.Len(t, got(), 2)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// A silence on a pipeline without a notifier is not kept quiet: every
// check logs that nobody heard it.
func TestSilenceWithoutNotifierIsLogged(t *testing.T) {
	e := newEnv(t)
	clock := &stepClock{Clock: e.clock, tick: make(chan struct{})}
	var logged syncBuffer
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: e.st, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	h := intake.New(leadPipeline(rt), intake.Source{Name: "github", Verify: intake.GitHub(ghSecret), ExpectEvery: time.Minute})
	require.NoError(t, h.Err(), "a notifier may come from the Policy or the runtime: not the Source's business")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Watch(ctx) }()
	for range 4 { // a check sleeps a second at least: the minute passes
		clock.tick <- struct{}{}
	}
	clock.Advance(time.Minute)
	clock.tick <- struct{}{}
	clock.tick <- struct{}{}
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Contains(t, logged.String(), "silent event not sent")
	assert.Contains(t, logged.String(), "no notifier")
}

// syncBuffer is a bytes.Buffer a logger and a test share.
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
