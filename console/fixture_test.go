package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/console"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The pipelines under the console: leads are parsed (a lead without an
// email is refused for good), labelled by a model whose first answer
// breaks the contract and whose re-ask does not, and drafted (a person
// checks a draft marked for review); digests fan out one branch per word.

type Lead struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Text  string `json:"text"`
}

type Parsed struct {
	Email string `json:"email" jsonschema:"minLength=3"`
	Text  string `json:"text"`
}

type Label struct {
	Stage string  `json:"stage" jsonschema:"enum=warm,enum=cold"`
	Score float64 `json:"score" jsonschema:"minimum=0,maximum=1"`
}

type Draft struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

const (
	operator = "ana@example.com"
	viewer   = "vic@example.com"
)

// fixture is a SQLite store on a temporary file, the application's
// pipelines and a worker, and the console over the store.
type fixture struct {
	t      *testing.T
	st     *sqlitestore.Store
	rt     *pipeline.Runtime
	leads  *pipeline.Pipeline[Lead, Draft]
	digest *pipeline.Pipeline[string, []string]
	h      http.Handler
	srv    *httptest.Server
}

// headerAuth trusts X-User and X-Role, as behind an authenticating proxy.
func headerAuth(r *http.Request) (string, console.Role, bool) {
	who := r.Header.Get("X-User")
	switch r.Header.Get("X-Role") {
	case "operator":
		return who, console.Operator, who != ""
	case "viewer":
		return who, console.Viewer, who != ""
	}
	return "", 0, false
}

func newFixture(t *testing.T, mods ...func(*console.Config)) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: logger})
	f := &fixture{t: t, st: st, rt: rt}
	f.build()
	cfg := console.Config{Store: st, Authorize: headerAuth, BasePath: "/ops/", Logger: logger, Poll: 300 * time.Millisecond,
		TraceURL: "https://traces.example.com/t/{trace}"}
	for _, m := range mods {
		m(&cfg)
	}
	h, err := console.New(cfg)
	require.NoError(t, err)
	f.h = h
	mux := http.NewServeMux()
	mux.Handle("/ops/", h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.work()
	return f
}

func (f *fixture) build() {
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	parse := step.New("parse", func(_ context.Context, l Lead) (Parsed, error) {
		if l.Email == "" {
			return Parsed{}, retry.Permanent(fmt.Errorf("lead %s has no email address: %s", l.ID, l.Text))
		}
		return Parsed{Email: l.Email, Text: l.Text}, nil
	}, step.Config{Retry: retry.Never})
	// The model's first answer is out of range; the re-ask, which carries
	// the violations, is answered well.
	model := llmtest.New(llmtest.Config{Respond: func(req llm.Request) llmtest.Answer {
		if len(req.Messages) > 1 {
			return llmtest.Text(`{"stage":"warm","score":0.8}`)
		}
		return llmtest.Text(`{"stage":"warm","score":7}`)
	}})
	classify := llm.StructuredInto[Label]("classify", model, func(p Parsed) []llm.Message {
		return []llm.Message{llm.User("Label this lead: " + p.Text)}
	}, func(p Parsed, l Label) (Parsed, error) { return p, nil }, llm.Options{})
	draft := step.New("draft", func(_ context.Context, p Parsed) (Draft, error) {
		return Draft{To: p.Email, Subject: "Re: " + p.Text}, nil
	}, step.Config{Review: step.ReviewRule{If: func(d Draft) (string, bool) {
		return "please check " + d.Subject, strings.Contains(d.Subject, "review")
	}}})
	f.leads = pipeline.Then(pipeline.Then(pipeline.New(f.rt, "leads", parse, pol), classify), draft)

	words := pipeline.New(f.rt, "digest", step.New("split", func(_ context.Context, s string) ([]string, error) {
		return strings.Fields(s), nil
	}, step.Config{}), pol)
	title := pipeline.New(f.rt, "digest-item", step.New("title", func(_ context.Context, w string) (string, error) {
		if w == "x" {
			return "", retry.Permanent(errors.New("not a word"))
		}
		return strings.ToUpper(w), nil
	}, step.Config{Retry: retry.Never}), pol)
	f.digest = pipeline.FanOut(words, "each", title, pipeline.FanOutOptions{})
	require.NoError(f.t, f.leads.Err())
	require.NoError(f.t, f.digest.Err())
}

// work runs a worker of every pipeline until the test ends.
func (f *fixture) work() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.rt.Work(ctx, pipeline.WorkerConfig{Concurrency: 4, Poll: 10 * time.Millisecond, PruneEvery: -1})
	}()
	f.t.Cleanup(func() {
		cancel()
		assert.NoError(f.t, <-done)
	})
}

// lead submits a lead and waits until it ends (or parks).
func (f *fixture) lead(l Lead, trigger step.Trigger, key string) *store.RunDetail {
	f.t.Helper()
	id, err := f.leads.Submit(f.t.Context(), l, pipeline.SubmitOptions{Trigger: trigger, IdempotencyKey: key})
	require.NoError(f.t, err)
	return f.settle(id)
}

// settle waits until a run is neither queued nor running nor waiting.
func (f *fixture) settle(id string) *store.RunDetail {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := f.st.GetRun(f.t.Context(), id)
		require.NoError(f.t, err)
		switch d.Run.Status {
		case store.Queued, store.Running, store.Waiting:
		default:
			return d
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("run %s is still %s after 15 s", id, d.Run.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) waitStatus(id string, want store.Status) *store.RunDetail {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := f.st.GetRun(f.t.Context(), id)
		require.NoError(f.t, err)
		if d.Run.Status == want {
			return d
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("run %s is %s after 15 s, want %s", id, d.Run.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do sends a request as who with role, through the mux as a browser would.
func (f *fixture) do(method, path, who, role string, body io.Reader) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	require.NoError(f.t, err)
	if who != "" {
		req.Header.Set("X-User", who)
		req.Header.Set("X-Role", role)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}
