package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

func TestModelCallsCarryGenAIAttributesAndTokenMetrics(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ctx := observe.WithTelemetry(context.Background(), observe.New(observe.WithTracerProvider(tp), observe.WithMeterProvider(mp)))

	primary := llmtest.New(llmtest.Config{Model: "big", Answers: []llmtest.Answer{
		{Text: `{"stage":"nope"}`, Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}},
		{Text: `{"stage":"nope"}`, Usage: llm.Usage{InputTokens: 120, OutputTokens: 10}},
	}})
	fallback := llmtest.New(llmtest.Config{Model: "small", Answers: []llmtest.Answer{{Text: good, Usage: llm.Usage{InputTokens: 90, OutputTokens: 20}}}})
	s := llm.Structured[Label]("classify", primary, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.Reasks = 1
		o.FallbackModels = []llm.Model{fallback}
	}))
	_, err := s.Run(ctx, lead)
	require.NoError(t, err)

	var calls []sdktrace.ReadOnlySpan
	for _, sp := range sr.Ended() {
		if sp.Name() == "chat big" || sp.Name() == "chat small" {
			calls = append(calls, sp)
		}
	}
	require.Len(t, calls, 3)
	get := func(sp sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
		for _, kv := range sp.Attributes() {
			if kv.Key == k {
				return kv.Value
			}
		}
		return attribute.Value{}
	}
	first, reask, fb := calls[0], calls[1], calls[2]
	assert.Equal(t, "chat", get(first, observe.GenAIOperationName).AsString())
	assert.Equal(t, "llmtest", get(first, observe.GenAIProviderName).AsString())
	assert.Equal(t, "big", get(first, observe.GenAIRequestModel).AsString())
	assert.Equal(t, "big", get(first, observe.GenAIResponseModel).AsString())
	assert.Equal(t, int64(100), get(first, observe.GenAIUsageInputTokens).AsInt64())
	assert.Equal(t, int64(10), get(first, observe.GenAIUsageOutputTokens).AsInt64())
	assert.Equal(t, []string{"stop"}, get(first, observe.GenAIResponseFinish).AsStringSlice())
	assert.Equal(t, int64(0), get(first, observe.AttrReask).AsInt64())
	assert.Equal(t, int64(1), get(reask, observe.AttrReask).AsInt64())
	assert.False(t, get(reask, observe.AttrFallback).AsBool())
	assert.True(t, get(fb, observe.AttrFallback).AsBool())
	assert.Equal(t, "small", get(fb, observe.GenAIRequestModel).AsString())
	for _, c := range calls {
		assert.Equal(t, "plumb.step classify", findParent(sr.Ended(), c).Name(), "model calls nest under their step")
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	tokens := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != observe.MetricGenAITokenUsage {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[int64]).DataPoints {
				typ, _ := dp.Attributes.Value(observe.GenAITokenType)
				model, _ := dp.Attributes.Value(observe.GenAIRequestModel)
				tokens[model.AsString()+"/"+typ.AsString()] += dp.Sum
			}
		}
	}
	assert.Equal(t, map[string]int64{"big/input": 220, "big/output": 20, "small/input": 90, "small/output": 20}, tokens)
}

func findParent(spans []sdktrace.ReadOnlySpan, child sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	for _, s := range spans {
		if s.SpanContext().SpanID() == child.Parent().SpanID() {
			return s
		}
	}
	return nil
}
