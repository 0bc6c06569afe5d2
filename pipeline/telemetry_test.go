package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func telemetry(t *testing.T, payloads ...observe.Payloads) (*observe.Telemetry, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	opts := []observe.Option{observe.WithTracerProvider(tp), observe.WithMeterProvider(mp)}
	if len(payloads) > 0 {
		opts = append(opts, observe.WithPayloads(payloads[0]))
	}
	return observe.New(opts...), sr, reader
}

func TestSpansFollowTheNamingAndNestUnderTheRun(t *testing.T) {
	tel, sr, _ := telemetry(t)
	p := pipeline.Then(pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), step.New("classify", classify, step.Config{}))
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{RunID: "run-9", Trigger: step.Trigger{Source: "cron"}})
	require.NoError(t, err)

	spans := sr.Ended()
	require.Len(t, spans, 3)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
	}
	run := byName["plumb.run leads"]
	require.NotNil(t, run)
	ra := attrs(run)
	assert.Equal(t, "leads", ra[observe.AttrPipeline].AsString())
	assert.Equal(t, "run-9", ra[observe.AttrRunID].AsString())
	assert.Equal(t, "cron", ra[observe.AttrTrigger].AsString())
	assert.Equal(t, "succeeded", ra[observe.AttrOutcome].AsString())
	for _, name := range []string{"plumb.step parse", "plumb.step classify"} {
		s := byName[name]
		require.NotNil(t, s, name)
		assert.Equal(t, run.SpanContext().SpanID(), s.Parent().SpanID(), "%s nests under the run", name)
		assert.Equal(t, "succeeded", attrs(s)[observe.AttrOutcome].AsString())
		require.Len(t, s.Events(), 1)
		assert.Equal(t, "plumb.attempt", s.Events()[0].Name)
		assert.Equal(t, observe.ScopeName, s.InstrumentationScope().Name)
	}
	assert.NotContains(t, attrs(byName["plumb.step parse"]), observe.AttrInput, "payloads are off by default")
}

func TestFailedSpansCarryErrorStatusAndClass(t *testing.T) {
	tel, sr, reader := telemetry(t)
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel, DeadLetters: []deadletter.Sink{deadletter.NewMemory()}}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	_, err := p.Run(context.Background(), RawLead{Text: "no email"}, pipeline.RunOptions{})
	require.Error(t, err)
	for _, s := range sr.Ended() {
		assert.Equal(t, codes.Error, s.Status().Code, s.Name())
		a := attrs(s)
		assert.Equal(t, "permanent", a[observe.AttrErrorType].AsString(), s.Name())
		assert.Equal(t, "permanent", a[observe.AttrErrorClass].AsString(), s.Name())
	}
	run := sr.Ended()[len(sr.Ended())-1]
	assert.Equal(t, "dead_lettered", attrs(run)[observe.AttrOutcome].AsString())
	assert.True(t, attrs(run)[observe.AttrNeedsHuman].AsBool())

	got := collect(t, reader)
	assert.Equal(t, int64(1), got["plumb.runs|dead_lettered|"])
	assert.Equal(t, int64(1), got["plumb.step.attempts|failed|permanent"])
	assert.Equal(t, int64(1), got["plumb.dead_letters||permanent"])
	assert.Equal(t, int64(1), got["plumb.step.duration|failed|"])
}

func TestPanicIsMarkedOnTheSpan(t *testing.T) {
	tel, sr, _ := telemetry(t)
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel, DeadLetters: []deadletter.Sink{deadletter.NewMemory()}}), "leads", step.New("parse", func(context.Context, RawLead) (Lead, error) { panic("boom") }, step.Config{}), pipeline.Policy{})
	_, err := p.Run(context.Background(), RawLead{}, pipeline.RunOptions{})
	require.ErrorIs(t, err, step.ErrPanic)
	for _, s := range sr.Ended() {
		if s.Name() == "plumb.step parse" {
			assert.True(t, attrs(s)[observe.AttrPanic].AsBool())
			assert.Equal(t, codes.Error, s.Status().Code)
			return
		}
	}
	t.Fatal("no step span")
}

func TestPayloadsAreRecordedOnlyWhenAskedThroughRedaction(t *testing.T) {
	tel, sr, _ := telemetry(t, observe.Payloads{Record: true, MaxBytes: 200, Redact: func(step string, b []byte) []byte {
		if step == "parse" {
			return nil
		}
		return b
	}})
	p := pipeline.Then(pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), step.New("classify", classify, step.Config{}))
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
	require.NoError(t, err)
	for _, s := range sr.Ended() {
		a := attrs(s)
		switch s.Name() {
		case "plumb.step parse":
			assert.NotContains(t, a, observe.AttrInput, "the redaction hook dropped it")
		case "plumb.step classify":
			assert.JSONEq(t, `{"name":"Ada","email":"ada@example.com"}`, a[observe.AttrInput].AsString())
			assert.Contains(t, a[observe.AttrOutput].AsString(), `"stage":"warm"`)
		}
	}
}

func TestSuccessMetrics(t *testing.T) {
	tel, _, reader := telemetry(t)
	p := pipeline.Then(pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), step.New("classify", classify, step.Config{}))
	for i := 0; i < 3; i++ {
		_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
		require.NoError(t, err)
	}
	got := collect(t, reader)
	assert.Equal(t, int64(3), got["plumb.runs|succeeded|"])
	assert.Equal(t, int64(6), got["plumb.step.attempts|succeeded|"])
	assert.Equal(t, int64(6), got["plumb.step.duration|succeeded|"])
}

// collect sums data points by metric name, outcome and error class.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	key := func(name string, set attribute.Set) string {
		o, _ := set.Value(observe.AttrOutcome)
		c, _ := set.Value(observe.AttrErrorClass)
		return name + "|" + o.AsString() + "|" + c.AsString()
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					got[key(m.Name, dp.Attributes)] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					got[key(m.Name, dp.Attributes)] += int64(dp.Count)
				}
			}
		}
	}
	return got
}

func TestRecoveryTimeIsMeasured(t *testing.T) {
	k := pipelinetest.New(t)
	tel, _, reader := telemetry(t)
	rt := k.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	k.Fail("parse", retry.ClassPermanent, 1)
	p := pipeline.New(rt, "leads", step.New("parse", parse, step.Config{Retry: retry.Policy{MaxAttempts: 1, Jitter: -1}}), pol)
	id, err := p.Submit(k.Context(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertDeadLettered(id, "parse", retry.ClassPermanent)
	k.Clock.Advance(90 * time.Second)
	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "plumb.recovery.duration" {
				dp := m.Data.(metricdata.Histogram[float64]).DataPoints
				require.Len(t, dp, 1)
				assert.Equal(t, uint64(1), dp[0].Count)
				assert.InDelta(t, 90, dp[0].Sum, 0.001, "from the dead letter to the successful replay")
				return
			}
		}
	}
	t.Fatal("no plumb.recovery.duration recorded")
}
