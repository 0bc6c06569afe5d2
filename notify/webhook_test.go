package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

// request is what a test server received.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server that records requests and answers with
// whatever its respond func says.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []request
	respond func(n int, w http.ResponseWriter) // n counts requests from 1
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, request{req.Header.Clone(), body})
		n := len(r.reqs)
		r.mu.Unlock()
		if r.respond != nil {
			r.respond(n, w)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// hooks records OnDrop and OnError calls.
type hooks struct {
	mu      sync.Mutex
	dropped []hookCall
	failed  []hookCall
}

type hookCall struct {
	e   notify.Event
	err error
}

func (h *hooks) onDrop(e notify.Event, err error) {
	h.mu.Lock()
	h.dropped = append(h.dropped, hookCall{e, err})
	h.mu.Unlock()
}

func (h *hooks) onError(e notify.Event, err error) {
	h.mu.Lock()
	h.failed = append(h.failed, hookCall{e, err})
	h.mu.Unlock()
}

func (h *hooks) drops() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.dropped...)
}

func (h *hooks) errors() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.failed...)
}

// newWebhook fills in a test clock, deterministic backoff, quiet logging and
// the hooks, and closes the webhook when the test ends.
func newWebhook(t *testing.T, cfg notify.WebhookConfig) (*notify.Webhook, *retrytest.Clock, *hooks) {
	t.Helper()
	clock := retrytest.NewClock(t0)
	h := &hooks{}
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	if cfg.Retry.Jitter == 0 {
		cfg.Retry.Jitter = -1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.OnDrop, cfg.OnError = h.onDrop, h.onError
	w, err := notify.NewWebhook(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // whatever is still queued is the test's leftovers
		_ = w.Close(ctx)
	})
	return w, clock, h
}

func closeWebhook(t *testing.T, w *notify.Webhook) {
	t.Helper()
	require.NoError(t, w.Close(context.Background()))
}

var deadLetter = notify.Event{
	Kind:     notify.DeadLettered,
	Pipeline: "leads",
	RunID:    "run-1",
	Step:     "enrich",
	Class:    "contract",
	Reason:   "email: does not match format \"email\"",
	Link:     "plumb runs show run-1",
	At:       t0,
}

func TestWebhookPostsSignedJSON(t *testing.T) {
	rec := newReceiver(t, nil)
	secret := notify.NewSecret()
	w, clock, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL + "/hook", Secret: secret,
		Header: http.Header{"Authorization": {"Bearer tok"}}})

	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)

	reqs := rec.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	var body map[string]any
	require.NoError(t, json.Unmarshal(got.body, &body))
	assert.Equal(t, map[string]any{
		"event":    "dead_lettered",
		"pipeline": "leads",
		"run_id":   "run-1",
		"step":     "enrich",
		"class":    "contract",
		"reason":   `email: does not match format "email"`,
		"link":     "plumb runs show run-1",
		"at":       "2026-11-27T02:17:00Z",
	}, body)
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.NotEmpty(t, got.header.Get(notify.DeliveryHeader))
	assert.Empty(t, got.header.Get("Plumb-Event"), "nothing unsigned to route on: the kind is in the signed body")
	assert.Equal(t, strconv.FormatInt(t0.Unix(), 10), got.header.Get(notify.TimestampHeader))
	assert.Equal(t, "Bearer tok", got.header.Get("Authorization"))
	assert.Empty(t, h.errors())

	now := clock.Now()
	require.NoError(t, notify.VerifySignature(secret, got.header, got.body, now, 0))

	reason := func(err error) notify.SignatureReason {
		t.Helper()
		var se *notify.SignatureError
		require.ErrorAs(t, err, &se)
		return se.Reason
	}
	tampered := bytes.Replace(got.body, []byte("run-1"), []byte("run-2"), 1)
	assert.Equal(t, notify.SignatureMismatch, reason(notify.VerifySignature(secret, got.header, tampered, now, 0)))
	retyped := bytes.Replace(got.body, []byte("dead_lettered"), []byte("review_needed"), 1)
	assert.Equal(t, notify.SignatureMismatch, reason(notify.VerifySignature(secret, got.header, retyped, now, 0)),
		"the event's kind is in the signed body")
	assert.Equal(t, notify.SignatureMismatch, reason(notify.VerifySignature(notify.NewSecret(), got.header, got.body, now, 0)))
	// A captured request replayed with a fresh delivery id, to get past the
	// receiver's duplicate check, does not verify.
	replayed := got.header.Clone()
	replayed.Set(notify.DeliveryHeader, "fresh-id")
	assert.Equal(t, notify.SignatureMismatch, reason(notify.VerifySignature(secret, replayed, got.body, now, 0)))
	assert.Equal(t, notify.SignatureStale, reason(notify.VerifySignature(secret, got.header, got.body, now.Add(6*time.Minute), 5*time.Minute)))
}

