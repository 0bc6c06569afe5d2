package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

// fakeOpenAI stands in for api.openai.com: it answers every chat completion
// with the JSON document the schema asked for.
func fakeOpenAI() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ResponseFormat struct {
				Type string `json:"type"`
			} `json:"response_format"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		answer := `{"company":"Acme","intent":"demo"}`
		if req.ResponseFormat.Type != "json_schema" {
			answer = "?"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"gpt-5-mini-2026-01-01",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":`+fmt.Sprintf("%q", answer)+`,"refusal":null},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":52,"completion_tokens":9,"total_tokens":61}}`)
	}))
}

func Example() {
	srv := fakeOpenAI()
	defer srv.Close()

	// BaseURL, APIKey and Model default to $OPENAI_BASE_URL, $OPENAI_API_KEY
	// and $PLUMB_MODEL.
	model, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", APIKey: "sk-test", Model: "gpt-5-mini"})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := model.Generate(context.Background(), llm.Request{
		Messages: []llm.Message{
			llm.System("Extract the lead."),
			llm.User("Hi, this is Jo from Acme. Could we get a demo next week?"),
		},
		Output: &llm.OutputSchema{Name: "lead", Schema: json.RawMessage(`{
			"type": "object",
			"properties": {"company": {"type": "string"}, "intent": {"enum": ["demo", "pricing", "support"]}},
			"required": ["company", "intent"],
			"additionalProperties": false
		}`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Text)
	fmt.Println(resp.Model, resp.FinishReason, resp.Usage.InputTokens, resp.Usage.OutputTokens)
	// Output:
	// {"company":"Acme","intent":"demo"}
	// gpt-5-mini-2026-01-01 stop 52 9
}

// A rate-limited call is a transient *llm.Error that carries the wait the
// provider asked for; Plumb's retry policy honours it.
func ExampleModel_Generate_rateLimited() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "3")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`)
	}))
	defer srv.Close()

	model, err := openai.New(openai.Config{BaseURL: srv.URL, Model: "gpt-5-mini"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = model.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("Hello")}})

	var e *llm.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Class, errors.Is(err, llm.ErrRateLimited), retry.RetryAfter(err))
	}
	// Output:
	// 429 transient true 3s
}
