package anthropic

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

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// ProviderName is the gen_ai.provider.name the adapter reports.
const ProviderName = "anthropic"

// DefaultBaseURL is Anthropic's API.
const DefaultBaseURL = "https://api.anthropic.com"

// DefaultMaxTokens caps answers when neither the Request nor the Config
// does: the Messages API requires a cap.
const DefaultMaxTokens = 4096

// StructuredOutput says how an answer matching Request.Output is asked for.
type StructuredOutput string

// The structured-output modes.
const (
	// StructuredAuto uses StructuredTool, and steps down to
	// StructuredInstructions when the server answers 400 that it does not
	// support tools, remembering the step.
	StructuredAuto StructuredOutput = "auto"
	// StructuredTool forces a call to a single tool whose input_schema is
	// the schema; the tool call's input is the answer.
	StructuredTool StructuredOutput = "tool"
	// StructuredInstructions puts the schema in the system prompt.
	StructuredInstructions StructuredOutput = "instructions"
)

// Config configures a Model. Its zero value reads everything from the
// environment.
type Config struct {
	// BaseURL is the API's root, without /v1. Defaults to
	// $ANTHROPIC_BASE_URL, then DefaultBaseURL.
	BaseURL string
	// APIKey authenticates the requests. Defaults to $ANTHROPIC_API_KEY;
	// when both are empty, the SDK's own credential chain applies
	// ($ANTHROPIC_AUTH_TOKEN, ANTHROPIC_PROFILE, workload identity).
	APIKey string
	// Model is the model asked for when a Request names none. Defaults to
	// $PLUMB_MODEL; New fails when both are empty.
	Model string
	// MaxTokens caps each answer when a Request sets no MaxTokens. Defaults
	// to DefaultMaxTokens.
	MaxTokens int
	// StructuredOutput chooses how Request.Output is asked for. Defaults to
	// StructuredAuto.
	StructuredOutput StructuredOutput
	// HTTPClient sends the requests. Defaults to the SDK's client, which has
	// no overall timeout: each call's deadline comes from its context.
	HTTPClient *http.Client
}

// Model is an llm.Model on the Messages API. It is safe for concurrent use.
type Model struct {
	client    sdk.Client
	model     string
	maxTokens int
	mode      StructuredOutput
	// toolsRefused holds, per model name, whether the server said it has no
	// tools (*atomic.Bool), so that auto mode asks in words from then on.
	toolsRefused sync.Map
}

var _ llm.Model = (*Model)(nil)

// New returns a Model configured by cfg and the environment.
func New(cfg Config) (*Model, error) {
	baseURL := cmp.Or(cfg.BaseURL, os.Getenv("ANTHROPIC_BASE_URL"), DefaultBaseURL)
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("anthropic: base URL %q is not an http(s) URL", baseURL)
	}
	model := cmp.Or(cfg.Model, os.Getenv("PLUMB_MODEL"))
	if model == "" {
		return nil, errors.New("anthropic: no model: set Config.Model or the PLUMB_MODEL environment variable")
	}
	mode := cmp.Or(cfg.StructuredOutput, StructuredAuto)
	switch mode {
	case StructuredAuto, StructuredTool, StructuredInstructions:
	default:
		return nil, fmt.Errorf("anthropic: unknown structured output mode %q", cfg.StructuredOutput)
	}
	if cfg.MaxTokens < 0 {
		return nil, fmt.Errorf("anthropic: MaxTokens is negative (%d)", cfg.MaxTokens)
	}
	// Plumb's retry layer owns retries and must see every failure.
	opts := []option.RequestOption{option.WithBaseURL(baseURL), option.WithMaxRetries(0)}
	if key := cmp.Or(cfg.APIKey, os.Getenv("ANTHROPIC_API_KEY")); key != "" {
		// The SDK sends the key as a bearer token; proxies and gateways
		// built for earlier versions read x-api-key, which the API also takes.
		opts = append(opts, option.WithAPIKey(key), option.WithHeader("X-Api-Key", key))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Model{
		client:    sdk.NewClient(opts...),
		model:     model,
		maxTokens: cmp.Or(cfg.MaxTokens, DefaultMaxTokens),
		mode:      mode,
	}, nil
}

// Info names the provider and the default model.
func (m *Model) Info() llm.Info { return llm.Info{Provider: ProviderName, Model: m.model} }

// Generate sends req to the Messages API. See the package documentation for
// how failures are classified. Request.Temperature is not sent: the API
// version the SDK speaks (2026-10-21) rejects sampling parameters.
func (m *Model) Generate(ctx context.Context, req llm.Request) (llm.Response, error) {
	model := cmp.Or(req.Model, m.model)
	if req.Output != nil {
		return m.generateStructured(ctx, model, req)
	}
	params, err := m.params(model, req, "")
	if err != nil {
		return llm.Response{}, err
	}
	return m.send(ctx, model, params, nil)
}

