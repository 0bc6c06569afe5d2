package openai

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// ProviderName is the gen_ai.provider.name the adapter reports, for OpenAI
// and for every server that speaks its API.
const ProviderName = "openai"

// DefaultBaseURL is OpenAI's API.
const DefaultBaseURL = "https://api.openai.com/v1"

// StructuredOutput says how an answer matching Request.Output is asked for.
type StructuredOutput string

// The structured-output modes, strongest first.
const (
	// StructuredAuto tries StructuredJSONSchema, then StructuredJSONObject,
	// then StructuredInstructions, stepping down only when the server
	// answers 400 that it does not support the mode, and remembers the step.
	StructuredAuto StructuredOutput = "auto"
	// StructuredJSONSchema sends response_format {type: "json_schema"}.
	StructuredJSONSchema StructuredOutput = "json_schema"
	// StructuredJSONObject sends response_format {type: "json_object"} and
	// the schema in a system message.
	StructuredJSONObject StructuredOutput = "json_object"
	// StructuredInstructions sends the schema in a system message only.
	StructuredInstructions StructuredOutput = "instructions"
)

// Config configures a Model. Its zero value reads everything from the
// environment.
type Config struct {
	// BaseURL is the API's root, up to and including /v1. Defaults to
	// $OPENAI_BASE_URL, then DefaultBaseURL. Any OpenAI-compatible server
	// works: vLLM, Ollama, LM Studio, OpenRouter...
	BaseURL string
	// APIKey is sent as a bearer token. Defaults to $OPENAI_API_KEY; a local
	// server that needs none may leave both empty.
	APIKey string
	// Model is the model asked for when a Request names none. Defaults to
	// $PLUMB_MODEL; New fails when both are empty.
	Model string
	// MaxTokens caps each answer when a Request sets no MaxTokens. Defaults
	// to 0: no cap is sent and the server's own limit applies.
	MaxTokens int
	// StructuredOutput chooses how Request.Output is asked for. Defaults to
	// StructuredAuto.
	StructuredOutput StructuredOutput
	// HTTPClient sends the requests. Defaults to the SDK's client, which has
	// no overall timeout: each call's deadline comes from its context.
	HTTPClient *http.Client
}

// Model is an llm.Model on the Chat Completions API. It is safe for
// concurrent use.
type Model struct {
	client    sdk.Client
	baseURL   string
	model     string
	maxTokens int
	mode      StructuredOutput
	// completionTokens sends max_completion_tokens, which OpenAI's reasoning
	// models require, instead of max_tokens, which compatible servers know.
	completionTokens bool
	// rungs holds, per model name, the first structured-output mode still
	// worth trying in auto mode (*atomic.Int32, an index into ladder).
	rungs sync.Map
}

var _ llm.Model = (*Model)(nil)

// New returns a Model configured by cfg and the environment.
func New(cfg Config) (*Model, error) {
	baseURL := cmp.Or(cfg.BaseURL, os.Getenv("OPENAI_BASE_URL"), DefaultBaseURL)
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai: base URL %q is not an http(s) URL", baseURL)
	}
	model := cmp.Or(cfg.Model, os.Getenv("PLUMB_MODEL"))
	if model == "" {
		return nil, errors.New("openai: no model: set Config.Model or the PLUMB_MODEL environment variable")
	}
	mode := cmp.Or(cfg.StructuredOutput, StructuredAuto)
	if mode != StructuredAuto && ladderIndex(mode) < 0 {
		return nil, fmt.Errorf("openai: unknown structured output mode %q", cfg.StructuredOutput)
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("openai: MaxTokens is negative (%d)", cfg.MaxTokens)
	}
	// Plumb's retry layer owns retries and must see every failure.
	opts := []option.RequestOption{option.WithBaseURL(baseURL), option.WithMaxRetries(0)}
	if key := cmp.Or(cfg.APIKey, os.Getenv("OPENAI_API_KEY")); key != "" {
		opts = append(opts, option.WithAPIKey(key))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	host := strings.ToLower(u.Hostname())
	return &Model{
		client:           sdk.NewClient(opts...),
		baseURL:          baseURL,
		model:            model,
		maxTokens:        cfg.MaxTokens,
		mode:             mode,
		completionTokens: host == "api.openai.com" || strings.HasSuffix(host, ".openai.azure.com"),
	}, nil
}

// Info names the provider and the default model.
func (m *Model) Info() llm.Info { return llm.Info{Provider: ProviderName, Model: m.model} }

// Generate sends req to the Chat Completions API. See the package
// documentation for how failures are classified.
func (m *Model) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	model := cmp.Or(req.Model, m.model)
	if req.Output != nil {
		return m.generateStructured(ctx, model, req)
	}
	params, err := m.params(model, req, nil, "")
	if err != nil {
		return llm.Response{}, err
	}
	return m.send(ctx, model, params, nil)
}

