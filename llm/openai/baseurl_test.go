package openai_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

// underV1 serves the API under /v1 only, as vLLM, Ollama and LM Studio do,
// and answers every other path with their plain 404.
func underV1() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/chat/completions", answering())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "404 page not found", http.StatusNotFound)
	})
	return mux
}

// A BaseURL without /v1 is the commonest mistake with a compatible server;
// its bare 404 must say what to change.
func TestNotFoundNamesMissingV1(t *testing.T) {
	clearEnv(t)
	srv, _ := adaptertest.NewServer(t, underV1())
	for _, tc := range []struct {
		name, base string
		output     *llm.OutputSchema
	}{
		{"text", srv.URL, nil},
		{"trailing slash", srv.URL + "/", nil},
		{"structured", srv.URL, &llm.OutputSchema{Name: "Label", Schema: []byte(`{"type":"object"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := openai.New(openai.Config{BaseURL: tc.base, Model: "llama3"})
			require.NoError(t, err)
			_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}, Output: tc.output})
			require.Error(t, err)
			assert.ErrorIs(t, err, llm.ErrModelNotFound)
			assert.ErrorIs(t, err, retry.ErrPermanent)
			var le *llm.Error
			require.True(t, errors.As(err, &le))
			assert.Equal(t, http.StatusNotFound, le.StatusCode)
			msg := err.Error()
			assert.Contains(t, msg, "answered 404 Not Found for "+srv.URL+"/chat/completions")
			assert.Contains(t, msg, "the BaseURL "+tc.base+" has no /v1")
			assert.Contains(t, msg, "try "+srv.URL+"/v1")
			assert.Contains(t, msg, "404 page not found", "what the server said is kept")
		})
	}
}

// With /v1 in the BaseURL a 404 means something else (an unknown model):
// no hint about the path.
func TestNotFoundWithV1HasNoHint(t *testing.T) {
	clearEnv(t)
	srv, _ := adaptertest.NewServer(t, serve(adaptertest.NotFound))
	for _, base := range []string{srv.URL + "/v1", srv.URL + "/api/v1/", srv.URL + "/v1beta/openai"} {
		m, err := openai.New(openai.Config{BaseURL: base, Model: "gone"})
		require.NoError(t, err)
		_, err = m.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
		require.ErrorIs(t, err, llm.ErrModelNotFound)
		assert.NotContains(t, err.Error(), "/v1:", base)
		assert.NotContains(t, err.Error(), "try ", base)
	}
}
