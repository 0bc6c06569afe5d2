// Package anthropic is the llm.Model for Anthropic's Messages API, built on
// the official SDK (github.com/anthropics/anthropic-sdk-go/v2) with the
// SDK's own retries turned off: Plumb's retry layer owns retries, and must
// see every failure to classify it, honour its Retry-After and count it
// against the step's budget.
//
// # Configuration
//
// New takes a Config whose zero value reads the environment: BaseURL from
// ANTHROPIC_BASE_URL (else https://api.anthropic.com, without /v1), APIKey
// from ANTHROPIC_API_KEY, Model from PLUMB_MODEL (New fails when no model
// is named anywhere). A field that is set wins over its variable. With no
// API key anywhere, the SDK's own credential chain applies
// (ANTHROPIC_AUTH_TOKEN, ANTHROPIC_PROFILE, workload identity federation).
// The key goes out as a bearer token, as the SDK sends it, and as
// x-api-key, which gateways built for earlier API versions read.
//
// The Messages API requires a cap on the answer: Request.MaxTokens, else
// Config.MaxTokens, else DefaultMaxTokens (4096). The SDK refuses, before
// sending anything, a non-streaming call whose cap could run past ten
// minutes (about 21,000 tokens, less for some models): that is a permanent
// ErrBadRequest. Request.Temperature is not sent: the API version the SDK
// speaks (2026-10-21) answers 400 to any sampling parameter.
//
// System messages go to the request's top-level system field, in order;
// user and assistant messages are the turns.
//
// # Structured output
//
// When Request.Output is set, the answer must be a JSON document matching
// its schema. StructuredOutput chooses how that is asked for:
//
//   - tool: the request carries a single tool, named after Output.Name,
//     whose input_schema is the schema, and tool_choice {type: "tool"}
//     forces the model to call it. The call's input is the answer,
//     serialised back to JSON text in Response.Text; FinishReason is
//     llm.FinishToolCall.
//   - instructions: the schema goes in a last system block, and the text
//     answer is returned as it is.
//   - auto (the default): tool; when a server answers 400 (or 422) that it
//     does not support tools, as Anthropic-compatible gateways in front of
//     other models may, the call is repeated with instructions, and the
//     step is remembered per Model and model name. Anthropic's own 400
//     about a tool (an invalid input_schema) is a permanent error.
//
// An input_schema must be an object schema. A root that points into $defs
// (as schemas of recursive Go types do) is replaced by its target; any
// other root (an array, anyOf) is wrapped as the required property "value"
// of an object, and the answer unwrapped. The order of properties is kept:
// a model writes the fields in that order.
//
// # Error classification
//
// Generate returns an *llm.Error for every failure; errors.Is matches both
// its Kind (llm.ErrOverloaded...) and its class's retry sentinel.
//
//   - 429 or rate_limit_error: ErrRateLimited, transient, After from
//     retry-after-ms, else retry-after (seconds or an HTTP date).
//   - 529, 503 or overloaded_error (whatever the status): ErrOverloaded;
//     other 5xx and 409: ErrServer; 408, 504 timeout_error, a deadline or a
//     network timeout: ErrTimeout; a refused or reset connection:
//     ErrConnection. All transient. An x-should-retry header, which the
//     SDK honours, overrides the class either way.
//   - 400, 413 and 422: ErrBadRequest; 401 and 403: ErrAuth; 404:
//     ErrModelNotFound. Permanent.
//   - A 200 whose body is not JSON, has no content, or lacks the forced
//     tool call: ErrBadResponse, transient.
//   - The caller's context cancelled: Kind context.Canceled, class
//     retry.ClassCancelled, so errors.Is(err, context.Canceled) holds and
//     nothing retries it.
//
// An answer that came back but cannot be used returns both the Response
// (text, usage, model, finish reason) and the error: stop_reason refusal has
// Kind retry.ErrRefusal (class retry.ClassRefusal, for review or a fallback
// model; the Message is the stop_details explanation); stop_reason max_tokens or
// model_context_window_exceeded is ErrTruncated (class retry.ClassContract,
// re-asked). Usage is always returned when the API sent it, and counts
// cached input (cache_creation_input_tokens and cache_read_input_tokens)
// as input.
package anthropic
