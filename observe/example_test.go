package observe_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/observe"
)

// A Telemetry on the application's own providers; without options it uses
// the global ones. Payloads are recorded only when asked, through a
// redaction hook and a size cap.
func ExampleNew() {
	recorder := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	tel := observe.New(observe.WithTracerProvider(tp), observe.WithPayloads(observe.Payloads{
		Record:   true,
		MaxBytes: 64,
		Redact:   func(step string, payload []byte) []byte { return payload },
	}))
	_, span := tel.Tracer().Start(context.Background(), observe.SpanStep+" classify")
	span.End()
	fmt.Println(recorder.Ended()[0].Name(), recorder.Ended()[0].InstrumentationScope().Name)
	text, ok := tel.Payloads().Prepare("classify", []byte(`{"email":"ada@example.com"}`))
	fmt.Println(text, ok)
	// Output:
	// plumb.step classify github.com/plumb-dev/plumb
	// {"email":"ada@example.com"} true
}

// The bucket boundaries Plumb's histograms ask the SDK for.
func ExampleStepDurationBuckets() {
	fmt.Println(observe.StepDurationBuckets())
	fmt.Println(observe.GenAIOperationDurationBuckets())
	// Output:
	// [0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 120 300 600]
	// [0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 40.96 81.92]
}
