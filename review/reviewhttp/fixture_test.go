package reviewhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/review/reviewhttp"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// The pipeline under review: a lead gets a drafted reply, which a person
// checks when the model is unsure, then the reply is sent.

type Lead struct {
	Email string `json:"email"`
	Note  string `json:"note"`
}

type Draft struct {
	To         string  `json:"to"`
	Subject    string  `json:"subject" jsonschema:"minLength=1"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
}

type Sent struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

const reviewer = "ana@example.com"

func newPipeline(rt *pipeline.Runtime, name string) *pipeline.Pipeline[Lead, Sent] {
	draft := step.New("draft", func(_ context.Context, l Lead) (Draft, error) {
		return Draft{To: l.Email, Subject: "Re: " + l.Note, Confidence: 0.4}, nil
	}, step.Config{
		Retry: retry.Policy{MaxAttempts: 1},
		Review: step.ReviewRule{
			If: func(d Draft) (string, bool) {
				return "low confidence in the reply " + d.Subject, d.Confidence < 0.7
			},
			// A failure a person can fix by writing the draft themselves.
			OnClasses: []retry.Class{retry.ClassPermanent},
			Deadline:  time.Hour,
		},
	})
	send := step.New("send", func(_ context.Context, d Draft) (Sent, error) {
		return Sent{To: d.To, Subject: d.Subject}, nil
	}, step.Config{})
	return pipeline.Then(pipeline.New(rt, name, draft, pipeline.Policy{Outage: pipeline.NoOutage}), send)
}

// fixture is a pipeline on the kit's memory store with the inbox over it.
type fixture struct {
	t   *testing.T
	kit *pipelinetest.Kit
	p   *pipeline.Pipeline[Lead, Sent]
	h   http.Handler
	// logs holds what the inbox logged.
	logs *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// headerAuth trusts an X-Reviewer header, as behind an authenticating
// proxy.
func headerAuth(r *http.Request) (string, bool) {
	who := r.Header.Get("X-Reviewer")
	return who, who != ""
}

func newFixture(t *testing.T, mods ...func(*reviewhttp.Config)) *fixture {
	t.Helper()
	k := pipelinetest.New(t)
	f := &fixture{t: t, kit: k, p: newPipeline(k.Runtime, "leads"), logs: &syncBuffer{}}
	cfg := reviewhttp.Config{Store: k.Store, Authorize: headerAuth, Now: k.Clock.Now, BasePath: "/review/",
		Logger: slog.New(slog.NewTextHandler(f.logs, nil))}
	for _, m := range mods {
		m(&cfg)
	}
	h, err := reviewhttp.New(cfg)
	require.NoError(t, err)
	f.h = h
	return f
}

// park runs a lead until it waits for review and returns the run's id.
func (f *fixture) park(note string) string {
	f.t.Helper()
	return f.parkWith(note, pipeline.RunOptions{})
}

// parkFrom parks a lead that came from source with its id there, and an
// idempotency key.
func (f *fixture) parkFrom(source, externalID, key, note string) string {
	f.t.Helper()
	return f.parkWith(note, pipeline.RunOptions{IdempotencyKey: key,
		Trigger: step.Trigger{Source: source, ExternalID: externalID, ReceivedAt: f.kit.Clock.Now()}})
}

func (f *fixture) parkWith(note string, o pipeline.RunOptions) string {
	f.t.Helper()
	_, err := f.p.Run(f.kit.Context(), Lead{Email: "bob@example.com", Note: note}, o)
	var pe *pipeline.PendingError
	require.True(f.t, errors.As(err, &pe), "want a pending run, got %v", err)
	f.kit.AssertAwaitingReview(pe.RunID, "draft")
	return pe.RunID
}

// parkFailed parks a run whose draft step failed: a review with no
// proposal.
func (f *fixture) parkFailed() string {
	f.t.Helper()
	f.kit.Fail("draft", retry.ClassPermanent, 1)
	return f.park("the model is down")
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(r.body), v), "body: %s", r.body)
}

// request sends a request to the inbox as the reviewer (as nobody when
// who is ""), with optional header pairs.
func (f *fixture) request(who, method, path, body string, headers ...string) response {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if who != "" {
		req.Header.Set("X-Reviewer", who)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (f *fixture) get(path string) response { return f.request(reviewer, http.MethodGet, path, "") }

// postJSON calls the API as the reviewer.
func (f *fixture) postJSON(path, body string) response {
	return f.request(reviewer, http.MethodPost, path, body, "Content-Type", "application/json")
}

// postForm submits a page's form as a browser would (same origin).
func (f *fixture) postForm(path string, form url.Values) response {
	return f.request(reviewer, http.MethodPost, path, form.Encode(),
		"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// formValues reads a run's page and returns the fields its forms carry.
func (f *fixture) formValues(id string) url.Values {
	f.t.Helper()
	page := f.get("/review/reviews/" + id)
	require.Equal(f.t, http.StatusOK, page.status, page.body)
	m := csrfField.FindStringSubmatch(page.body)
	require.NotNil(f.t, m, "no csrf field on the page")
	d := f.kit.Get(id)
	return url.Values{"csrf": {m[1]}, "attempt": {strconv.Itoa(d.Run.Attempt)}, "step": {d.Run.Review.Step}}
}

func (f *fixture) status(id string) store.Status { return f.kit.Get(id).Run.Status }
