package openai_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/llm/openai"
)

func TestConformance(t *testing.T) {
	adaptertest.Run(t, adaptertest.Provider{
		New:    func(baseURL string) llm.Model { return newModel(t, baseURL+"/v1") },
		Path:   "/v1/chat/completions",
		Serve:  serve,
		Decode: decode,
	})
}

func newModel(t testing.TB, baseURL string, modes ...openai.StructuredOutput) *openai.Model {
	t.Helper()
	cfg := openai.Config{BaseURL: baseURL, APIKey: "sk-test", Model: "default-model"}
	if len(modes) > 0 {
		cfg.StructuredOutput = modes[0]
	}
	m, err := openai.New(cfg)
	require.NoError(t, err)
	return m
}

// completion is a Chat Completions answer in OpenAI's wire format; content
// and refusal are JSON values (a string or null).
func completion(content, refusal, finish string) string {
	return fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":1767225600,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":%s,"annotations":[]},"logprobs":null,"finish_reason":%q}],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d},"service_tier":"default","system_fingerprint":"fp_1"}`,
		adaptertest.ResponseID, adaptertest.ServedModel, content, refusal, finish,
		adaptertest.InputTokens, adaptertest.OutputTokens, adaptertest.InputTokens+adaptertest.OutputTokens)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// errorBody is OpenAI's error envelope.
func errorBody(typ, code string) string {
	c := "null"
	if code != "" {
		c = quote(code)
	}
	return fmt.Sprintf(`{"error":{"message":%q,"type":%q,"param":null,"code":%s}}`, adaptertest.ErrorMessage, typ, c)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req_fake")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// serve answers each scenario as OpenAI's API does.
func serve(s adaptertest.Scenario) http.Handler {
	var status = s.Status()
	var body string
	switch s {
	case adaptertest.Text:
		body = completion(quote(adaptertest.AnswerText), "null", "stop")
	case adaptertest.Structured:
		body = completion(quote(adaptertest.AnswerJSON), "null", "stop")
	case adaptertest.Malformed:
		body = `{"id":"resp_plumb_1","object":"chat.completion","choices":[{"index":0,"message":`
	case adaptertest.Empty:
		body = fmt.Sprintf(`{"id":%q,"object":"chat.completion","created":1767225600,"model":%q,"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":18}}`,
			adaptertest.ResponseID, adaptertest.ServedModel, adaptertest.InputTokens, adaptertest.OutputTokens)
	case adaptertest.Refusal:
		body = completion("null", quote(adaptertest.RefusalText), "stop")
	case adaptertest.ContentFilter:
		body = completion("null", "null", "content_filter")
	case adaptertest.Truncated:
		body = completion(quote(adaptertest.TruncatedText), "null", "length")
	case adaptertest.RateLimited, adaptertest.RateLimitedMs, adaptertest.RateLimitedDate:
		body = errorBody("requests", "rate_limit_exceeded")
	case adaptertest.ServerError, adaptertest.Unavailable, adaptertest.Overloaded:
		body = errorBody("server_error", "")
	case adaptertest.Unauthorized:
		body = errorBody("invalid_request_error", "invalid_api_key")
	case adaptertest.NotFound:
		body = errorBody("invalid_request_error", "model_not_found")
	default:
		body = errorBody("invalid_request_error", "")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == http.StatusTooManyRequests {
			// OpenAI sends its per-limit headers too; retry-after comes first.
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
			w.Header().Set("X-Ratelimit-Reset-Requests", "20s")
		}
		writeJSON(w, status, body)
	})
}

// wireRequest is a Chat Completions request body, as far as the tests read it.
type wireRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	MaxTokens           int `json:"max_tokens"`
	MaxCompletionTokens int `json:"max_completion_tokens"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
			Strict *bool           `json:"strict"`
		} `json:"json_schema"`
	} `json:"response_format"`
	Temperature *float64 `json:"temperature"`
}

func decodeWire(body []byte) (wireRequest, error) {
	var w wireRequest
	err := json.Unmarshal(body, &w)
	return w, err
}

// formatType is the response_format type of a request, "" when it has none.
func formatType(body []byte) string {
	w, err := decodeWire(body)
	if err != nil || w.ResponseFormat == nil {
		return ""
	}
	return w.ResponseFormat.Type
}

func decode(body []byte) (adaptertest.Request, error) {
	w, err := decodeWire(body)
	if err != nil {
		return adaptertest.Request{}, err
	}
	req := adaptertest.Request{Model: w.Model, MaxTokens: max(w.MaxTokens, w.MaxCompletionTokens)}
	for _, m := range w.Messages {
		if m.Role == "system" {
			req.System = append(req.System, m.Content)
			continue
		}
		req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: m.Content})
	}
	if rf := w.ResponseFormat; rf != nil {
		if rf.Type != "json_schema" || rf.JSONSchema == nil {
			return req, errors.New("response_format is not json_schema: " + rf.Type)
		}
		req.Schema, req.SchemaName = rf.JSONSchema.Schema, rf.JSONSchema.Name
	}
	return req, nil
}
