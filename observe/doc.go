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
// plumb.deadletter.sink_failures the letters a sink refused. Workers add the
// gauges plumb.queue.depth, plumb.runs.in_flight, plumb.reviews.pending and
// plumb.dead_letters.open (unit {run}) and plumb.pipeline.paused (unit
// {pipeline}: 1 per paused pipeline, so its sum counts paused pipelines).
//
// # Histogram buckets
//
// Histograms carry explicit bucket boundaries as the API's advisory
// metric.WithExplicitBucketBoundaries; a View in the application's SDK
// still overrides them. plumb.step.duration spans 1 ms to 10 min
// (StepDurationBuckets: 0.001, 0.0025, 0.005 … 10, 30, 60, 120, 300, 600
// seconds), since the SDK's default would put every step under 5 s into
// one bucket. gen_ai.client.operation.duration and gen_ai.client.token.usage
// use the boundaries the GenAI semantic conventions specify
// (GenAIOperationDurationBuckets, GenAITokenUsageBuckets).
// plumb.recovery.duration spans 10 s to a week (RecoveryBuckets), since a
// recovery is a person's work and may wait overnight; plumb.llm.wait spans
// 1 ms to a minute (WaitBuckets).
//
// # Providers
//
// New takes WithTracerProvider and WithMeterProvider and falls back to the
// global providers, as OpenTelemetry's contrib packages do. This package uses
// only the OpenTelemetry API: the application chooses and installs the SDK.
//
// # Exporting
//
// To see the traces in a backend such as Jaeger, the application installs
// the SDK with an OTLP exporter (go.opentelemetry.io/otel/sdk/trace and
// go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp) and
// passes its provider in:
//
//	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL("http://127.0.0.1:4318/v1/traces"))
//	if err != nil { … }
//	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
//	defer tp.Shutdown(context.Background()) // sends the spans still buffered
//	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st,
//		Telemetry: observe.New(observe.WithTracerProvider(tp))})
//
// The store records the trace of each execution of a run (store.Run.TraceID
// for the first, StepRecord.TraceID for each step), so a run leads to its
// trace: plumb runs show prints the trace ids, and Jaeger shows a trace at
// /trace/<trace id>. The lead follow-up example's -otlp flag is this code.
//
// # Payloads
//
// Step inputs and outputs hold customers' data, so they are not recorded
// unless WithPayloads asks for it; then they pass a redaction hook and a size
// cap first.
package observe
