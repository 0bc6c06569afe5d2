package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

// The boundaries the OpenTelemetry GenAI semantic conventions specify
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/),
// written out here rather than read from observe, so a wrong table there
// fails this test.
var (
	specDurationBounds = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	specTokenBounds    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
)

func TestGenAIHistogramsUseTheSpecifiedBoundaries(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ctx := observe.WithTelemetry(context.Background(), observe.New(observe.WithMeterProvider(mp)))
	m := llmtest.New(llmtest.Config{Model: "big", Answers: []llmtest.Answer{
		{Text: good, Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}},
	}})
	_, err := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0))).Run(ctx, lead)
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch mt.Name {
			case observe.MetricGenAIOperationTime:
				h := mt.Data.(metricdata.Histogram[float64])
				require.NotEmpty(t, h.DataPoints)
				for _, dp := range h.DataPoints {
					assert.Equal(t, specDurationBounds, dp.Bounds)
				}
				assert.Equal(t, "s", mt.Unit)
				seen[mt.Name] = true
			case observe.MetricGenAITokenUsage:
				h := mt.Data.(metricdata.Histogram[int64])
				require.NotEmpty(t, h.DataPoints)
				for _, dp := range h.DataPoints {
					assert.Equal(t, specTokenBounds, dp.Bounds)
				}
				assert.Equal(t, "{token}", mt.Unit)
				seen[mt.Name] = true
			}
		}
	}
	assert.Len(t, seen, 2, "both GenAI histograms were recorded")
}
