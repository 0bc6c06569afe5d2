package observe_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plumb-dev/plumb/observe"
)

// The SDK's default boundaries (0, 5, 10, 25 … 10000) put every step under
// 5 s into one bucket, so a p50 of 40 ms and one of 4 s look the same.
func TestStepDurationHasBoundariesFromMillisecondsToMinutes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel := observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	ctx := context.Background()
	tel.Step("leads", "classify").Done(ctx, 40*time.Millisecond, observe.OutcomeSucceeded)

	h := histogram(t, reader, "plumb.step.duration")
	want := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, want, h.DataPoints[0].Bounds)
	assert.Equal(t, want, observe.StepDurationBuckets())
}

// The GenAI semantic conventions specify these boundaries, so that
// dashboards built on them read every instrumented client alike
// (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/).
func TestGenAIBucketsAreTheSpecificationsOwn(t *testing.T) {
	assert.Equal(t, []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92},
		observe.GenAIOperationDurationBuckets())
	assert.Equal(t, []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864},
		observe.GenAITokenUsageBuckets())

	b := observe.StepDurationBuckets()
	b[0] = -1
	assert.Equal(t, 0.001, observe.StepDurationBuckets()[0], "callers get a copy")
}

// Recovery takes minutes to days: the SDK's defaults end at 10,000 s (2.8 h)
// and would put every overnight recovery in the overflow bucket.
func TestRecoveryDurationHasBoundariesUpToAWeek(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tel := observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	tel.Recovery.Record(context.Background(), (14 * time.Hour).Seconds())

	h := histogram(t, reader, "plumb.recovery.duration")
	require.Len(t, h.DataPoints, 1)
	bounds := h.DataPoints[0].Bounds
	assert.Equal(t, observe.RecoveryBuckets(), bounds)
	assert.Equal(t, 10.0, bounds[0])
	assert.Equal(t, (7 * 24 * time.Hour).Seconds(), bounds[len(bounds)-1])
}

// histogram returns the one float64 histogram named name.
func histogram(t *testing.T, reader *sdkmetric.ManualReader, name string) metricdata.Histogram[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				h, ok := m.Data.(metricdata.Histogram[float64])
				require.True(t, ok, "%s is a float64 histogram", name)
				return h
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Histogram[float64]{}
}
