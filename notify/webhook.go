package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/internal/stdwebhook"
	"github.com/plumb-dev/plumb/retry"
)

// Webhook defaults, as documented on WebhookConfig's fields.
const (
	DefaultWebhookTimeout     = 5 * time.Second
	DefaultWebhookQueueSize   = 1000
	DefaultWebhookAttempts    = 5
	DefaultWebhookInitialWait = time.Second
)

// Errors a Webhook reports for events it did not deliver.
var (
	// ErrQueueFull: the event was dropped because the queue was full.
	ErrQueueFull = errors.New("notify: webhook queue full, event dropped")
	// ErrClosed: the event was dropped because the webhook was closed, or
	// its Close gave up before the event's turn came.
	ErrClosed = errors.New("notify: webhook closed, event dropped")
	// ErrDelivery is matched by every *DeliveryError.
	ErrDelivery = errors.New("webhook delivery failed")
)

// WebhookConfig configures a Webhook. Only URL is required.
type WebhookConfig struct {
	// URL receives a POST per event. It must be http or https. It is never
	// logged nor put in an error, since chat webhook URLs are secrets.
	URL string
	// Secret signs each request the Standard Webhooks way (see Sign):
	// "whsec_" followed by the base64 of at least 24 random bytes, as
	// NewSecret makes. Receivers check the webhook-signature header with
	// VerifySignature or any Standard Webhooks library. Defaults to no
	// signature. Set one: without it anybody who learns the URL can forge
	// events.
	Secret string
	// Timeout bounds each attempt, the response included. Defaults to 5 s.
	// It replaces Retry.AttemptTimeout.
	Timeout time.Duration
	// Retry says how failed deliveries are retried: 5xx, 408, 429 and
	// network errors are retried with backoff, honouring Retry-After on 429
	// and 503; other 4xx are permanent. Defaults to 5 attempts from a 1 s
	// wait; other zero fields take retry.Policy's defaults (doubling waits,
	// at most 2 minutes per event in all).
	Retry retry.Policy
	// Format makes the request body and its Content-Type from an event.
	// Defaults to JSONFormat; SlackFormat suits Slack-style incoming webhooks.
	Format func(Event) (body []byte, contentType string, err error)
	// Header holds extra request headers, such as an Authorization the
	// receiver asks for. Defaults to none.
	Header http.Header
	// QueueSize bounds the events waiting for delivery. Defaults to 1000.
	QueueSize int
	// HTTPClient sends the requests. Defaults to a client like
	// http.DefaultClient. Whatever its CheckRedirect says, redirects are
	// never followed (the Webhook uses a copy without it): a 3xx is a failed
	// delivery with a *RedirectError.
	HTTPClient *http.Client
	// Clock is the time source of retries and signatures. Defaults to
	// retry.SystemClock; tests use retrytest.Clock.
	Clock retry.Clock
	// Logger receives a warning for every event dropped or not delivered.
	// Defaults to slog.Default().
	Logger *slog.Logger
	// OnDrop is called when an event is dropped without an attempt: queue
	// full (ErrQueueFull) or webhook closed (ErrClosed). It runs on the
	// caller's goroutine inside Notify, so it must be quick: count, do not
	// block. Defaults to nothing beyond the log warning.
	OnDrop func(Event, error)
	// OnError is called when an event was attempted and finally not
	// delivered, with a *DeliveryError. It runs on the delivery goroutine.
	// Defaults to nothing beyond the log warning.
	OnError func(Event, error)
}

