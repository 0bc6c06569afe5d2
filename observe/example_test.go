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
