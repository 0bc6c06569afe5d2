package adaptertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
)

// outcome is what a scenario must produce.
type outcome struct {
	kind   error // nil: success
	class  retry.Class
	status int
	// after is the Retry-After expected; for an HTTP date, any wait in
	// [afterMin, after] passes (the date has a one-second resolution and the
	// clock runs between server and client).
	after, afterMin time.Duration
	usage           bool   // usage must be the fixture's
	text            string // Response.Text must equal it
	json            bool   // Response.Text must be JSON-equal to AnswerJSON
	finish          []llm.FinishReason
	served          bool // Response.Model and ID must be the fixture's
	message         bool // Error.Message must carry ErrorMessage
}

var stopped = []llm.FinishReason{llm.FinishStop}

// served lists the scenarios the provider's handler answers.
var served = []struct {
	scenario Scenario
	want     outcome
}{
	{Text, outcome{usage: true, text: AnswerText, finish: stopped, served: true}},
	// A forced tool call ends with a tool-call finish; JSON-schema output with a stop.
	{Structured, outcome{usage: true, json: true, finish: []llm.FinishReason{llm.FinishStop, llm.FinishToolCall}, served: true}},
	{Malformed, outcome{kind: llm.ErrBadResponse, class: retry.ClassTransient, status: 200}},
	{Empty, outcome{kind: llm.ErrBadResponse, class: retry.ClassTransient, status: 200, usage: true, served: true}},
	{RateLimited, outcome{kind: llm.ErrRateLimited, class: retry.ClassTransient, status: 429, after: 2 * time.Second, message: true}},
	{RateLimitedMs, outcome{kind: llm.ErrRateLimited, class: retry.ClassTransient, status: 429, after: 1500 * time.Millisecond, message: true}},
	{RateLimitedDate, outcome{kind: llm.ErrRateLimited, class: retry.ClassTransient, status: 429, after: 3 * time.Second, afterMin: time.Second, message: true}},
	{ServerError, outcome{kind: llm.ErrServer, class: retry.ClassTransient, status: 500, message: true}},
	{Unavailable, outcome{kind: llm.ErrOverloaded, class: retry.ClassTransient, status: 503, after: time.Second, message: true}},
	{Overloaded, outcome{kind: llm.ErrOverloaded, class: retry.ClassTransient, status: 529, message: true}},
	{Refusal, outcome{kind: retry.ErrRefusal, class: retry.ClassRefusal, status: 200, usage: true, text: RefusalText, finish: []llm.FinishReason{llm.FinishRefusal}, served: true}},
	{ContentFilter, outcome{kind: llm.ErrContentFilter, class: retry.ClassRefusal, status: 200, usage: true, finish: []llm.FinishReason{llm.FinishContentFilter}, served: true}},
	{Truncated, outcome{kind: llm.ErrTruncated, class: retry.ClassContract, status: 200, usage: true, text: TruncatedText, finish: []llm.FinishReason{llm.FinishLength}, served: true}},
	{BadRequest, outcome{kind: llm.ErrBadRequest, class: retry.ClassPermanent, status: 400, message: true}},
	{Unauthorized, outcome{kind: llm.ErrAuth, class: retry.ClassPermanent, status: 401, message: true}},
	{Forbidden, outcome{kind: llm.ErrAuth, class: retry.ClassPermanent, status: 403, message: true}},
	{NotFound, outcome{kind: llm.ErrModelNotFound, class: retry.ClassPermanent, status: 404, message: true}},
	{Unprocessable, outcome{kind: llm.ErrBadRequest, class: retry.ClassPermanent, status: 422, message: true}},
}

// Run checks an adapter against every scenario. Each runs against its own
// server and its own adapter, so nothing one learns leaks into another.
func Run(t *testing.T, p Provider) {
	t.Helper()
	require.NotNil(t, p.New, "Provider.New")
	require.NotNil(t, p.Serve, "Provider.Serve")
	require.NotNil(t, p.Decode, "Provider.Decode")
	for _, c := range served {
		if slices.Contains(p.Absent, c.scenario) {
			assert.Nil(t, p.Serve(c.scenario), "%s is listed in Absent but served", c.scenario)
			t.Logf("%s: not in this provider's wire format", c.scenario)
			continue
		}
		t.Run(string(c.scenario), func(t *testing.T) {
			t.Parallel()
			runServed(t, p, c.scenario, c.want)
		})
	}
	t.Run("timeout", func(t *testing.T) { t.Parallel(); runTimeout(t, p) })
	t.Run("cancelled", func(t *testing.T) { t.Parallel(); runCancelled(t, p) })
	t.Run("connection_refused", func(t *testing.T) { t.Parallel(); runRefused(t, p) })
	t.Run("connection_reset", func(t *testing.T) { t.Parallel(); runReset(t, p) })
	t.Run("bad_gateway_html", func(t *testing.T) { t.Parallel(); runBadGateway(t, p) })
	t.Run("concurrent", func(t *testing.T) { t.Parallel(); runConcurrent(t, p) })
}