// Webhook is a Notifier that POSTs each event to a URL. Notify never blocks:
// it puts the event on a bounded queue and returns; one background goroutine
// delivers the queue in order, retrying with backoff. Close it when done.
type Webhook struct {
	cfg    WebhookConfig
	url    string
	policy retry.Policy
	clock  retry.Clock
	client *http.Client
	format func(Event) ([]byte, string, error)
	logger *slog.Logger
	signer *stdwebhook.Key // nil without a secret

	mu     sync.RWMutex // guards closed against sends on a closed queue
	closed bool
	queue  chan Event

	ctx    context.Context // ends when Close gives up waiting
	cancel context.CancelFunc
	done   chan struct{} // closed when the delivery goroutine returns
	lost   atomic.Int64  // events Close dropped
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook validates cfg and starts the delivery goroutine.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if cfg.URL == "" {
		return nil, errors.New("notify: webhook URL is required")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not echoing the URL: it may hold a token.
		return nil, errors.New("notify: webhook URL must be an absolute http or https URL")
	}
	w := &Webhook{cfg: cfg, url: cfg.URL, policy: cfg.Retry, format: cfg.Format}
	if cfg.Secret != "" {
		if w.signer, err = signer(cfg.Secret); err != nil {
			// Not echoing the secret.
			return nil, fmt.Errorf("notify: webhook secret must be \"whsec_\" followed by the base64 of at least 24 bytes, as NewSecret makes (%w)", err)
		}
	}
	w.clock = cfg.Clock
	if w.clock == nil {
		w.clock = retry.SystemClock
	}
	if w.policy.MaxAttempts == 0 {
		w.policy.MaxAttempts = DefaultWebhookAttempts
	}
	if w.policy.InitialInterval == 0 {
		w.policy.InitialInterval = DefaultWebhookInitialWait
	}
	if w.policy.Clock == nil {
		w.policy.Clock = w.clock
	}
	w.policy.AttemptTimeout = cfg.Timeout
	if w.policy.AttemptTimeout <= 0 {
		w.policy.AttemptTimeout = DefaultWebhookTimeout
	}
	if w.format == nil {
		w.format = JSONFormat
	}
	w.client = noRedirects(cfg.HTTPClient)
	w.logger = loggerOrDefault(cfg.Logger)
	size := cfg.QueueSize
	if size <= 0 {
		size = DefaultWebhookQueueSize
	}
	w.queue = make(chan Event, size)
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.done = make(chan struct{})
	go w.run()
	return w, nil
}

// JSONFormat is the default webhook body: the event as JSON.
func JSONFormat(e Event) ([]byte, string, error) {
	b, err := json.Marshal(e)
	return b, "application/json", err
}

// Notify queues e for delivery and returns at once; it never waits for the
// network. An event with no time gets the clock's. When the queue is full or
// the webhook closed, e is dropped: Notify logs a warning, calls OnDrop and
// returns ErrQueueFull or ErrClosed.
func (w *Webhook) Notify(_ context.Context, e Event) error {
	if e.At.IsZero() {
		e.At = w.clock.Now()
	}
	w.mu.RLock()
	err := ErrClosed
	if !w.closed {
		select {
		case w.queue <- e:
			err = nil
		default:
			err = ErrQueueFull
		}
	}
	w.mu.RUnlock()
	if err != nil {
		w.drop(e, err)
	}
	return err
}

func (w *Webhook) drop(e Event, err error) {
	w.logger.LogAttrs(context.Background(), slog.LevelWarn, "notify: webhook event dropped",
		slog.String("error", err.Error()), slog.String("event", string(e.Kind)),
		slog.String("pipeline", e.Pipeline), slog.String("run_id", e.RunID))
	callHook(w.cfg.OnDrop, e, err, w.logger)
}

// Close stops taking events and waits until the queue is delivered or ctx
// ends. When ctx ends first, the delivery in flight is abandoned, the events
// still queued are dropped (OnDrop with ErrClosed) and Close returns an error
// saying how many were lost. Calling Close again waits again.
func (w *Webhook) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	w.cancel()
	<-w.done // prompt: requests and waits end with w.ctx
	return fmt.Errorf("notify: webhook close: %d events not delivered: %w", w.lost.Load(), ctx.Err())
}

func (w *Webhook) run() {
	defer close(w.done)
	for e := range w.queue {
		if w.ctx.Err() != nil {
			w.lost.Add(1)
			w.drop(e, ErrClosed)
			continue
		}
		if err := w.deliver(w.ctx, e); err != nil {
			if w.ctx.Err() != nil {
				w.lost.Add(1)
			}
			w.logger.LogAttrs(context.Background(), slog.LevelWarn, "notify: webhook delivery failed",
				slog.String("error", err.Error()), slog.String("event", string(e.Kind)),
				slog.String("pipeline", e.Pipeline), slog.String("run_id", e.RunID))
			callHook(w.cfg.OnError, e, err, w.logger)
		}
	}
}

