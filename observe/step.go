package observe

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// StepMetrics records one step's measurements with attribute sets built
// once, so that the success path of a step allocates nothing for metrics.
type StepMetrics struct {
	t        *Telemetry
	pipeline string
	step     string
	// Options are kept as slices so that passing them to an instrument
	// does not allocate a variadic slice on every measurement.
	okAttempt        []metric.AddOption
	okDuration       []metric.RecordOption
	fallbackDuration []metric.RecordOption
	failDuration     []metric.RecordOption
	abandoned        []metric.AddOption

	mu   sync.Mutex
	fail map[string][]metric.AddOption // by error class
}

type stepKey struct{ pipeline, step string }

// Step returns the metrics of one step of one pipeline, made once.
func (t *Telemetry) Step(pipeline, step string) *StepMetrics {
	k := stepKey{pipeline, step}
	if m, ok := t.steps.Load(k); ok {
		return m.(*StepMetrics)
	}
	set := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		kv = append(kv, AttrPipeline.String(pipeline), AttrStep.String(step))
		return metric.WithAttributeSet(attribute.NewSet(kv...))
	}
	rec := func(o metric.MeasurementOption) []metric.RecordOption { return []metric.RecordOption{o} }
	m := &StepMetrics{
		t: t, pipeline: pipeline, step: step,
		okAttempt:        []metric.AddOption{set(AttrOutcome.String(OutcomeSucceeded))},
		okDuration:       rec(set(AttrOutcome.String(OutcomeSucceeded))),
		fallbackDuration: rec(set(AttrOutcome.String(OutcomeFallback))),
		failDuration:     rec(set(AttrOutcome.String(OutcomeFailed))),
		abandoned:        []metric.AddOption{set()},
		fail:             map[string][]metric.AddOption{},
	}
	got, _ := t.steps.LoadOrStore(k, m)
	return got.(*StepMetrics)
}

// Attempt counts one attempt. class is "" for a success.
func (m *StepMetrics) Attempt(ctx context.Context, class string) {
	if class == "" {
		m.t.Attempts.Add(ctx, 1, m.okAttempt...)
		return
	}
	m.mu.Lock()
	opts, ok := m.fail[class]
	if !ok {
		opts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			AttrPipeline.String(m.pipeline), AttrStep.String(m.step),
			AttrOutcome.String(OutcomeFailed), AttrErrorClass.String(class)))}
		m.fail[class] = opts
	}
	m.mu.Unlock()
	m.t.Attempts.Add(ctx, 1, opts...)
}

// Done records the step's duration with its outcome: OutcomeSucceeded,
// OutcomeFallback or OutcomeFailed.
func (m *StepMetrics) Done(ctx context.Context, d time.Duration, outcome string) {
	opts := m.failDuration
	switch outcome {
	case OutcomeSucceeded:
		opts = m.okDuration
	case OutcomeFallback:
		opts = m.fallbackDuration
	}
	m.t.StepDuration.Record(ctx, d.Seconds(), opts...)
}

// Abandoned counts a call left running at its timeout by a function that
// ignored its context: it may still cause side effects.
func (m *StepMetrics) Abandoned(ctx context.Context) {
	m.t.Abandoned.Add(ctx, 1, m.abandoned...)
}