// NewRequest returns the suite's request; structured asks for Schema.
func NewRequest(structured bool) llm.Request {
	req := llm.Request{
		Model:     RequestModel,
		Messages:  []llm.Message{llm.System(SystemPrompt), llm.User(UserPrompt)},
		MaxTokens: MaxTokens,
	}
	if structured {
		req.Output = &llm.OutputSchema{Name: SchemaName, Schema: Schema}
	}
	return req
}

func runServed(t *testing.T, p Provider, s Scenario, want outcome) {
	h := p.Serve(s)
	require.NotNil(t, h, "the provider has no answer to %s: serve one, or list it in Provider.Absent", s)
	srv, requests := NewServer(t, withHeaders(s, h))
	m := p.New(srv.URL)

	resp, err := m.Generate(context.Background(), NewRequest(s == Structured))
	reqs := requests()
	require.Len(t, reqs, 1, "one Generate call must make exactly one request: the SDK's retries must be off")
	assert.Equal(t, http.MethodPost, reqs[0].Method)
	assert.Equal(t, p.Path, reqs[0].Path)
	checkRequest(t, p, reqs[0].Body, s == Structured)
	checkOutcome(t, m, want, resp, err)
}

// checkRequest asserts on the decoded request: what the adapter sent.
func checkRequest(t *testing.T, p Provider, body []byte, structured bool) {
	t.Helper()
	got, err := p.Decode(body)
	require.NoError(t, err, "decoding the request body: %s", body)
	assert.Equal(t, RequestModel, got.Model, "model")
	assert.Equal(t, []string{SystemPrompt}, got.System, "system prompt")
	assert.Equal(t, []llm.Message{llm.User(UserPrompt)}, got.Messages, "conversation")
	assert.Equal(t, MaxTokens, got.MaxTokens, "max tokens")
	if !structured {
		assert.Nil(t, got.Schema, "a plain request carries no schema")
		return
	}
	require.NotNil(t, got.Schema, "a structured request must carry the schema: %s", body)
	assert.JSONEq(t, string(Schema), string(got.Schema), "schema sent")
	assert.Equal(t, SchemaName, got.SchemaName, "schema name")
}

func checkOutcome(t *testing.T, m llm.Model, want outcome, resp llm.Response, err error) {
	t.Helper()
	if want.kind == nil {
		require.NoError(t, err)
	} else {
		var le *llm.Error
		require.ErrorAs(t, err, &le, "every failure is an *llm.Error")
		assert.ErrorIs(t, err, want.kind)
		assert.Equal(t, want.class, le.Class, "class")
		assert.ErrorIs(t, err, want.class.Sentinel(), "the class's retry sentinel")
		assert.Equal(t, want.class, retry.Classify(err), "retry.Classify")
		assert.True(t, retry.Known(err), "retry.Known: a provider's failure is classified, so a 429 or 5xx waits out an outage")
		assert.Equal(t, want.status, le.StatusCode, "status")
		assert.Equal(t, m.Info().Provider, le.Provider, "provider")
		assert.Equal(t, RequestModel, le.Model, "model")
		if want.afterMin > 0 {
			assert.GreaterOrEqual(t, le.After, want.afterMin, "retry after")
			assert.LessOrEqual(t, le.After, want.after, "retry after")
		} else {
			assert.Equal(t, want.after, le.After, "retry after")
		}
		assert.Equal(t, le.After, retry.RetryAfter(err), "retry.RetryAfter")
		if want.message {
			assert.Contains(t, le.Message, ErrorMessage, "the provider's message")
		}
		assert.NotEmpty(t, err.Error())
	}
	if want.usage {
		assert.Equal(t, llm.Usage{InputTokens: InputTokens, OutputTokens: OutputTokens}, resp.Usage, "usage")
	}
	if want.text != "" {
		assert.Equal(t, want.text, resp.Text, "text")
	}
	if want.json {
		assert.JSONEq(t, AnswerJSON, resp.Text, "structured answer")
	}
	if len(want.finish) > 0 {
		assert.Contains(t, want.finish, resp.FinishReason, "finish reason")
	}
	if want.served {
		assert.Equal(t, ServedModel, resp.Model, "response model")
		assert.Equal(t, ResponseID, resp.ID, "response id")
	}
}

