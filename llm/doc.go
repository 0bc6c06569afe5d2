// Package llm puts structure around the least reliable step of a pipeline:
// the model.
//
// # Models
//
// Model is what a provider adapter implements (see llm/openai and
// llm/anthropic): messages in; text, usage, finish reason and model name
// out. Every failure is an *Error with a class: 429s, 5xx, overload,
// timeouts and connection resets are transient (with the Retry-After the
// provider sent); 400, 401, 403 and 404 are permanent; refusals and
// content filters are ClassRefusal, which a step may route to review; an
// answer cut off at the token limit is a contract failure, re-asked.
//
// # Structured steps
//
// Structured returns a step.Step[In, Out] that asks a model for an Out.
// Out is the one type it cannot infer, so it is the first type argument
// and the only one a call names; In comes from the prompt:
//
//	classify := llm.Structured[Label]("classify", model, func(l Lead) []llm.Message {
//		return []llm.Message{llm.System(instructions), llm.User(l.Text)}
//	}, llm.Options{FallbackModels: []llm.Model{cheaper}}).Or(rulesClassifier)
//
// Options.FallbackModels are tried inside the step, each with its own
// calls, re-asks and retries; fallback steps (rulesClassifier, a
// step.Step[Lead, Label] that applies keyword rules) are added with
// step.Step.Or, as on any step, and tried once every model has failed.
// StructuredInto asks for one type and makes the step's output of the
// input and the answer; its types are all inferred.
//
// It sends Out's JSON Schema (the provider's structured-output mode where
// there is one), decodes the answer leniently with contract.Decode, checks
// it against the schema and Out's Validate method, and when the answer
// breaks the contract re-asks with its violations listed, path and
// message: the first twenty, each line cut to a few hundred bytes, the rest
// counted, so a re-ask stays under 8 KB however broken the answer was. The
// re-ask repeats the model's answer so that it sees what it said, up to 32
// KB of it (a runaway answer is repeated in part; the record keeps it
// whole). An ambiguous answer (two different JSON objects, a key twice with
// different values; see contract.AmbiguousError) is re-asked for exactly
// one. Transient failures are retried with backoff; a model that stays
// broken, or refuses, or is unavailable, gives way to the next fallback
// model. Nothing that breaks the contract is ever returned.
//
// # One attempt budget
//
// Options.MaxCalls is the one budget of a step run: each model call counts
// once, whatever it is, first try, transport retry, re-ask or fallback
// model. Waiting for a rate limiter or a concurrency slot is not a call.
//
// Each call's attempt record says in typed fields what it was: Attempt.Kind
// (step.AttemptCall, step.AttemptRetry for a transport retry,
// step.AttemptReask, step.AttemptFallbackModel), Attempt.Reask (the re-ask
// the request carried) and Attempt.FallbackModel (the fallback model
// called). Reask and FallbackModel read them. The calls run through the
// attempt loop plain steps use, so a long Retry-After defers a durable run
// to the queue exactly as a plain step's long wait does.
// Every call is an attempt in the step's record, with the model's raw
// answer, its token usage and cost, and its violations, so the run history
// and the dead letter show exactly what each model said.
//
// # Tokens, cost and rate limits
//
// Usage is counted per step and per run, priced from Options.Prices. A
// Budget bounds one run of a step (Options.Budget) or every model step of a
// pipeline's run together (pipeline.Policy.RunBudget); a call whose
// estimate would cross either is not made, and the step fails with a
// *BudgetExceededError, of class budget, which no fallback answers. Only
// model calls spend, so budgets live here: a plain step has none. Limit puts a model
// behind requests-per-minute and tokens-per-minute limiters shared by every
// step in the process; Options.Concurrency bounds one step's calls in flight.
//
// # Telemetry
//
// Each call is a span "chat <model>" with the OpenTelemetry GenAI
// attributes (gen_ai.operation.name, gen_ai.provider.name,
// gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens,
// gen_ai.usage.output_tokens, gen_ai.response.finish_reasons) plus
// plumb.reask and plumb.fallback; token usage and call durations are the
// gen_ai.client.token.usage and gen_ai.client.operation.duration
// histograms, limiter waits plumb.llm.wait.
package llm