// params builds the request body; extraSystem carries instructions.
func (m *Model) params(model string, req llm.Request, extraSystem string) (sdk.MessageNewParams, error) {
	p := sdk.MessageNewParams{Model: model, MaxTokens: int64(m.maxTokens)}
	if req.MaxTokens > 0 {
		p.MaxTokens = int64(req.MaxTokens)
	}
	for i, msg := range req.Messages {
		switch msg.Role {
		case llm.RoleSystem:
			// The Messages API takes system prompts apart from the turns.
			p.System = append(p.System, sdk.TextBlockParam{Text: msg.Content})
		case llm.RoleUser:
			p.Messages = append(p.Messages, sdk.NewUserMessage(sdk.NewTextBlock(msg.Content)))
		case llm.RoleAssistant:
			p.Messages = append(p.Messages, sdk.NewAssistantMessage(sdk.NewTextBlock(msg.Content)))
		default:
			err := fmt.Errorf("message %d has unknown role %q", i, msg.Role)
			return p, &llm.Error{Provider: ProviderName, Model: model, Kind: llm.ErrBadRequest,
				Class: retry.ClassPermanent, Message: err.Error(), Err: err}
		}
	}
	if extraSystem != "" {
		p.System = append(p.System, sdk.TextBlockParam{Text: extraSystem})
	}
	return p, nil
}

// answer says how to read a structured answer: from the forced tool's input
// (tool set), unwrapped from "value" when the schema had to be wrapped.
type answer struct {
	tool    string
	wrapped bool
}

// send makes one HTTP request and reads its answer.
func (m *Model) send(ctx context.Context, model string, params sdk.MessageNewParams, a *answer) (llm.Response, error) {
	var res *http.Response
	msg, err := m.client.Messages.New(ctx, params, option.WithResponseInto(&res))
	if err != nil {
		return llm.Response{}, classifier.Failure(ctx, model, err, res)
	}
	status := http.StatusOK
	if res != nil {
		status = res.StatusCode
	}
	return read(model, msg, status, a)
}

// read turns a message into a Response, and an unusable one into the error
// that says why, with the Response still filled so that its usage is
// recorded.
func read(model string, msg *sdk.Message, status int, a *answer) (llm.Response, error) {
	u := msg.Usage
	resp := llm.Response{
		Model: msg.Model,
		ID:    msg.ID,
		// Cached input is input too: budgets and gen_ai.usage.input_tokens
		// count all of it.
		Usage: llm.Usage{
			InputTokens:  int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens),
			OutputTokens: int(u.OutputTokens),
		},
		FinishReason: finishReason(msg.StopReason),
	}
	answerErr := func(kind error, class retry.Class, text string) error {
		return &llm.Error{Provider: ProviderName, Model: model, Kind: kind, Class: class, StatusCode: status, Message: text}
	}
	var text strings.Builder
	var input []byte
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			if a != nil && b.Name == a.tool {
				input = b.Input
			}
		}
	}
	resp.Text = text.String()
	if input != nil {
		resp.Text = toolAnswer(input, a.wrapped)
	}
	switch msg.StopReason {
	case sdk.StopReasonRefusal:
		why := cmp.Or(msg.StopDetails.Explanation, string(msg.StopDetails.Category), "the model declined to answer")
		if resp.Text == "" {
			resp.Text = why // what the model said is what a reviewer needs to see
		}
		return resp, answerErr(retry.ErrRefusal, retry.ClassRefusal, why)
	case sdk.StopReasonMaxTokens, sdk.StopReasonModelContextWindowExceeded:
		return resp, answerErr(llm.ErrTruncated, retry.ClassContract, "the answer reached the token limit ("+string(msg.StopReason)+")")
	}
	switch {
	case len(msg.Content) == 0:
		return resp, answerErr(llm.ErrBadResponse, retry.ClassTransient, "the answer has no content")
	case a != nil && input == nil:
		return resp, answerErr(llm.ErrBadResponse, retry.ClassTransient, "the answer does not call the tool "+a.tool)
	}
	return resp, nil
}

func finishReason(r sdk.StopReason) llm.FinishReason {
	switch r {
	case sdk.StopReasonEndTurn, sdk.StopReasonStopSequence:
		return llm.FinishStop
	case sdk.StopReasonMaxTokens, sdk.StopReasonModelContextWindowExceeded:
		return llm.FinishLength
	case sdk.StopReasonToolUse:
		return llm.FinishToolCall
	case sdk.StopReasonRefusal:
		return llm.FinishRefusal
	}
	return llm.FinishOther
}

// refused returns whether the server said model has no tools.
func (m *Model) refused(model string) *atomic.Bool {
	if r, ok := m.toolsRefused.Load(model); ok {
		return r.(*atomic.Bool)
	}
	r, _ := m.toolsRefused.LoadOrStore(model, new(atomic.Bool))
	return r.(*atomic.Bool)
}
