package llm

import (
	"context"
	"encoding/json"
)

// Model is what a provider adapter implements: messages in; text, usage,
// finish reason and model name out. Implementations must be safe for
// concurrent use.
//
// Generate returns a classified error (see Error) on failure. When the
// provider answered but the answer cannot be used as is (a refusal, a content
// filter, output cut off at the token limit), Generate returns both the
// Response, so that its text and usage are recorded and paid for, and the
// error that says why.
type Model interface {
	Generate(ctx context.Context, req Request) (Response, error)
	// Info names the provider and the default model, for telemetry and
	// budgets.
	Info() Info
}

// Info names a model.
type Info struct {
	// Provider is the gen_ai.provider.name: "openai", "anthropic", or
	// another well-known name; "llmtest" for the scripted fake.
	Provider string
	// Model is the model requested when a Request does not name one.
	Model string
}

// Role is who speaks in a message.
type Role string

// The roles of a conversation.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content"`
}

// System, User and Assistant build messages.
func System(text string) Message    { return Message{Role: RoleSystem, Content: text} }
func User(text string) Message      { return Message{Role: RoleUser, Content: text} }
func Assistant(text string) Message { return Message{Role: RoleAssistant, Content: text} }

// Request is one call to a model.
type Request struct {
	// Model overrides the adapter's default model when set.
	Model    string
	Messages []Message
	// Output, when set, asks for an answer that is a JSON document matching
	// a schema. Adapters use the provider's strongest mechanism available
	// (JSON-schema structured output, a forced tool call, JSON mode) and
	// fall back to instructions in the prompt where the server has none.
	Output *OutputSchema
	// MaxTokens caps the answer's length. Zero means the adapter's default.
	MaxTokens int
	// Temperature, when not nil, sets the sampling temperature.
	Temperature *float64
}

// OutputSchema is the JSON Schema an answer must match.
type OutputSchema struct {
	// Name identifies the schema to the provider ([a-zA-Z0-9_-], at most 64
	// characters).
	Name string
	// Schema is the JSON Schema document (draft 2020-12).
	Schema json.RawMessage
}

// Response is a model's answer.
type Response struct {
	// Text is the answer's text: for structured output, the JSON document.
	Text string
	// Model is the model that answered, as the provider reported it
	// (gen_ai.response.model).
	Model string
	// ID is the provider's id of the response, when it gives one.
	ID string
	// FinishReason says why the model stopped.
	FinishReason FinishReason
	// Usage is the tokens the call consumed.
	Usage Usage
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Total returns input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Add returns the sum of two usages.
func (u Usage) Add(v Usage) Usage {
	return Usage{InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens}
}

// FinishReason says why a model stopped, normalised across providers.
type FinishReason string

// The finish reasons adapters report (gen_ai.response.finish_reasons).
const (
	FinishStop          FinishReason = "stop"           // a natural end
	FinishLength        FinishReason = "length"         // cut off at the token limit
	FinishContentFilter FinishReason = "content_filter" // blocked by a filter
	FinishRefusal       FinishReason = "refusal"        // the model declined
	FinishToolCall      FinishReason = "tool_call"      // answered through a tool call
	FinishOther         FinishReason = "other"
)