// scenarioHeaders are the rate-limit headers the suite adds, so that every
// adapter is held to the same values.
func scenarioHeaders(s Scenario) http.Header {
	h := http.Header{}
	switch s {
	case RateLimited:
		h.Set("Retry-After", "2")
	case RateLimitedMs:
		// Both, as the providers send them: the millisecond one is the more precise.
		h.Set("Retry-After-Ms", "1500")
		h.Set("Retry-After", "2")
	case RateLimitedDate:
		h.Set("Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))
	case Unavailable:
		h.Set("Retry-After", "1")
	}
	return h
}

// Recorded is one request a fake server received.
type Recorded struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// NewServer starts a fake server that records each request before h answers
// it. The server is closed when the test ends; requests lists what it has
// received so far.
func NewServer(t testing.TB, h http.Handler) (srv *httptest.Server, requests func() []Recorded) {
	var (
		mu   sync.Mutex
		reqs []Recorded
	)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, Recorded{r.Method, r.URL.Path, r.Header.Clone(), body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []Recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]Recorded(nil), reqs...)
	}
}

// withHeaders adds s's headers to every answer of next, computed as it
// answers (an HTTP date is relative to now).
func withHeaders(s Scenario, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range scenarioHeaders(s) {
			w.Header()[k] = v
		}
		next.ServeHTTP(w, r)
	})
}

// hang answers nothing until the client goes away, then signals done.
func hang(arrived chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client leaving only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		if arrived != nil {
			arrived <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
}

func runTimeout(t *testing.T, p Provider) {
	srv := httptest.NewServer(hang(nil))
	defer srv.Close()
	m := p.New(srv.URL)
	// A per-call deadline, as retry.Attempt sets for each attempt.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := m.Generate(ctx, NewRequest(false))
	assert.Less(t, time.Since(start), 5*time.Second, "the call must end at the deadline")
	checkOutcome(t, m, outcome{kind: llm.ErrTimeout, class: retry.ClassTransient}, llm.Response{}, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the deadline stays in the chain")
	assert.True(t, retry.IsTimeout(err), "retry.IsTimeout")
}

func runCancelled(t *testing.T, p Provider) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(hang(arrived))
	defer srv.Close()
	m := p.New(srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	_, err := m.Generate(ctx, NewRequest(false))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled, "cancellation must stay visible")
	assert.NotErrorIs(t, err, retry.ErrTransient, "a caller's cancellation is not worth retrying")
	assert.Equal(t, retry.ClassCancelled, retry.Classify(err))
}

func runRefused(t *testing.T, p Provider) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	m := p.New(url)
	_, err := m.Generate(context.Background(), NewRequest(false))
	checkOutcome(t, m, outcome{kind: llm.ErrConnection, class: retry.ClassTransient}, llm.Response{}, err)
}

func runReset(t *testing.T, p Provider) {
	srv, requests := NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(interface{ SetLinger(int) error }); ok {
			_ = tc.SetLinger(0) // close with a RST, as a dying proxy does
		}
		_ = conn.Close()
	}))
	m := p.New(srv.URL)
	_, err := m.Generate(context.Background(), NewRequest(false))
	checkOutcome(t, m, outcome{kind: llm.ErrConnection, class: retry.ClassTransient}, llm.Response{}, err)
	assert.Len(t, requests(), 1, "the SDK's retries must be off")
}

func runBadGateway(t *testing.T, p Provider) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A proxy in front of the provider answers in HTML, not in the provider's format.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	}))
	defer srv.Close()
	m := p.New(srv.URL)
	_, err := m.Generate(context.Background(), NewRequest(false))
	checkOutcome(t, m, outcome{kind: llm.ErrServer, class: retry.ClassTransient, status: 502}, llm.Response{}, err)
}

func runConcurrent(t *testing.T, p Provider) {
	srv := httptest.NewServer(p.Serve(Text))
	defer srv.Close()
	m := p.New(srv.URL)
	const workers, calls = 6, 4
	errs := make(chan error, workers*calls)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				resp, err := m.Generate(context.Background(), NewRequest(false))
				if err == nil && resp.Text != AnswerText {
					err = errors.New("worker " + strconv.Itoa(w) + " call " + strconv.Itoa(i) + ": got " + strconv.Quote(resp.Text))
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
