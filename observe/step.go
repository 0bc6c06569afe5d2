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
	okAttempt,
	okDuration,
	fallbackDuration,
	failDuration metric.MeasurementOption

	mu   sync.Mutex
	fail map[string]metric.MeasurementOption // by error class
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
	m := &StepMetrics{
		t: t, pipeline: pipeline, step: step,
		okAttempt:        set(AttrOutcome.String(OutcomeSucceeded)),
		okDuration:       set(AttrOutcome.String(OutcomeSucceeded)),
		fallbackDuration: set(AttrOutcome.String(OutcomeFallback)),
		failDuration:     set(AttrOutcome.String(OutcomeFailed)),
		fail:             map[string]metric.MeasurementOption{},
	}
	got, _ := t.steps.LoadOrStore(k, m)
	return got.(*StepMetrics)
}

// Attempt counts one attempt. class is "" for a success.
func (m *StepMetrics) Attempt(ctx context.Context, class string) {
	if class == "" {
		m.t.Attempts.Add(ctx, 1, m.okAttempt)
		return
	}
	m.mu.Lock()
	opt, ok := m.fail[class]
	if !ok {
		opt = metric.WithAttributeSet(attribute.NewSet(
			AttrPipeline.String(m.pipeline), AttrStep.String(m.step),
			AttrOutcome.String(OutcomeFailed), AttrErrorClass.String(class)))
		m.fail[class] = opt
	}
	m.mu.Unlock()
	m.t.Attempts.Add(ctx, 1, opt)
}

// Done records the step's duration with its outcome: OutcomeSucceeded,
// OutcomeFallback or OutcomeFailed.
func (m *StepMetrics) Done(ctx context.Context, d time.Duration, outcome string) {
	opt := m.failDuration
	switch outcome {
	case OutcomeSucceeded:
		opt = m.okDuration
	case OutcomeFallback:
		opt = m.fallbackDuration
	}
	m.t.StepDuration.Record(ctx, d.Seconds(), opt)
}