// params builds the request body; format and extraSystem carry the
// structured-output mode.
func (m *Model) params(model string, req llm.Request, format *sdk.ChatCompletionNewParamsResponseFormatUnion, extraSystem string) (sdk.ChatCompletionNewParams, error) {
	msgs, err := messages(req.Messages, extraSystem)
	if err != nil {
		return sdk.ChatCompletionNewParams{}, &llm.Error{Provider: ProviderName, Model: model, Kind: llm.ErrBadRequest,
			Class: retry.ClassPermanent, Message: err.Error(), Err: err}
	}
	p := sdk.ChatCompletionNewParams{Model: model, Messages: msgs}
	if n := cmp.Or(req.MaxTokens, m.maxTokens); n > 0 {
		if m.completionTokens {
			p.MaxCompletionTokens = sdk.Int(int64(n))
		} else {
			p.MaxTokens = sdk.Int(int64(n))
		}
	}
	if req.Temperature != nil {
		p.Temperature = sdk.Float(*req.Temperature)
	}
	if format != nil {
		p.ResponseFormat = *format
	}
	return p, nil
}

// messages converts the conversation. extraSystem, when set, joins the
// first system message (or becomes one): some chat templates of local
// servers accept a single system message, first.
func messages(msgs []llm.Message, extraSystem string) ([]sdk.ChatCompletionMessageParamUnion, error) {
	out := make([]sdk.ChatCompletionMessageParamUnion, 0, len(msgs)+1)
	for i, msg := range msgs {
		switch msg.Role {
		case llm.RoleSystem:
			content := msg.Content
			if extraSystem != "" {
				content, extraSystem = content+"\n\n"+extraSystem, ""
			}
			out = append(out, sdk.SystemMessage(content))
		case llm.RoleUser:
			out = append(out, sdk.UserMessage(msg.Content))
		case llm.RoleAssistant:
			out = append(out, sdk.AssistantMessage(msg.Content))
		default:
			return nil, fmt.Errorf("message %d has unknown role %q", i, msg.Role)
		}
	}
	if extraSystem != "" {
		out = append([]sdk.ChatCompletionMessageParamUnion{sdk.SystemMessage(extraSystem)}, out...)
	}
	return out, nil
}

// send makes one HTTP request and reads its answer; post, when set, turns
// the answer's text into the document the caller asked for.
func (m *Model) send(ctx context.Context, model string, params sdk.ChatCompletionNewParams, post func(string) string) (llm.Response, error) {
	var res *http.Response
	comp, err := m.client.Chat.Completions.New(ctx, params, option.WithResponseInto(&res))
	if err != nil {
		ferr := classifier.Failure(ctx, model, err, res)
		m.explainNotFound(ferr, res)
		return llm.Response{}, ferr
	}
	status := http.StatusOK
	if res != nil {
		status = res.StatusCode
	}
	return read(model, comp, status, post)
}

// read turns a completion into a Response, and an unusable one into the
// error that says why, with the Response still filled so that its usage is
// recorded.
func read(model string, comp *sdk.ChatCompletion, status int, post func(string) string) (llm.Response, error) {
	resp := llm.Response{
		Model: comp.Model,
		ID:    comp.ID,
		Usage: llm.Usage{InputTokens: int(comp.Usage.PromptTokens), OutputTokens: int(comp.Usage.CompletionTokens)},
	}
	answerErr := func(kind error, class retry.Class, msg string) error {
		return &llm.Error{Provider: ProviderName, Model: model, Kind: kind, Class: class, StatusCode: status, Message: msg}
	}
	if len(comp.Choices) == 0 {
		return resp, answerErr(llm.ErrBadResponse, retry.ClassTransient, "the response has no choices")
	}
	choice := comp.Choices[0]
	msg := choice.Message
	resp.Text = msg.Content
	resp.FinishReason = finishReason(choice.FinishReason)
	switch {
	case msg.Refusal != "":
		resp.FinishReason = llm.FinishRefusal
		if resp.Text == "" {
			resp.Text = msg.Refusal // what the model said is what a reviewer needs to see
		}
		return resp, answerErr(retry.ErrRefusal, retry.ClassRefusal, msg.Refusal)
	case choice.FinishReason == "content_filter":
		return resp, answerErr(llm.ErrContentFilter, retry.ClassRefusal, "the answer was blocked by a content filter")
	case choice.FinishReason == "length":
		return resp, answerErr(llm.ErrTruncated, retry.ClassContract, "the answer reached the token limit")
	case !msg.JSON.Content.Valid():
		return resp, answerErr(llm.ErrBadResponse, retry.ClassTransient, "the answer has no content")
	}
	if post != nil {
		resp.Text = post(resp.Text)
	}
	return resp, nil
}

func finishReason(r string) llm.FinishReason {
	switch r {
	case "stop":
		return llm.FinishStop
	case "length":
		return llm.FinishLength
	case "content_filter":
		return llm.FinishContentFilter
	case "tool_calls", "function_call":
		return llm.FinishToolCall
	}
	return llm.FinishOther
}

// rung returns the first mode still worth trying for model in auto mode.
func (m *Model) rung(model string) *atomic.Int32 {
	if r, ok := m.rungs.Load(model); ok {
		return r.(*atomic.Int32)
	}
	r, _ := m.rungs.LoadOrStore(model, new(atomic.Int32))
	return r.(*atomic.Int32)
}
