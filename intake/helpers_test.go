package intake_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/intake"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// Lead is the input of the test pipeline: an id and an email, both
// checked by the contract.
type Lead struct {
	ID    string `json:"id" jsonschema:"minLength=1"`
	Email string `json:"email" jsonschema:"format=email"`
	Seats int    `json:"seats,omitempty" jsonschema:"minimum=0"`
}

// Welcomed is the pipeline's output.
type Welcomed struct {
	Lead Lead   `json:"lead"`
	Note string `json:"note"`
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// leadPipeline is "leads": check, then welcome.
func leadPipeline(rt *pipeline.Runtime) *pipeline.Pipeline[Lead, Welcomed] {
	sc := step.Config{Retry: retry.Never}
	check := step.New("check", func(_ context.Context, l Lead) (Lead, error) { return l, nil }, sc)
	welcome := step.New("welcome", func(_ context.Context, l Lead) (Welcomed, error) {
		return Welcomed{Lead: l, Note: "welcome " + l.Email}, nil
	}, sc)
	return pipeline.Then(pipeline.New(rt, "leads", check, pipeline.Policy{Outage: pipeline.NoOutage}), welcome)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// env is a pipeline on a SQLite file with a clock that moves when told.
type env struct {
	t     *testing.T
	clock *retrytest.Clock
	st    store.Store
	rt    *pipeline.Runtime
	p     *pipeline.Pipeline[Lead, Welcomed]
}

func newEnv(t *testing.T) *env { return newEnvWith(t, pipeline.RuntimeConfig{}) }

// newEnvWith is newEnv with the runtime's other settings (telemetry, a
// notifier) from cfg; the handler takes them from the runtime.
func newEnvWith(t *testing.T, cfg pipeline.RuntimeConfig) *env {
	t.Helper()
	clock := retrytest.NewClock(t0)
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock, Logger: quiet()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	cfg.Store, cfg.Clock, cfg.Logger = st, clock, quiet()
	rt := pipeline.NewRuntime(cfg)
	return &env{t: t, clock: clock, st: st, rt: rt, p: leadPipeline(rt)}
}

// serve starts a real server for the source on e's pipeline.
func (e *env) serve(src intake.Source) (*intake.Handler, string) {
	e.t.Helper()
	h := intake.New(e.p, src)
	require.NoError(e.t, h.Err())
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return h, srv.URL
}

// reply is a response: its status, its decoded body and its headers.
type reply struct {
	code   int
	answer intake.Answer
	header http.Header
}

func post(t testing.TB, client *http.Client, url string, header http.Header, body []byte) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"), "every answer is JSON: %s", raw)
	var a intake.Answer
	require.NoError(t, json.Unmarshal(raw, &a), "%s", raw)
	return reply{code: res.StatusCode, answer: a, header: res.Header}
}

// The senders' side of each scheme, written from their documentation.

func stdSign(t testing.TB, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	h, err := notify.Sign(secret, id, at, body)
	require.NoError(t, err)
	return h
}

func hmacHex(secret string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func githubSign(secret, delivery string, body []byte) http.Header {
	return http.Header{"X-Hub-Signature-256": {"sha256=" + hmacHex(secret, body)}, "X-Github-Delivery": {delivery}}
}

func stripeSign(at time.Time, body []byte, secrets ...string) http.Header {
	ts := strconv.FormatInt(at.Unix(), 10)
	v := "t=" + ts
	for _, s := range secrets {
		v += ",v1=" + hmacHex(s, []byte(ts+"."), body)
	}
	return http.Header{"Stripe-Signature": {v}}
}

func shopifySign(secret, delivery string, body []byte) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return http.Header{"X-Shopify-Hmac-Sha256": {base64.StdEncoding.EncodeToString(m.Sum(nil))}, "X-Shopify-Webhook-Id": {delivery}}
}

func leadBody(id, email string) []byte {
	b, _ := json.Marshal(Lead{ID: id, Email: email})
	return b
}

type pipelineOfLeads = pipeline.Pipeline[Lead, Welcomed]

func newServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func hmacRaw(secret string, parts ...[]byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, p := range parts {
		m.Write(p)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
