package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/step"
)

// A backend shows a metric without a unit as a bare number and cannot
// convert or compare it, so every instrument a worker exports has one.
func TestEveryInstrumentHasAUnit(t *testing.T) {
	k := pipelinetest.New(t)
	reader := sdkmetric.NewManualReader()
	rt := k.NewRuntime(pipeline.RuntimeConfig{Telemetry: observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	_, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	require.NoError(t, p.Pause(k.Context(), "maintenance", "ops"))

	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	units := map[string]string{}
	require.Eventually(t, func() bool {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				units[m.Name] = m.Unit
			}
		}
		_, ok := units["plumb.pipeline.paused"]
		return ok
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	assert.Equal(t, "{pipeline}", units["plumb.pipeline.paused"], "summed over pipelines, the gauge counts paused pipelines")
	for _, name := range []string{"plumb.runs", "plumb.step.attempts", "plumb.step.duration", "plumb.queue.depth"} {
		assert.Contains(t, units, name)
	}
	for name, unit := range units {
		assert.NotEmpty(t, unit, "%s has no unit", name)
	}
}
