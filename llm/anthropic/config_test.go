package anthropic_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/anthropic"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/retry"
)

func clearEnv(t *testing.T) {
	for _, k := range []string{"ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "PLUMB_MODEL"} {
		t.Setenv(k, "")
	}
}

func answering() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, message(textBlock(adaptertest.AnswerText), "end_turn", "null"))
	})
}

func TestConfigFromEnvironment(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	t.Setenv("ANTHROPIC_BASE_URL", srv.URL)
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-env")
	t.Setenv("PLUMB_MODEL", "env-model")

	m, err := anthropic.New(anthropic.Config{})
	require.NoError(t, err)
	assert.Equal(t, llm.Info{Provider: "anthropic", Model: "env-model"}, m.Info())
	temp := 0.2
	resp, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}, Temperature: &temp})
	require.NoError(t, err)
	assert.Equal(t, adaptertest.AnswerText, resp.Text)

	r := requests()[0]
	assert.Equal(t, "/v1/messages", r.Path)
	assert.Equal(t, "Bearer sk-ant-env", r.Header.Get("Authorization"))
	assert.Equal(t, "sk-ant-env", r.Header.Get("X-Api-Key"))
	assert.NotEmpty(t, r.Header.Get("Anthropic-Version"))
	w, err := decodeWire(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "env-model", w.Model)
	assert.Equal(t, anthropic.DefaultMaxTokens, w.MaxTokens, "the API requires a cap")
	assert.Nil(t, w.Temperature, "the API version rejects sampling parameters")
	assert.Empty(t, w.System)
}

func TestConfigOverridesEnvironment(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1") // nothing there
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-env")
	t.Setenv("PLUMB_MODEL", "env-model")

	m, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-config", Model: "config-model", MaxTokens: 123})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
	require.NoError(t, err)
	r := requests()[0]
	assert.Equal(t, "sk-ant-config", r.Header.Get("X-Api-Key"))
	w, err := decodeWire(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "config-model", w.Model)
	assert.Equal(t, 123, w.MaxTokens)
}

func TestNewRejectsBadConfig(t *testing.T) {
	clearEnv(t)
	_, err := anthropic.New(anthropic.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PLUMB_MODEL")
	for _, cfg := range []anthropic.Config{
		{Model: "m", BaseURL: "api.anthropic.com"},
		{Model: "m", StructuredOutput: "json_schema"},
		{Model: "m", MaxTokens: -5},
	} {
		_, err := anthropic.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

func TestUnknownRoleIsPermanent(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, answering())
	_, err := newModel(t, srv.URL).Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: "tool", Content: "x"}}})
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Empty(t, requests())
}

// Classification corners beyond the conformance suite.
func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		body   string
		kind   error
		class  retry.Class
	}{
		{"overloaded_error on a 500", 500, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.ErrOverloaded, retry.ClassTransient},
		{"a gateway timeout", 504, nil, `{"type":"error","error":{"type":"timeout_error","message":"Request timed out"}}`, llm.ErrTimeout, retry.ClassTransient},
		{"billing", 400, nil, `{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}`, llm.ErrBadRequest, retry.ClassPermanent},
		{"request too large", 413, nil, `{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum size"}}`, llm.ErrBadRequest, retry.ClassPermanent},
		{"x-should-retry false", 529, map[string]string{"X-Should-Retry": "false"}, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, llm.ErrOverloaded, retry.ClassPermanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, tc.body)
			}))
			_, err := newModel(t, srv.URL).Generate(context.Background(), adaptertest.NewRequest(false))
			var le *llm.Error
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tc.kind)
			assert.Equal(t, tc.class, le.Class)
			assert.Equal(t, tc.status, le.StatusCode)
		})
	}
}

func TestNetworkTimeoutIsTransient(t *testing.T) {
	srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	m, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "k", Model: "m", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), adaptertest.NewRequest(false))
	assert.ErrorIs(t, err, llm.ErrTimeout)
	assert.ErrorIs(t, err, retry.ErrTransient)
}

// The SDK refuses, before sending, a non-streaming call whose cap could
// take longer than its limit: that is the caller's configuration to fix.
func TestCapTooLargeForNonStreaming(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, answering())
	req := adaptertest.NewRequest(false)
	req.MaxTokens = 100_000
	_, err := newModel(t, srv.URL).Generate(context.Background(), req)
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Contains(t, err.Error(), "streaming")
	assert.Empty(t, requests())
}
