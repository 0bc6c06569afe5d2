// Package step wraps a function in the policies that make it safe to
// delegate: contracts on its input and output, retries with backoff, a
// per-attempt timeout, ordered fallbacks and a route for when all of that
// fails.
//
// # Steps
//
// A Step[In, Out] is a name and a func(ctx, In) (Out, error) with a
// Config; both types are inferred from the function. Its zero Config checks
// both contracts (the JSON Schema of the Go types, plus any Validate()
// method), retries transient failures three times with exponential
// backoff, and dead-letters what still fails:
//
//	classify := step.New("classify", classifyLead, step.Config{
//		Retry:   retry.Policy{MaxAttempts: 5},
//		Timeout: 20 * time.Second,
//		Review: step.ReviewRule{
//			If: func(l Label) (string, bool) { return "low confidence", l.Confidence < 0.7 },
//		},
//	}).Or(rulesClassifier)
//
// Config is the same type for every step. What depends on the step's types
// is checked when the step is made: ReviewRule.If holds a
// func(Out) (reason string, needed bool) for the step's Out, and one of any
// other type is a definition error (see below).
//
// # What Run guarantees
//
// An input that breaks its contract is refused before the function runs.
// An output that breaks its contract is never returned: it is a contract
// failure, which falls back. A panic in the function becomes a permanent
// *PanicError with its stack; the process does not crash. When the context
// ends, Run stops at once with a cancelled error and tries no fallback.
//
// Every attempt is recorded (Attempt: duration, error, class, violations,
// the raw output that broke the contract), so that a failure can be
// diagnosed from its record alone. On failure Run returns a *Error with
// every attempt, whose class (errors.Is(err, retry.ErrContract)) decides
// what the pipeline does next. Attempt is the runtime value; what a store
// keeps is a store.AttemptRecord made from it, in a versioned format of
// its own.
//
// # Timeouts
//
// Config.Timeout bounds every attempt, whether or not the function looks at
// its context. A function that honours its context ends the attempt at the
// timeout with a transient *retry.TimeoutError. One that ignores it (a
// time.Sleep, a client without a deadline) is abandoned: the attempt still
// ends at the timeout, as a transient timeout whose chain holds
// ErrAbandoned, and the call goes on in a goroutine of its own. What it
// returns is discarded and never passed on; a panic in it is recovered and
// logged, never a crash. The abandoned call is counted in
// plumb.step.abandoned and logged (warn) on the logger of the pipeline's runtime (RuntimeConfig.Logger),
// or slog.Default() for a step run on its own. Plainly: an abandoned call
// may still cause side effects after the step has moved on, retried or
// failed, so a function with side effects should honour its context or be
// idempotent.
//
// # Unclassified errors
//
// A failure's class decides its path, and the function says it by wrapping
// its error: retry.Transient (worth retrying, later if need be),
// retry.Permanent (retrying cannot help), and the others of package retry.
// Errors that say it on their own are known too (retry.Known): context
// errors, network timeouts and resets, io.ErrUnexpectedEOF, the attempt
// timeout, the model adapters' errors. An error nobody classified (a bare
// errors.New("field x is malformed")) is retried by the step's policy, in
// case it was a flaky call, but never deferred to the queue; once the
// retries are spent the step reports it as permanent, with
// Error.Unclassified set and every attempt marked Attempt.Unclassified, so
// that the record says how to classify it.
//
// # Fallbacks
//
// Step.Or returns a copy of a step with fallbacks: steps of the same types
// (the compiler checks it), tried in order when the step fails with a
// class other than cancelled, needs_review or budget: a cheaper model, a
// rule, a cached answer. The step it is called on is unchanged. Or works
// on any step, model steps (package llm) included, whose fallback models
// are tried inside the step before its fallback steps. Result.By names who
// produced the output.
//
// # What each attempt was
//
// Attempt.Kind says what an attempt was: a call, a retry after a transient
// failure, a model step's re-ask (Attempt.Reask numbers it) or fallback
// model (Attempt.FallbackModel names it), the input contract's refusal, or
// the step's outcome. Note says the same in words, for people; nothing
// reads it. A model step (package llm) makes its calls, retries, re-asks
// and fallback models through the same attempt loop as a plain step's
// retries: backoff, a long wait deferred to the queue, sleep, record.
//
// # Definition errors
//
// New and Or never panic: an empty name, a nil function or fallback, a
// type that cannot have a contract, or a ReviewRule.If of the wrong type
// makes a step whose Err says what is wrong.
// A pipeline built with it reports the error from its own Err, Run and
// Submit, before any run is accepted.
package step
