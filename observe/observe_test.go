package observe_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/observe"
)

func TestTelemetryUsesGivenProviders(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel := observe.New(observe.WithTracerProvider(tp), observe.WithMeterProvider(mp))

	ctx := context.Background()
	_, span := tel.Tracer().Start(ctx, "x")
	span.End()
	require.Len(t, sr.Ended(), 1)
	assert.Equal(t, observe.ScopeName, sr.Ended()[0].InstrumentationScope().Name)

	m := tel.Step("leads", "classify")
	assert.Same(t, m, tel.Step("leads", "classify"), "step metrics are made once")
	m.Attempt(ctx, "")
	m.Attempt(ctx, "transient")
	m.Attempt(ctx, "transient")
	m.Done(ctx, 1500*time.Millisecond, observe.OutcomeSucceeded)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					outcome, _ := dp.Attributes.Value(observe.AttrOutcome)
					class, _ := dp.Attributes.Value(observe.AttrErrorClass)
					got[mt.Name+"/"+outcome.AsString()+"/"+class.AsString()] += dp.Value
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					assert.Equal(t, 1.5, dp.Sum)
					step, _ := dp.Attributes.Value(observe.AttrStep)
					assert.Equal(t, "classify", step.AsString())
				}
			}
		}
	}
	assert.Equal(t, map[string]int64{
		"plumb.step.attempts/succeeded/":       1,
		"plumb.step.attempts/failed/transient": 2,
	}, got)
}

func TestFromContextFallsBackToDefault(t *testing.T) {
	assert.Same(t, observe.Default(), observe.FromContext(context.Background()))
	tel := observe.New()
	assert.Same(t, tel, observe.FromContext(observe.WithTelemetry(context.Background(), tel)))
}

func TestPayloadsAreOffUnlessAsked(t *testing.T) {
	var p observe.Payloads
	_, ok := p.Prepare("s", []byte(`{"email":"a@b.c"}`))
	assert.False(t, ok)

	p = observe.Payloads{Record: true, MaxBytes: 20, Redact: func(step string, b []byte) []byte {
		return []byte(strings.ReplaceAll(string(b), "a@b.c", "***"))
	}}
	got, ok := p.Prepare("s", []byte(`{"email":"a@b.c"}`))
	require.True(t, ok)
	assert.Equal(t, `{"email":"***"}`, got)

	got, _ = p.Prepare("s", []byte(`{"note":"ééééééééééééééééééé"}`))
	assert.LessOrEqual(t, len(got), 20)
	assert.True(t, strings.HasSuffix(got, "…(truncated)"))

	p.Redact = func(string, []byte) []byte { return nil }
	_, ok = p.Prepare("s", []byte(`{}`))
	assert.False(t, ok, "a redaction hook can drop a payload entirely")
}

func TestTruncateKeepsRunes(t *testing.T) {
	s := observe.Truncate("héllo wörld, a long enough string", 16)
	assert.LessOrEqual(t, len(s), 16)
	assert.True(t, strings.HasPrefix(s, "h"))
	assert.Equal(t, "short", observe.Truncate("short", 16))
}