func TestWebhookWithoutSecretSendsNoSignature(t *testing.T) {
	rec := newReceiver(t, nil)
	w, _, _ := newWebhook(t, notify.WebhookConfig{URL: rec.URL})
	require.NoError(t, w.Notify(context.Background(), notify.Event{Kind: notify.Paused, Pipeline: "p"}))
	closeWebhook(t, w)
	require.Len(t, rec.requests(), 1)
	assert.Empty(t, rec.requests()[0].header.Get(notify.SignatureHeader))
	assert.NotEmpty(t, rec.requests()[0].header.Get(notify.DeliveryHeader))
	// An event without a time gets the clock's.
	assert.Contains(t, string(rec.requests()[0].body), `"at":"2026-11-27T02:17:00Z"`)
}

func TestWebhookRetriesServerErrors(t *testing.T) {
	rec := newReceiver(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			http.Error(w, "upstream down", http.StatusInternalServerError)
		}
	})
	w, clock, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, Secret: specSecret})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)

	reqs := rec.requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps(), "backoff from the 1 s default")
	assert.Empty(t, h.errors())
	id := reqs[0].header.Get(notify.DeliveryHeader)
	for _, r := range reqs {
		assert.Equal(t, id, r.header.Get(notify.DeliveryHeader), "one delivery id across retries")
	}
	// Each attempt is signed at its own time, so a late retry still verifies.
	require.NoError(t, notify.VerifySignature(specSecret, reqs[2].header, reqs[2].body, clock.Now(), time.Second))
}

func TestWebhookHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header func(now time.Time) string
		want   time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, func(time.Time) string { return "7" }, 7 * time.Second},
		{"503 http date", http.StatusServiceUnavailable, func(now time.Time) string {
			return now.Add(30 * time.Second).UTC().Format(http.TimeFormat)
		}, 30 * time.Second},
		{"429 shorter than backoff", http.StatusTooManyRequests, func(time.Time) string { return "0" }, time.Second},
		{"429 unreadable", http.StatusTooManyRequests, func(time.Time) string { return "soon" }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := retrytest.NewClock(t0)
			rec := newReceiver(t, func(n int, w http.ResponseWriter) {
				if n == 1 {
					w.Header().Set("Retry-After", tc.header(clock.Now()))
					w.WriteHeader(tc.status)
				}
			})
			w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, Clock: clock})
			require.NoError(t, w.Notify(context.Background(), deadLetter))
			closeWebhook(t, w)
			assert.Len(t, rec.requests(), 2)
			assert.Equal(t, []time.Duration{tc.want}, clock.Sleeps())
			assert.Empty(t, h.errors())
		})
	}
}

