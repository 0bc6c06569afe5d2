package step_test

import (
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// work is the step function of the benchmarks: it returns its input, so
// that what is measured is the wrapper, not the work.
//
//go:noinline
func work(_ context.Context, o benchfixture.Order) (benchfixture.Order, error) { return o, nil }

var sink benchfixture.Order

// BenchmarkStepOverhead measures what wrapping a function in a step costs
// on a ~1.3 KB nested struct: input and output contracts, a retry policy,
// telemetry off (the global no-op providers). BENCHMARKS.md records it.
func BenchmarkStepOverhead(b *testing.B) {
	ctx := context.Background()
	order := benchfixture.Sample()
	policy := retry.Policy{MaxAttempts: 3}

	b.Run("bare", func(b *testing.B) {
		fn := work
		b.ReportAllocs()
		for b.Loop() {
			out, _ := fn(ctx, order)
			sink = out
		}
	})

	b.Run("step", func(b *testing.B) {
		s := step.New("enrich", work, step.Config{Retry: policy})
		if s.Err() != nil {
			b.Fatal(s.Err())
		}
		b.ReportAllocs()
		for b.Loop() {
			res, err := s.Run(ctx, order)
			if err != nil {
				b.Fatal(err)
			}
			sink = res.Output
		}
	})

	// The same two checks the generic way: marshal each value and validate
	// the JSON with santhosh-tekuri/jsonschema.
	b.Run("marshal+validate", func(b *testing.B) {
		c, err := contract.For[benchfixture.Order]()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			in, _ := json.Marshal(order)
			if err := c.Schema().ValidateJSON(in); err != nil {
				b.Fatal(err)
			}
			out, _ := work(ctx, order)
			raw, _ := json.Marshal(out)
			if err := c.Schema().ValidateJSON(raw); err != nil {
				b.Fatal(err)
			}
			sink = out
		}
	})

	// Retry and telemetry plumbing alone: contracts off.
	b.Run("plumbing", func(b *testing.B) {
		s := step.New("enrich", work, step.Config{
			Retry: policy, SkipInputContract: true, SkipOutputContract: true})
		b.ReportAllocs()
		for b.Loop() {
			res, _ := s.Run(ctx, order)
			sink = res.Output
		}
	})

	// With the OpenTelemetry SDK recording every span (to a discarding
	// exporter through the batch processor) and every metric.
	b.Run("step+otel-sdk", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() { _ = tp.Shutdown(ctx); _ = mp.Shutdown(ctx) }()
		tctx := observe.WithTelemetry(ctx, observe.New(observe.WithTracerProvider(tp), observe.WithMeterProvider(mp)))
		s := step.New("enrich", work, step.Config{Retry: policy})
		b.ReportAllocs()
		for b.Loop() {
			res, _ := s.Run(tctx, order)
			sink = res.Output
		}
	})
	_ = otel.GetTracerProvider
}
