package anthropic_test

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
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/retry"
)

// fakeAnthropic stands in for api.anthropic.com: it answers the forced tool
// call with the document the schema asked for.
func fakeAnthropic() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ToolChoice struct {
				Name string `json:"name"`
			} `json:"tool_choice"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-5-5",`+
			`"content":[{"type":"tool_use","id":"toolu_01","name":"`+req.ToolChoice.Name+`","input":{"company": "Acme", "intent": "demo"}}],`+
			`"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":310,"output_tokens":24}}`)
	}))
}

func Example() {
	srv := fakeAnthropic()
	defer srv.Close()

	// BaseURL, APIKey and Model default to $ANTHROPIC_BASE_URL,
	// $ANTHROPIC_API_KEY and $PLUMB_MODEL; MaxTokens to 4096.
	model, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-test", Model: "claude-sonnet-5-5"})
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
	// claude-sonnet-5-5 tool_call 310 24
}

// An overloaded API is a transient *llm.Error: Plumb's retry policy backs
// off and tries again, then a fallback model takes over.
func ExampleModel_Generate_overloaded() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_01"}`)
	}))
	defer srv.Close()

	model, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-test", Model: "claude-sonnet-5-5"})
	if err != nil {
		log.Fatal(err)
	}
	_, err = model.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("Hello")}})
	fmt.Println(errors.Is(err, llm.ErrOverloaded), errors.Is(err, retry.ErrTransient))
	fmt.Println(err)
	// Output:
	// true true
	// anthropic claude-sonnet-5-5: provider overloaded (HTTP 529): Overloaded
}