func TestWebhookClassifiesStatuses(t *testing.T) {
	for _, tc := range []struct {
		status   int
		attempts int
		class    retry.Class
	}{
		{http.StatusBadRequest, 1, retry.ClassPermanent},
		{http.StatusUnauthorized, 1, retry.ClassPermanent},
		{http.StatusNotFound, 1, retry.ClassPermanent},
		{http.StatusGone, 1, retry.ClassPermanent},
		{http.StatusRequestTimeout, 3, retry.ClassTransient},
		{http.StatusTooManyRequests, 3, retry.ClassTransient},
		{http.StatusInternalServerError, 3, retry.ClassTransient},
		{http.StatusBadGateway, 3, retry.ClassTransient},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rec := newReceiver(t, func(_ int, w http.ResponseWriter) {
				http.Error(w, "nope: bad field", tc.status)
			})
			w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, Retry: retry.Policy{MaxAttempts: 3}})
			require.NoError(t, w.Notify(context.Background(), deadLetter))
			closeWebhook(t, w)

			assert.Len(t, rec.requests(), tc.attempts)
			errs := h.errors()
			require.Len(t, errs, 1, "OnError is called once per undelivered event")
			assert.Equal(t, deadLetter, errs[0].e)
			err := errs[0].err
			assert.ErrorIs(t, err, notify.ErrDelivery)
			assert.Equal(t, tc.class, retry.Classify(err))
			var de *notify.DeliveryError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.status, de.Status)
			assert.Equal(t, tc.attempts, de.Attempts)
			var st *notify.StatusError
			require.ErrorAs(t, err, &st)
			assert.Equal(t, "nope: bad field", st.Body, "the receiver's reason is kept")
		})
	}
}

// blockingReceiver answers nothing until release is closed, and says on
// entered when each request arrives.
func blockingReceiver(t *testing.T) (rec *receiver, entered chan struct{}, release func()) {
	entered = make(chan struct{}, 100)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	rec = newReceiver(t, func(int, http.ResponseWriter) {
		entered <- struct{}{}
		<-gate
	})
	t.Cleanup(release) // before the server's Close, which waits for handlers
	return rec, entered, release
}

// watchdog fails the test if done is not closed. It only guards against a
// hang; the assertions themselves use channels.
func watchdog(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal(what)
	}
}

func TestWebhookNotifyNeverBlocks(t *testing.T) {
	rec, entered, release := blockingReceiver(t)
	w, _, _ := newWebhook(t, notify.WebhookConfig{URL: rec.URL})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	<-entered // the delivery goroutine is now stuck in the handler

	done := make(chan struct{})
	var errs []error
	go func() {
		defer close(done)
		for range 10 {
			errs = append(errs, w.Notify(context.Background(), deadLetter))
		}
	}()
	watchdog(t, done, "Notify blocked while the receiver hung")
	for _, err := range errs {
		assert.NoError(t, err)
	}
	release()
	closeWebhook(t, w)
	assert.Len(t, rec.requests(), 11)
}

func TestWebhookQueueFullDrops(t *testing.T) {
	rec, entered, release := blockingReceiver(t)
	var logs bytes.Buffer
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, QueueSize: 1,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))})
	first, second, third := deadLetter, deadLetter, deadLetter
	first.RunID, second.RunID, third.RunID = "run-1", "run-2", "run-3"

	require.NoError(t, w.Notify(context.Background(), first))
	<-entered                                                  // first is in flight
	require.NoError(t, w.Notify(context.Background(), second)) // fills the queue
	err := w.Notify(context.Background(), third)
	assert.ErrorIs(t, err, notify.ErrQueueFull)

	drops := h.drops()
	require.Len(t, drops, 1)
	assert.Equal(t, "run-3", drops[0].e.RunID)
	assert.ErrorIs(t, drops[0].err, notify.ErrQueueFull)

	release()
	closeWebhook(t, w)
	assert.Len(t, rec.requests(), 2)
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "run_id=run-3", "a drop is never silent")
}

