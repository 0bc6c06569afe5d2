package observe

import "go.opentelemetry.io/otel/attribute"

// ScopeName is the instrumentation scope of every tracer and meter Plumb
// makes, as OpenTelemetry's contrib packages name theirs.
const ScopeName = "github.com/plumb-dev/plumb"

// Attribute keys. Every Plumb attribute has the plumb. prefix.
const (
	AttrPipeline   = attribute.Key("plumb.pipeline")
	AttrRunID      = attribute.Key("plumb.run.id")
	AttrStep       = attribute.Key("plumb.step")
	AttrAttempt    = attribute.Key("plumb.attempt")
	AttrOutcome    = attribute.Key("plumb.outcome")
	AttrErrorClass = attribute.Key("plumb.error.class")
	AttrFallback   = attribute.Key("plumb.fallback")
	AttrNeedsHuman = attribute.Key("plumb.needs_human")
	AttrTrigger    = attribute.Key("plumb.trigger")
	AttrReask      = attribute.Key("plumb.reask")
	AttrSink       = attribute.Key("plumb.sink")
	AttrInput      = attribute.Key("plumb.input")
	AttrOutput     = attribute.Key("plumb.output")
	AttrPanic      = attribute.Key("plumb.panic")
	AttrWait       = attribute.Key("plumb.wait")
	// AttrParentRunID is the run id of a branch run's parent, on the
	// branch's root span.
	AttrParentRunID = attribute.Key("plumb.parent_run_id")
	// AttrErrorType is OpenTelemetry's error.type: the error's class name,
	// or its Go type where it has no class.
	AttrErrorType = attribute.Key("error.type")
)

// Span names.
const (
	SpanRun     = "plumb.run"     // "plumb.run <pipeline>"
	SpanStep    = "plumb.step"    // "plumb.step <step>"
	SpanAttempt = "plumb.attempt" // an event on the step span, one per attempt
)

// Outcomes, the values of plumb.outcome.
const (
	OutcomeSucceeded      = "succeeded"
	OutcomeFailed         = "failed"
	OutcomeFallback       = "fallback" // a fallback produced the step's output
	OutcomeDeadLettered   = "dead_lettered"
	OutcomeAwaitingReview = "awaiting_review"
	OutcomeCancelled      = "cancelled" // cancelled by an operator, or in memory by the caller's context
	OutcomeReleased       = "released"  // stopped unfinished (shutdown, lost lease) and left to the queue: it resumes
	OutcomeDeferred       = "deferred"  // back in the queue until a later time
	OutcomeWaiting        = "waiting"   // forked its branches; waits for them, holding no worker
	OutcomeHeld           = "held"      // its records break a changed definition: it waits for a replay or a cancel
)
