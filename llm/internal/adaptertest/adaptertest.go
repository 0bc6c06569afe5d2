package adaptertest

import (
	"encoding/json"
	"net/http"

	"github.com/plumb-dev/plumb/llm"
)

// Fixtures. Fake servers answer with these values so that the suite can tell
// what the adapter read from the body from what it merely sent.
const (
	// RequestModel is the model every suite request asks for.
	RequestModel = "plumb-test-model"
	// ServedModel is the model the fake says answered (a dated snapshot, as
	// real providers report).
	ServedModel = "plumb-test-model-2026-01-01"
	// ResponseID is the id the fake gives its answer.
	ResponseID = "resp_plumb_1"
	// AnswerText is the answer of the Text scenario.
	AnswerText = "Hello from the fake provider."
	// AnswerJSON is the answer of the Structured scenario; it matches Schema.
	AnswerJSON = `{"name":"Ada","score":7}`
	// TruncatedText is the partial answer of the Truncated scenario.
	TruncatedText = "Hello from the"
	// RefusalText is what the model says in the Refusal scenario.
	RefusalText = "I can't help with that."
	// ErrorMessage is the message of every error body the fake sends.
	ErrorMessage = "the fake provider says no"
	// InputTokens and OutputTokens are the usage of every answer that has one.
	InputTokens  = 11
	OutputTokens = 7
	// SchemaName names Schema in structured-output requests.
	SchemaName = "person"
	// SystemPrompt and UserPrompt make up every suite request.
	SystemPrompt = "You are terse."
	UserPrompt   = "Say hello."
	// MaxTokens is the answer cap of every suite request.
	MaxTokens = 64
)

// Schema is the output schema of the Structured scenario. It already has the
// shape strict modes require (every property required, no additional
// properties), so an adapter must send it unchanged.
var Schema = json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"score":{"type":"integer"}},"required":["name","score"],"additionalProperties":false}`)

// Scenario names what the fake server must answer. Serve is asked for each one.
type Scenario string

// The scenarios a provider's handler serves in its own wire format.
const (
	Text            Scenario = "text"              // 200: AnswerText, natural stop
	Structured      Scenario = "structured"        // 200: AnswerJSON in the provider's structured-output form
	Malformed       Scenario = "malformed"         // 200: a body that is not valid JSON
	Empty           Scenario = "empty"             // 200: valid JSON with usage but no answer (no choices, no content)
	RateLimited     Scenario = "rate_limited"      // 429, retry-after in seconds (added by the suite)
	RateLimitedMs   Scenario = "rate_limited_ms"   // 429, retry-after-ms and retry-after (added by the suite)
	RateLimitedDate Scenario = "rate_limited_date" // 429, retry-after as an HTTP date (added by the suite)
	ServerError     Scenario = "server_error"      // 500
	Unavailable     Scenario = "unavailable"       // 503, retry-after (added by the suite)
	Overloaded      Scenario = "overloaded"        // 529, the provider's "overloaded" error
	Refusal         Scenario = "refusal"           // 200: the model declined; RefusalText
	ContentFilter   Scenario = "content_filter"    // 200: a filter blocked the answer
	Truncated       Scenario = "truncated"         // 200: TruncatedText, stopped at the token limit
	BadRequest      Scenario = "bad_request"       // 400
	Unauthorized    Scenario = "unauthorized"      // 401
	Forbidden       Scenario = "forbidden"         // 403
	NotFound        Scenario = "not_found"         // 404
	Unprocessable   Scenario = "unprocessable"     // 422
)

// Status returns the HTTP status the fake answers s with.
func (s Scenario) Status() int {
	switch s {
	case RateLimited, RateLimitedMs, RateLimitedDate:
		return http.StatusTooManyRequests
	case ServerError:
		return http.StatusInternalServerError
	case Unavailable:
		return http.StatusServiceUnavailable
	case Overloaded:
		return 529
	case BadRequest:
		return http.StatusBadRequest
	case Unauthorized:
		return http.StatusUnauthorized
	case Forbidden:
		return http.StatusForbidden
	case NotFound:
		return http.StatusNotFound
	case Unprocessable:
		return http.StatusUnprocessableEntity
	}
	return http.StatusOK
}

// Provider is an adapter under test and a fake of its provider.
type Provider struct {
	// New returns the adapter, configured to send its requests to baseURL
	// (the fake's root URL; add any path prefix the provider uses).
	New func(baseURL string) llm.Model
	// Path is the URL path every Generate call posts to, e.g.
	// "/v1/chat/completions".
	Path string
	// Serve returns the handler that answers s in the provider's wire
	// format, or nil for a scenario listed in Absent.
	Serve func(s Scenario) http.Handler
	// Absent lists the scenarios the provider's wire format has no answer
	// for (Anthropic reports filtered answers as refusals). Run checks that
	// Serve answers every other scenario, so none drops out by mistake.
	Absent []Scenario
	// Decode reads a request body in the provider's format.
	Decode func(body []byte) (Request, error)
}

// Request is a provider request read back into neutral terms.
type Request struct {
	Model string
	// System holds the system prompts, in order.
	System []string
	// Messages is the rest of the conversation.
	Messages []llm.Message
	// MaxTokens is the answer cap sent, 0 when none.
	MaxTokens int
	// Schema is the JSON Schema the request asks the answer to match, in
	// whatever place the provider takes it (response_format, a forced
	// tool's input_schema); nil when there is none.
	Schema json.RawMessage
	// SchemaName is the name the schema was given.
	SchemaName string
}
