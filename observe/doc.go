// Package observe is Plumb's OpenTelemetry instrumentation: the span and
// attribute names, the metrics, and the rules for recording payloads.
//
// # Spans
//
// Each run is a span named "plumb.run <pipeline>"; each step inside it is a
// span named "plumb.step <step>"; each attempt is an event named
// "plumb.attempt" on the step's span. Attributes use the plumb. prefix
// (plumb.pipeline, plumb.run.id, plumb.step, plumb.attempt, plumb.outcome,
// plumb.error.class, plumb.fallback, plumb.needs_human, plumb.trigger). A
// failed span has status Error and the error.type attribute set to the
// failure's class.
//
// # Metrics
//
// plumb.runs counts finished runs by outcome; plumb.step.attempts counts
// attempts by outcome and error class; plumb.step.duration is a histogram of
// step durations in seconds; plumb.dead_letters counts dead letters and
// plumb.deadletter.sink_failures the letters a sink refused.
//
// # Providers
//
// New takes WithTracerProvider and WithMeterProvider and falls back to the
// global providers, as OpenTelemetry's contrib packages do. This package uses
// only the OpenTelemetry API: the application chooses and installs the SDK.
//
// # Payloads
//
// Step inputs and outputs hold customers' data, so they are not recorded
// unless WithPayloads asks for it; then they pass a redaction hook and a size
// cap first.
package observe
