// Package openai is the llm.Model for OpenAI's Chat Completions API and for
// every server that speaks it: vLLM, Ollama, LM Studio, llama.cpp,
// OpenRouter, Azure OpenAI's v1 endpoint. It is built on the official SDK
// (github.com/openai/openai-go/v3) with the SDK's own retries turned off:
// Plumb's retry layer owns retries, and must see every failure to classify
// it, honour its Retry-After and count it against the step's budget.
//
// # Configuration
//
// New takes a Config whose zero value reads the environment: BaseURL from
// OPENAI_BASE_URL (else https://api.openai.com/v1), APIKey from
// OPENAI_API_KEY (a local server may need none), Model from PLUMB_MODEL
// (New fails when no model is named anywhere). A field that is set wins
// over its variable. The SDK's other variables (OPENAI_ORG_ID,
// OPENAI_PROJECT_ID, OPENAI_CUSTOM_HEADERS) apply as the SDK documents.
//
// MaxTokens is sent as max_completion_tokens to api.openai.com and
// *.openai.azure.com, whose reasoning models refuse max_tokens, and as
// max_tokens to every other server, which is the name compatible servers
// know. With no MaxTokens anywhere, no cap is sent.
//
// # Structured output
//
// When Request.Output is set, the answer must be a JSON document matching
// its schema. StructuredOutput chooses how that is asked for:
//
//   - json_schema: response_format {type: "json_schema", json_schema:
//     {name, schema, strict: true}}. The server constrains decoding to the
//     schema.
//   - json_object: response_format {type: "json_object"}, with the schema
//     in the system message. The server guarantees JSON, not the schema.
//   - instructions: the schema in the system message, nothing else.
//   - auto (the default): json_schema first; when the server answers 400
//     (or 422) that it does not support the response_format sent, the call
//     is repeated with json_object, then with instructions. The step down is
//     remembered per Model and model name, so later calls go straight to
//     the mode that works. It is safe for concurrent calls.
//
// Strict mode accepts a subset of JSON Schema, so the schema sent is
// transformed, and the answer transformed back. Every object gets
// additionalProperties false and lists every property as required; an
// optional property becomes required but nullable, and the nulls the model
// writes for it are removed from the answer, which then matches the
// caller's own schema. Keywords strict mode rejects but that only narrow
// the answer (minLength, maxLength, unknown formats, default...) are left
// out of what is sent: the caller's contract check still holds the answer
// to them. A root that is not an object (a $ref into $defs is followed; an
// array or anyOf is wrapped as the property "value" and unwrapped from the
// answer) is made one. A schema with no strict form, such as a map
// (additionalProperties with a schema), allOf or not, is sent as it is with
// strict false; so is a schema the server rejects as invalid for strict
// mode ("Invalid schema for response_format"), for that call only. The
// order of properties is kept: a model writes the fields in that order.
//
// # Error classification
//
// Generate returns an *llm.Error for every failure; errors.Is matches both
// its Kind (llm.ErrRateLimited...) and its class's retry sentinel.
//
//   - 429: ErrRateLimited, transient, After from retry-after-ms, else
//     retry-after (seconds or an HTTP date), else the x-ratelimit-reset-*
//     header of the limit that is spent. A 429 whose code is
//     insufficient_quota is permanent: waiting does not refill a quota.
//   - 500 and other 5xx, 409: ErrServer; 503 and 529: ErrOverloaded; 408,
//     a deadline or a network timeout: ErrTimeout; a refused or reset
//     connection: ErrConnection. All transient. An x-should-retry header,
//     which OpenAI's SDKs honour, overrides the class either way.
//   - 400 and 422: ErrBadRequest; 401 and 403: ErrAuth; 404:
//     ErrModelNotFound. Permanent. When the BaseURL's path has no version segment (/v1,
//     /api/v1, /v1beta/...), a 404 is most likely the compatible server's
//     answer to a path outside its API, so the message names the URL asked
//     for and suggests the BaseURL with /v1 appended.
//   - A 200 whose body is not JSON, has no choices or no content:
//     ErrBadResponse, transient.
//   - The caller's context cancelled: Kind context.Canceled, class
//     retry.ClassCancelled, so errors.Is(err, context.Canceled) holds and
//     nothing retries it.
//
// An answer that came back but cannot be used returns both the Response
// (text, usage, model, finish reason) and the error: the message's refusal
// has Kind retry.ErrRefusal and finish_reason content_filter
// ErrContentFilter (both class retry.ClassRefusal, for review or a fallback
// model); finish_reason length
// is ErrTruncated (class retry.ClassContract, re-asked). The usage of such
// answers is spent money, and is always returned.
package openai