func TestWebhookCloseDrains(t *testing.T) {
	rec, entered, release := blockingReceiver(t)
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL})
	for i := range 10 {
		e := deadLetter
		e.RunID = "run-" + string(rune('a'+i))
		require.NoError(t, w.Notify(context.Background(), e))
	}
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- w.Close(context.Background()) }()
	release()
	require.NoError(t, <-closed)

	reqs := rec.requests()
	require.Len(t, reqs, 10)
	for i, r := range reqs {
		assert.Contains(t, string(r.body), `"run_id":"run-`+string(rune('a'+i))+`"`, "delivered in order")
	}
	assert.Empty(t, h.drops())
	assert.ErrorIs(t, w.Notify(context.Background(), deadLetter), notify.ErrClosed)
	require.Len(t, h.drops(), 1)
	assert.ErrorIs(t, h.drops()[0].err, notify.ErrClosed)
}

func TestWebhookCloseGivesUpWhenContextEnds(t *testing.T) {
	rec, entered, _ := blockingReceiver(t)
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL})
	for range 3 {
		require.NoError(t, w.Notify(context.Background(), deadLetter))
	}
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "3 events not delivered")

	assert.Len(t, h.drops(), 2, "queued events are reported dropped")
	failed := h.errors()
	require.Len(t, failed, 1, "the event in flight is reported failed")
	assert.Equal(t, retry.ClassCancelled, retry.Classify(failed[0].err))
}

func TestWebhookAttemptTimeout(t *testing.T) {
	rec, _, _ := blockingReceiver(t)
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, Timeout: 20 * time.Millisecond,
		Retry: retry.Policy{MaxAttempts: 2}})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)
	failed := h.errors()
	require.Len(t, failed, 1)
	assert.True(t, retry.IsTimeout(failed[0].err))
	var de *notify.DeliveryError
	require.ErrorAs(t, failed[0].err, &de)
	assert.Equal(t, 2, de.Attempts, "a timeout is retried")
}

func TestWebhookFormatFailures(t *testing.T) {
	rec := newReceiver(t, nil)
	calls := 0
	w, _, h := newWebhook(t, notify.WebhookConfig{URL: rec.URL, Format: func(e notify.Event) ([]byte, string, error) {
		calls++
		if calls == 1 {
			return nil, "", errors.New("no template for " + string(e.Kind))
		}
		panic("format bug")
	}})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)

	assert.Empty(t, rec.requests())
	failed := h.errors()
	require.Len(t, failed, 2)
	assert.EqualError(t, failed[0].err, "notify: webhook delivery failed: permanent: format event: no template for dead_lettered")
	assert.Equal(t, retry.ClassPermanent, retry.Classify(failed[0].err))
	var pe *notify.NotifierPanicError
	require.ErrorAs(t, failed[1].err, &pe)
	assert.Equal(t, "format bug", pe.Value)
	assert.NotEmpty(t, pe.Stack)
}

func TestWebhookKeepsURLSecret(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL + "/services/T000/B000/SECRETTOKEN"
	dead.Close() // connection refused from now on

	w, _, h := newWebhook(t, notify.WebhookConfig{URL: url, Retry: retry.Never})
	require.NoError(t, w.Notify(context.Background(), deadLetter))
	closeWebhook(t, w)
	failed := h.errors()
	require.Len(t, failed, 1)
	assert.NotContains(t, failed[0].err.Error(), "SECRETTOKEN")
	assert.Equal(t, retry.ClassTransient, retry.Classify(failed[0].err))

	_, err := notify.NewWebhook(notify.WebhookConfig{URL: "ftp://host/SECRETTOKEN"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "SECRETTOKEN")
}

func TestNewWebhookValidatesURL(t *testing.T) {
	for _, u := range []string{"", "hooks.example.com/x", "ftp://example.com/x", "http://", "://bad"} {
		_, err := notify.NewWebhook(notify.WebhookConfig{URL: u})
		assert.Error(t, err, u)
	}
}

// syncWriter makes a bytes.Buffer safe for a logger used from two goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
