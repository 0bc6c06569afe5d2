package openai_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

func clearEnv(t *testing.T) {
	for _, k := range []string{"OPENAI_BASE_URL", "OPENAI_API_KEY", "PLUMB_MODEL"} {
		t.Setenv(k, "")
	}
}

func answering() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, completion(quote(adaptertest.AnswerText), "null", "stop"))
	})
}

func TestConfigFromEnvironment(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	t.Setenv("OPENAI_BASE_URL", srv.URL+"/v1")
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("PLUMB_MODEL", "env-model")

	m, err := openai.New(openai.Config{})
	require.NoError(t, err)
	assert.Equal(t, llm.Info{Provider: "openai", Model: "env-model"}, m.Info())
	_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
	require.NoError(t, err)

	r := requests()[0]
	assert.Equal(t, "/v1/chat/completions", r.Path)
	assert.Equal(t, "Bearer sk-from-env", r.Header.Get("Authorization"))
	w, err := decodeWire(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "env-model", w.Model)
	assert.Zero(t, w.MaxTokens, "no cap unless asked for")
	assert.Nil(t, w.Temperature)
}

func TestConfigOverridesEnvironment(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1") // nothing there
	t.Setenv("OPENAI_API_KEY", "sk-from-env")
	t.Setenv("PLUMB_MODEL", "env-model")

	m, err := openai.New(openai.Config{BaseURL: srv.URL, APIKey: "sk-config", Model: "config-model", MaxTokens: 99})
	require.NoError(t, err)
	temp := 0.25
	_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}, Temperature: &temp})
	require.NoError(t, err)
	r := requests()[0]
	assert.Equal(t, "Bearer sk-config", r.Header.Get("Authorization"))
	w, err := decodeWire(r.Body)
	require.NoError(t, err)
	assert.Equal(t, "config-model", w.Model)
	assert.Equal(t, 99, w.MaxTokens)
	assert.Equal(t, &temp, w.Temperature)
}

func TestLocalServerNeedsNoKey(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	m, err := openai.New(openai.Config{BaseURL: srv.URL, Model: "llama3"})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
	require.NoError(t, err)
	assert.Empty(t, requests()[0].Header.Get("Authorization"))
}

func TestNewRejectsBadConfig(t *testing.T) {
	clearEnv(t)
	_, err := openai.New(openai.Config{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PLUMB_MODEL")

	for _, cfg := range []openai.Config{
		{Model: "m", BaseURL: "api.openai.com/v1"},
		{Model: "m", BaseURL: "ftp://example.com"},
		{Model: "m", StructuredOutput: "xml"},
		{Model: "m", MaxTokens: -1},
	} {
		_, err := openai.New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
}

// OpenAI's reasoning models refuse max_tokens; compatible servers may not
// know max_completion_tokens. The host decides.
func TestMaxTokensParameterFollowsHost(t *testing.T) {
	clearEnv(t)
	srv, requests := adaptertest.NewServer(t, answering())
	target, err := url.Parse(srv.URL)
	require.NoError(t, err)
	// Send api.openai.com's requests to the fake.
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	m, err := openai.New(openai.Config{Model: "o4-mini", APIKey: "sk", HTTPClient: client, MaxTokens: 500})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
	require.NoError(t, err)
	w, err := decodeWire(requests()[0].Body)
	require.NoError(t, err)
	assert.Equal(t, 500, w.MaxCompletionTokens)
	assert.Zero(t, w.MaxTokens)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestUnknownRoleIsPermanent(t *testing.T) {
	srv, requests := adaptertest.NewServer(t, answering())
	m := newModel(t, srv.URL)
	_, err := m.Generate(context.Background(), llm.Request{Messages: []llm.Message{{Role: "tool", Content: "x"}}})
	assert.ErrorIs(t, err, llm.ErrBadRequest)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Empty(t, requests())
}
