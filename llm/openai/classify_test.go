package openai_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/internal/adaptertest"
	"github.com/plumb-dev/plumb/llm/openai"
	"github.com/plumb-dev/plumb/retry"
)

// Classification corners beyond the conformance suite: OpenAI's own error
// codes and headers, and the error shapes of compatible servers.
func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		kind    error
		class   retry.Class
		after   time.Duration
		message string
	}{
		{name: "a spent quota is not worth a retry", status: 429,
			body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
			kind: llm.ErrRateLimited, class: retry.ClassPermanent, message: "exceeded your current quota"},
		{name: "rate-limit reset headers when there is no retry-after", status: 429,
			header: map[string]string{"X-Ratelimit-Remaining-Requests": "5", "X-Ratelimit-Reset-Requests": "1s", "X-Ratelimit-Remaining-Tokens": "0", "X-Ratelimit-Reset-Tokens": "6m0s"},
			body:   `{"error":{"message":"Rate limit reached for tokens","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`,
			kind:   llm.ErrRateLimited, class: retry.ClassTransient, after: 6 * time.Minute, message: "Rate limit reached"},
		{name: "x-should-retry false overrides a 500", status: 500, header: map[string]string{"X-Should-Retry": "false"},
			body: `{"error":{"message":"bad","type":"server_error"}}`, kind: llm.ErrServer, class: retry.ClassPermanent, message: "bad"},
		{name: "x-should-retry true overrides a 400", status: 400, header: map[string]string{"X-Should-Retry": "true"},
			body: `{"error":{"message":"try again","type":"invalid_request_error"}}`, kind: llm.ErrBadRequest, class: retry.ClassTransient, message: "try again"},
		{name: "an error given as a string (LM Studio)", status: 400,
			body: `{"error":"'response_format.type' must be 'json_schema' or 'text'"}`, kind: llm.ErrBadRequest, class: retry.ClassPermanent, message: "must be 'json_schema'"},
		{name: "a FastAPI detail (vLLM)", status: 422,
			body: `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`, kind: llm.ErrBadRequest, class: retry.ClassPermanent, message: "field required"},
		{name: "an empty body", status: 503, kind: llm.ErrOverloaded, class: retry.ClassTransient, message: "Service Unavailable"},
		{name: "a request timeout", status: 408, body: "timeout", kind: llm.ErrTimeout, class: retry.ClassTransient, message: "timeout"},
		{name: "a conflict", status: 409, body: `{"error":{"message":"busy"}}`, kind: llm.ErrServer, class: retry.ClassTransient, message: "busy"},
		{name: "a wait too long to represent", status: 429, header: map[string]string{"Retry-After": "1e300"},
			body: "{}", kind: llm.ErrRateLimited, class: retry.ClassTransient, after: 24 * time.Hour},
		{name: "a date already past", status: 429, header: map[string]string{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
			body: "{}", kind: llm.ErrRateLimited, class: retry.ClassTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := adaptertest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				writeJSON(w, tc.status, tc.body)
			}))
			m := newModel(t, srv.URL)
			_, err := m.Generate(context.Background(), adaptertest.NewRequest(false))
			var le *llm.Error
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tc.kind)
			assert.Equal(t, tc.class, le.Class)
			assert.Equal(t, tc.status, le.StatusCode)
			assert.Equal(t, tc.after, le.After)
			assert.Contains(t, le.Message, tc.message)
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
	m, err := openai.New(openai.Config{BaseURL: srv.URL, Model: "m", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	_, err = m.Generate(context.Background(), adaptertest.NewRequest(false))
	assert.ErrorIs(t, err, llm.ErrTimeout)
	assert.ErrorIs(t, err, retry.ErrTransient)
}