// DeliveryError says an event was attempted and not delivered.
type DeliveryError struct {
	// Attempts is how many requests were made (0 when Format failed).
	Attempts int
	// Status is the last HTTP status, 0 when there was no response.
	Status int
	// Err is the last failure, classified (retry.Classify works on it).
	Err error
}

func (e *DeliveryError) Error() string {
	s := "notify: webhook delivery failed"
	if e.Attempts > 0 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the last failure.
func (e *DeliveryError) Unwrap() error { return e.Err }

// Is reports whether target is ErrDelivery.
func (e *DeliveryError) Is(target error) bool { return target == ErrDelivery }

func (w *Webhook) deliver(ctx context.Context, e Event) error {
	var body []byte
	var ctype string
	err := protect(func() (err error) {
		body, ctype, err = w.format(e)
		return err
	})
	if err != nil {
		return &DeliveryError{Err: retry.Permanent(fmt.Errorf("format event: %w", err))}
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	de := &DeliveryError{}
	id := rand.Text()
	err = w.policy.Do(ctx, func(ctx context.Context) error {
		de.Attempts++
		status, err := w.post(ctx, id, body, ctype)
		de.Status = status
		return err
	})
	if err == nil {
		return nil
	}
	de.Err = err
	return de
}

// post makes one attempt and classifies its failure for the retry policy.
func (w *Webhook) post(ctx context.Context, id string, body []byte, ctype string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, retry.Permanent(redact(err))
	}
	for k, vs := range w.cfg.Header {
		req.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "plumb-notify")
	req.Header.Set(DeliveryHeader, id)
	if w.signer != nil {
		// Signed per attempt, so a retry minutes later still passes the
		// receiver's timestamp tolerance.
		if err := w.signer.Sign(req.Header, id, w.clock.Now(), body); err != nil {
			return 0, retry.Permanent(fmt.Errorf("sign: %w", err))
		}
	} else {
		// Unsigned, the time still helps a receiver's logs.
		req.Header.Set(TimestampHeader, strconv.FormatInt(w.clock.Now().Unix(), 10))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		// Unclassified network errors are transient; a cancelled ctx is
		// classified as cancelled and not retried.
		return 0, redact(err)
	}
	defer resp.Body.Close()
	// A little of the body says why a receiver refused; the rest is read
	// and discarded so the connection can be reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return code, nil
	}
	if code >= 300 && code < 400 {
		return code, retry.Permanent(redirectError(resp))
	}
	serr := &StatusError{Code: code, Body: oneLine(truncate(strings.TrimSpace(string(snippet)), 200))}
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return code, retry.After(serr, retryAfter(resp.Header.Get("Retry-After"), w.clock.Now()))
	case code == http.StatusRequestTimeout || code >= 500:
		return code, retry.Transient(serr)
	default:
		// Other 4xx (and an unfollowed 1xx): asking again will not help.
		return code, retry.Permanent(serr)
	}
}

// StatusError is a webhook response outside 2xx.
type StatusError struct {
	Code int
	// Body is the start of the response body, one line.
	Body string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("receiver answered HTTP %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// maxRetryAfter bounds the wait a receiver can ask for; the policy's
// MaxElapsed stops the retries sooner anyway.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
// Anything unreadable means no wait was asked for.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	s, err := strconv.ParseInt(h, 10, 64)
	switch {
	case err == nil && s <= 0:
		return 0
	case err == nil && s > int64(maxRetryAfter/time.Second),
		errors.Is(err, strconv.ErrRange) && h[0] != '-':
		return maxRetryAfter // more seconds than an int64 holds is still "a long time"
	case err == nil:
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		// t.Sub saturates at about 292 years rather than failing, so a
		// date far ahead needs the same cap as delay seconds.
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// redact strips the path and query from the URL in an HTTP client error,
// since chat webhook URLs carry their token there.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Scheme + "://" + u.Host
		} else {
			ue.URL = "webhook URL"
		}
	}
	return err
}
