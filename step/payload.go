package step

import (
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/observe"
)

// recordPayload puts v on the span as JSON when the telemetry's payload
// policy asks for it, after its redaction hook and size cap.
func (s *Step[In, Out]) recordPayload(span trace.Span, tel *observe.Telemetry, key attribute.Key, v any) {
	p := tel.Payloads()
	if !p.Record {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if text, ok := p.Prepare(s.name, b); ok {
		span.SetAttributes(key.String(text))
	}
}

// maxRaw caps the output kept on an attempt that broke its contract.
const maxRaw = 64 << 10

// rawOf returns v as JSON for an attempt record, capped at maxRaw.
func rawOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(output could not be encoded as JSON: %v)", err)
	}
	return observe.Truncate(string(b), maxRaw)
}
