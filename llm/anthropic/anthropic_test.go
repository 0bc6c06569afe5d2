package anthropic_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Provider{
		New:    func(baseURL string) llm.Model { return newModel(t, baseURL) },
		Path:   "/v1/messages",
		Serve:  serve,
		Decode: decode,
		// The Messages API reports filtered answers as refusals.
		Absent: []adaptertest.Scenario{adaptertest.ContentFilter},
	})
}

func newModel(t testing.TB, baseURL string, modes ...anthropic.StructuredOutput) *anthropic.Model {
	t.Helper()
	cfg := anthropic.Config{BaseURL: baseURL, APIKey: "sk-ant-test", Model: "default-model"}
	if len(modes) > 0 {
		cfg.StructuredOutput = modes[0]
	}
	m, err := anthropic.New(cfg)
	require.NoError(t, err)
	return m
}

// message is a Messages API answer in Anthropic's wire format; content is
// the JSON array of content blocks, stopDetails a JSON object or null.
func message(content, stopReason, stopDetails string) string {
	return fmt.Sprintf(`{"id":%q,"type":"message","role":"assistant","model":%q,"content":%s,`+
		`"stop_reason":%q,"stop_sequence":null,"stop_details":%s,`+
		`"usage":{"input_tokens":%d,"output_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"service_tier":"standard"}}`,
		adaptertest.ResponseID, adaptertest.ServedModel, content, stopReason, stopDetails,
		adaptertest.InputTokens, adaptertest.OutputTokens)
}

func textBlock(text string) string {
	b, _ := json.Marshal(text)
	return `[{"type":"text","text":` + string(b) + `}]`
}

func toolBlock(name, input string) string {
	return fmt.Sprintf(`[{"type":"tool_use","id":"toolu_01","name":%q,"input":%s}]`, name, input)
}

// errorBody is Anthropic's error envelope.
func errorBody(typ string) string {
	return fmt.Sprintf(`{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_011fake"}`, typ, adaptertest.ErrorMessage)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Request-Id", "req_011fake")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// serve answers each scenario as Anthropic's API does.
func serve(s adaptertest.Scenario) http.Handler {
	status := s.Status()
	var body string
	switch s {
	case adaptertest.Text:
		body = message(textBlock(adaptertest.AnswerText), "end_turn", "null")
	case adaptertest.Structured:
		body = message(toolBlock(adaptertest.SchemaName, adaptertest.AnswerJSON), "tool_use", "null")
	case adaptertest.Malformed:
		body = `{"id":"resp_plumb_1","type":"message","content":[{"type":"text","text":"Hel`
	case adaptertest.Empty:
		body = message(`[]`, "end_turn", "null")
	case adaptertest.Refusal:
		body = message(textBlock(adaptertest.RefusalText), "refusal",
			`{"type":"refusal","category":"cyber","explanation":"The request asks for help with an attack."}`)
	case adaptertest.ContentFilter:
		return nil // the Messages API reports filtered answers as refusals
	case adaptertest.Truncated:
		body = message(textBlock(adaptertest.TruncatedText), "max_tokens", "null")
	case adaptertest.RateLimited, adaptertest.RateLimitedMs, adaptertest.RateLimitedDate:
		body = errorBody("rate_limit_error")
	case adaptertest.ServerError, adaptertest.Unavailable:
		body = errorBody("api_error")
	case adaptertest.Overloaded:
		body = errorBody("overloaded_error")
	case adaptertest.Unauthorized:
		body = errorBody("authentication_error")
	case adaptertest.Forbidden:
		body = errorBody("permission_error")
	case adaptertest.NotFound:
		body = errorBody("not_found_error")
	default:
		body = errorBody("invalid_request_error")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == http.StatusTooManyRequests {
			w.Header().Set("Anthropic-Ratelimit-Requests-Remaining", "0")
			w.Header().Set("Anthropic-Ratelimit-Requests-Reset", "2026-01-01T00:00:00Z")
		}
		writeJSON(w, status, body)
	})
}

// wireRequest is a Messages API request body, as far as the tests read it.
type wireRequest struct {
	Model     string `json:"model"`
	MaxTokens int    `json:"max_tokens"`
	System    []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"system"`
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
	Temperature *float64 `json:"temperature"`
}

func decodeWire(body []byte) (wireRequest, error) {
	var w wireRequest
	err := json.Unmarshal(body, &w)
	return w, err
}

func decode(body []byte) (adaptertest.Request, error) {
	w, err := decodeWire(body)
	if err != nil {
		return adaptertest.Request{}, err
	}
	req := adaptertest.Request{Model: w.Model, MaxTokens: w.MaxTokens}
	for _, s := range w.System {
		req.System = append(req.System, s.Text)
	}
	for _, m := range w.Messages {
		var text []string
		for _, c := range m.Content {
			text = append(text, c.Text)
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: strings.Join(text, "")})
	}
	if len(w.Tools) == 0 {
		return req, nil
	}
	// Structured output is a single tool the model is forced to call.
	if len(w.Tools) != 1 || w.ToolChoice == nil || w.ToolChoice.Type != "tool" || w.ToolChoice.Name != w.Tools[0].Name {
		return req, errors.New("structured output must force a call to its single tool")
	}
	req.Schema, req.SchemaName = w.Tools[0].InputSchema, w.Tools[0].Name
	return req, nil
}
