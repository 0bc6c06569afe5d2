package observe

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry holds the tracer, the meter and the instruments Plumb records
// with. Make one with New; the zero value is not usable. A Telemetry is safe
// for concurrent use and meant to live as long as the pipelines using it.
type Telemetry struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	tracer   trace.Tracer
	meter    metric.Meter
	payloads Payloads

	Runs         metric.Int64Counter     // plumb.runs{plumb.pipeline, plumb.outcome}
	Attempts     metric.Int64Counter     // plumb.step.attempts{pipeline, step, outcome, error.class}
	StepDuration metric.Float64Histogram // plumb.step.duration{pipeline, step, outcome}, seconds
	DeadLetters  metric.Int64Counter     // plumb.dead_letters{pipeline, step, error.class}
	SinkFailures metric.Int64Counter     // plumb.deadletter.sink_failures{pipeline, sink}
	Recovery     metric.Float64Histogram // plumb.recovery.duration{pipeline}: dead letter to successful replay, seconds
	Abandoned    metric.Int64Counter     // plumb.step.abandoned{pipeline, step}: calls left running at their timeout

	steps sync.Map // stepKey -> *StepMetrics
}

// Option configures New, following OpenTelemetry's convention.
type Option func(*config)

type config struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	payloads Payloads
}

// WithTracerProvider sets the tracer provider. Defaults to the global one
// (otel.GetTracerProvider), so an application that installs an SDK globally
// needs no option at all.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets the meter provider. Defaults to the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPayloads turns on recording of step inputs and outputs on spans,
// through p's redaction hook and size cap. Off by default.
func WithPayloads(p Payloads) Option {
	return func(c *config) { c.payloads = p }
}

// New builds a Telemetry. Instrument creation never fails the caller: an
// error from the meter is handed to otel.Handle and a no-op instrument
// takes its place.
func New(opts ...Option) *Telemetry {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	t := &Telemetry{tp: c.tp, mp: c.mp, payloads: c.payloads}
	t.tracer = c.tp.Tracer(ScopeName)
	t.meter = c.mp.Meter(ScopeName)
	m := t.meter
	t.Runs = must(m.Int64Counter("plumb.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Runs finished, by pipeline and outcome.")))
	t.Attempts = must(m.Int64Counter("plumb.step.attempts", metric.WithUnit("{attempt}"),
		metric.WithDescription("Step attempts, by pipeline, step, outcome and error class.")))
	t.StepDuration = must(m.Float64Histogram("plumb.step.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(stepDurationBuckets...),
		metric.WithDescription("Duration of a step, all its attempts and fallbacks included.")))
	t.DeadLetters = must(m.Int64Counter("plumb.dead_letters", metric.WithUnit("{letter}"),
		metric.WithDescription("Runs dead-lettered, by pipeline, step and error class.")))
	t.SinkFailures = must(m.Int64Counter("plumb.deadletter.sink_failures", metric.WithUnit("{failure}"),
		metric.WithDescription("Dead letters a sink failed to accept.")))
	t.Recovery = must(m.Float64Histogram("plumb.recovery.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(recoveryBuckets...),
		metric.WithDescription("Time from a run's dead letter to its success on a replay: how long recovery took.")))
	t.Abandoned = must(m.Int64Counter("plumb.step.abandoned", metric.WithUnit("{call}"),
		metric.WithDescription("Step calls abandoned at their timeout, still running: they may cause side effects.")))
	return t
}

func must[T any](inst T, err error) T {
	if err != nil {
		otel.Handle(err)
	}
	return inst
}

var (
	defaultOnce sync.Once
	defaultTel  *Telemetry
)

// Default returns the Telemetry on the global providers, made once. The
// global providers delegate to whatever SDK is installed later, so Default
// stays right when an application sets its providers after start-up.
func Default() *Telemetry {
	defaultOnce.Do(func() { defaultTel = New() })
	return defaultTel
}

// Tracer returns the tracer.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Meter returns the meter, for packages that add instruments of their own.
func (t *Telemetry) Meter() metric.Meter { return t.meter }

// TracerProvider returns the tracer provider in use.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider returns the meter provider in use.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// Payloads returns the payload-recording policy.
func (t *Telemetry) Payloads() Payloads { return t.payloads }

type ctxKey struct{}

// WithTelemetry returns a context that carries t to the steps run under it.
func WithTelemetry(ctx context.Context, t *Telemetry) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// FromContext returns the Telemetry carried by ctx, or Default.
func FromContext(ctx context.Context) *Telemetry {
	if t, ok := ctx.Value(ctxKey{}).(*Telemetry); ok {
		return t
	}
	return Default()
}
