package llm

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
)

type callMeta struct {
	number   int
	reask    int
	fallback bool
}

type callResult struct {
	resp     Response
	err      error
	start    time.Time
	duration time.Duration
}

// callModel makes one call under the per-call timeout and the step's
// concurrency limit, inside a GenAI span, and records its metrics.
func (r *structured[In, A, Out]) callModel(ctx context.Context, m Model, info Info, req Request, meta callMeta) callResult {
	tel := observe.FromContext(ctx)
	model := req.Model
	if model == "" {
		model = info.Model
	}
	ctx, span := tel.Tracer().Start(ctx, observe.GenAIOperationChat+" "+model, trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(
			observe.GenAIOperationName.String(observe.GenAIOperationChat),
			observe.GenAIProviderName.String(info.Provider),
			observe.GenAIRequestModel.String(model),
			observe.GenAIOutputType.String(observe.GenAIOutputTypeJSON),
			observe.AttrStep.String(r.name),
			observe.AttrAttempt.Int(meta.number),
			observe.AttrReask.Int(meta.reask),
			observe.AttrFallback.Bool(meta.fallback),
		)
		if req.MaxTokens > 0 {
			span.SetAttributes(observe.GenAIRequestMaxTokens.Int(req.MaxTokens))
		}
		if req.Temperature != nil {
			span.SetAttributes(observe.GenAIRequestTemperature.Float64(*req.Temperature))
		}
	}
	if r.sem != nil {
		waitStart := time.Now()
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return callResult{err: retry.Mark(retry.ClassCancelled, ctx.Err()), start: waitStart}
		}
		defer func() { <-r.sem }()
		if w := time.Since(waitStart); w > time.Millisecond {
			recordWait(ctx, tel, info, "concurrency", w)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout())
	start := r.opts.Retry.ClockOrDefault().Now()
	resp, err := m.Generate(cctx, req)
	duration := r.opts.Retry.ClockOrDefault().Now().Sub(start)
	cancel()
	if err != nil && ctx.Err() == nil && cctx.Err() == context.DeadlineExceeded && retry.Classify(err) != retry.ClassTransient {
		// The per-call deadline fired but the adapter did not say so.
		err = &Error{Provider: info.Provider, Model: model, Kind: ErrTimeout, Class: retry.ClassTransient, Message: "no answer within " + r.timeout().String(), Err: err}
	}
	instruments(tel).record(ctx, info, model, resp, err, duration)
	if span.IsRecording() {
		span.SetAttributes(
			observe.GenAIResponseModel.String(modelName(resp, info)),
			observe.GenAIUsageInputTokens.Int(resp.Usage.InputTokens),
			observe.GenAIUsageOutputTokens.Int(resp.Usage.OutputTokens),
		)
		if resp.FinishReason != "" {
			span.SetAttributes(observe.GenAIResponseFinish.StringSlice([]string{string(resp.FinishReason)}))
		}
		if resp.ID != "" {
			span.SetAttributes(observe.GenAIResponseID.String(resp.ID))
		}
	}
	if err != nil {
		class := retry.Classify(err)
		span.SetAttributes(observe.AttrErrorClass.String(class.String()), observe.AttrErrorType.String(class.String()))
		span.SetStatus(codes.Error, err.Error())
	}
	return callResult{resp: resp, err: err, start: start, duration: duration}
}

// genaiInstruments are the GenAI client metrics, made once per Telemetry.
type genaiInstruments struct {
	tokens   metric.Int64Histogram
	duration metric.Float64Histogram
	wait     metric.Float64Histogram
}

var genai sync.Map // *observe.Telemetry -> *genaiInstruments

func instruments(tel *observe.Telemetry) *genaiInstruments {
	if g, ok := genai.Load(tel); ok {
		return g.(*genaiInstruments)
	}
	m := tel.Meter()
	g := &genaiInstruments{}
	g.tokens, _ = m.Int64Histogram(observe.MetricGenAITokenUsage, metric.WithUnit("{token}"),
		metric.WithExplicitBucketBoundaries(observe.GenAITokenUsageBuckets()...),
		metric.WithDescription("Tokens used by model calls, by token type."))
	g.duration, _ = m.Float64Histogram(observe.MetricGenAIOperationTime, metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(observe.GenAIOperationDurationBuckets()...),
		metric.WithDescription("Duration of model calls."))
	g.wait, _ = m.Float64Histogram("plumb.llm.wait", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(observe.WaitBuckets()...),
		metric.WithDescription("Time spent waiting for a rate limiter or a concurrency slot before a model call; not an attempt."))
	got, _ := genai.LoadOrStore(tel, g)
	return got.(*genaiInstruments)
}

func (g *genaiInstruments) record(ctx context.Context, info Info, model string, resp Response, err error, d time.Duration) {
	base := []attribute.KeyValue{
		observe.GenAIOperationName.String(observe.GenAIOperationChat),
		observe.GenAIProviderName.String(info.Provider),
		observe.GenAIRequestModel.String(model),
	}
	if resp.Model != "" {
		base = append(base, observe.GenAIResponseModel.String(resp.Model))
	}
	durAttrs := base
	if err != nil {
		durAttrs = append(durAttrs[:len(durAttrs):len(durAttrs)], observe.AttrErrorType.String(retry.Classify(err).String()))
	}
	g.duration.Record(ctx, d.Seconds(), metric.WithAttributes(durAttrs...))
	if resp.Usage.InputTokens > 0 {
		g.tokens.Record(ctx, int64(resp.Usage.InputTokens), metric.WithAttributes(append(base[:len(base):len(base)], observe.GenAITokenType.String(observe.GenAITokenTypeInput))...))
	}
	if resp.Usage.OutputTokens > 0 {
		g.tokens.Record(ctx, int64(resp.Usage.OutputTokens), metric.WithAttributes(append(base[:len(base):len(base)], observe.GenAITokenType.String(observe.GenAITokenTypeOutput))...))
	}
}

// recordWait shows a wait that is not an attempt: on the current span and
// in the plumb.llm.wait histogram.
func recordWait(ctx context.Context, tel *observe.Telemetry, info Info, reason string, d time.Duration) {
	trace.SpanFromContext(ctx).AddEvent("plumb.wait", trace.WithAttributes(
		attribute.String("plumb.wait.reason", reason), observe.AttrWait.Float64(d.Seconds())))
	instruments(tel).wait.Record(ctx, d.Seconds(), metric.WithAttributes(
		observe.GenAIProviderName.String(info.Provider), observe.GenAIRequestModel.String(info.Model),
		attribute.String("plumb.wait.reason", reason)))
}
