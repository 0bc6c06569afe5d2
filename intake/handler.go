package intake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// UnavailableRetryAfter is the Retry-After of a 503: the store failed and
// nothing was accepted, so the sender should retry soon.
const UnavailableRetryAfter = 5 * time.Second

// Handler is an http.Handler that takes one source's webhooks: as runs
// of one pipeline (New) or as events for the runs that wait for them
// (NewEvents). Every delivery goes through the same checks in the same
// order (see the package documentation); only what is done with a
// delivery that passed them differs. It is safe for concurrent use.
type Handler struct {
	src  resolved
	err  error
	sink sink
	// attrs name what the handler feeds on its spans: the pipeline, or
	// the event.
	attrs   []attribute.KeyValue
	limiter *rate.Limiter // nil: no limit
	// clock and log are the runtime's: a delivery is stamped, and a
	// refusal logged, as the runs it feeds are.
	clock retry.Clock
	log   *slog.Logger

	deliveries metric.Int64Counter
	tracer     trace.Tracer
	silence    *notify.SilenceWatch // nil: no expectation
}

// sink is what a Handler does with a delivery that passed every check
// before its content: submit a run, or send an event. It answers with
// the delivery's outcome; a refusal for the content is its to record.
type sink interface {
	take(ctx context.Context, d *delivery) *Answer
	// lastSeen is when the store last kept a valid delivery of the
	// source, which seeds the silence watch after a restart.
	lastSeen(ctx context.Context) (time.Time, bool)
}

// delivery is a delivery that passed the checks before its content.
type delivery struct {
	raw  []byte
	body *body
	id   string
	trig step.Trigger
	now  time.Time
	// refused, when set, refuses the delivery before its content is
	// read (it has no usable id): the sink records it with these
	// violations, as it records a body that breaks its contract.
	refused *contract.ValidationError
}

// newHandler resolves src and makes what every handler has, on the
// runtime's settings (rt may be nil: the handler is then misconfigured).
func newHandler(src Source, rt *pipeline.Runtime) (*Handler, error) {
	r, err := resolve(src)
	h := &Handler{src: r, clock: retry.SystemClock, log: slog.Default()}
	tel := observe.Default()
	if rt != nil {
		cfg := rt.Config()
		h.clock, h.log, tel = cfg.Clock, cfg.Logger, cfg.Telemetry
	}
	if rl := r.RateLimit; rl.Rate > 0 {
		h.limiter = rate.NewLimiter(rate.Limit(rl.Rate), r.RateLimit.Burst)
	}
	h.tracer = tel.Tracer()
	h.deliveries = must(tel.Meter().Int64Counter("plumb.intake.deliveries", metric.WithUnit("{delivery}"),
		metric.WithDescription("Webhook deliveries received, by source and outcome.")))
	return h, err
}

// watchSilence starts the silence watch of a source with ExpectEvery,
// sending through n.
func (h *Handler) watchSilence(n notify.Notifier) {
	if h.src.ExpectEvery > 0 && h.err == nil {
		h.silence = notify.NewSilenceWatch(n, notify.SilenceConfig{Clock: h.clock, Logger: h.log})
		h.silence.Expect(h.src.trigger, h.src.ExpectEvery)
	}
}

// New returns the Handler that verifies src's deliveries and submits each
// valid one to p. Its problems (a nil pipeline, one without a store, a
// Source without a verifier, a malformed secret) are reported by Err;
// such a Handler answers every delivery 500, so check Err at start-up.
//
// The handler takes the clock, telemetry and logger of p's runtime
// (Runtime.Config): a test that moves the clock moves the runtime's.
func New[In, Out any](p *pipeline.Pipeline[In, Out], src Source) *Handler {
	var rt *pipeline.Runtime
	if p != nil {
		rt = p.Runtime()
	}
	h, err := newHandler(src, rt)
	errs := []error{err}
	switch {
	case p == nil:
		errs = append(errs, errors.New("intake: the pipeline is nil"))
	case p.Err() != nil:
		errs = append(errs, fmt.Errorf("intake: %w", p.Err()))
	case p.Runtime().Store() == nil:
		errs = append(errs, fmt.Errorf("intake: pipeline %s has no store: a webhook is answered only once its run is stored, so build the pipeline on a runtime with one (pipeline.RuntimeConfig{Store: st})", p.Name()))
	default:
		h.attrs = []attribute.KeyValue{observe.AttrPipeline.String(p.Name())}
		h.sink = &runs{trigger: h.src.trigger, externalID: h.src.ExternalID, log: h.log,
			pipeline: p.Name(), firstStep: p.Steps()[0], st: p.Runtime().Store(),
			submit: func(ctx context.Context, raw []byte, o pipeline.SubmitOptions) (string, error) {
				var in In
				if err := json.Unmarshal(raw, &in); err != nil {
					return "", decodeError(raw, err, reflect.TypeFor[In]())
				}
				return p.Submit(ctx, in, o)
			},
			register: p.Register,
		}
	}
	h.err = errors.Join(errs...)
	if h.err == nil {
		h.watchSilence(notify.Func(p.Notify))
	}
	return h
}

// Err reports what is wrong with the handler's configuration, or nil.
func (h *Handler) Err() error { return h.err }

// TriggerSource is the trigger source of the runs the handler submits,
// or the source of the events it sends: "webhook:<name>".
func (h *Handler) TriggerSource() string { return h.src.trigger }

// AttrSource is the attribute that names a delivery's source
// ("webhook:github") on the counter and the span.
const AttrSource = attribute.Key("plumb.source")

// SpanDelivery names the span of one delivery: "plumb.intake webhook:<name>".
const SpanDelivery = "plumb.intake"

// ServeHTTP answers one delivery; see the package documentation for the
// order of its checks and Answer for its body.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := h.clock.Now()
	ctx, span := h.tracer.Start(r.Context(), SpanDelivery+" "+h.src.trigger, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(append([]attribute.KeyValue{AttrSource.String(h.src.trigger)}, h.attrs...)...))
	defer span.End()
	a := h.serve(ctx, w, r, now)
	misconfigured := h.err != nil || a.misconfigured
	code := a.code(misconfigured)
	if a.Status == Unavailable && !misconfigured {
		a.RetryAfter = int(UnavailableRetryAfter / time.Second)
	}
	attrs := []attribute.KeyValue{AttrSource.String(h.src.trigger), observe.AttrOutcome.String(string(a.Status))}
	h.deliveries.Add(ctx, 1, metric.WithAttributes(attrs...))
	span.SetAttributes(observe.AttrOutcome.String(string(a.Status)), attribute.Int("http.response.status_code", code))
	if a.RunID != "" {
		span.SetAttributes(observe.AttrRunID.String(a.RunID))
	}
	if a.EventID != "" {
		span.SetAttributes(AttrEventID.String(a.EventID))
	}
	if code >= 500 {
		span.SetStatus(codes.Error, a.Error)
		span.SetAttributes(observe.AttrErrorType.String(string(a.Status)))
	}
	if h.silence != nil && (a.Status == Accepted || a.Status == Duplicate) {
		h.silence.Seen(h.src.trigger, now)
	}
	write(w, code, a)
}

func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, now time.Time) *Answer {
	if h.err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "intake: delivery refused: the handler is misconfigured",
			slog.String("source", h.src.trigger), slog.String("error", h.err.Error()))
		return &Answer{Status: Unavailable, Error: "this webhook endpoint is misconfigured; its operator's log says why"}
	}
	if r.Method != http.MethodPost {
		return &Answer{Status: MethodNotAllowed, Error: "deliver webhooks with POST, not " + r.Method}
	}
	raw, a := h.read(w, r)
	if a != nil {
		return a
	}
	if a := h.checkType(r); a != nil {
		return a
	}
	if err := h.src.Verify.verify(r, raw, now); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "intake: delivery refused: bad signature",
			slog.String("source", h.src.trigger), slog.String("error", err.Error()), slog.String("remote_addr", r.RemoteAddr))
		var se *SignatureError
		reason := SignatureMismatch
		if errors.As(err, &se) {
			reason = se.Reason
		}
		return &Answer{Status: Unauthorized, Error: "bad " + h.src.Verify.scheme + " signature (" + string(reason) + "): check that the sender signs with this endpoint's secret"}
	}
	b := &body{raw: raw}
	id, idErr := deliveryID(h.src.DeliveryID, r.Header, b)
	if h.limiter != nil {
		res := h.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); !res.OK() || d > 0 {
			res.CancelAt(now)
			secs := int(math.Ceil(d.Seconds()))
			if !res.OK() || secs < 1 {
				secs = 1
			}
			return &Answer{Status: RateLimited, RetryAfter: secs,
				Error: fmt.Sprintf("source %s is over its rate limit (%g a second, bursts of %d): retry after %d s", h.src.Name, h.src.RateLimit.Rate, h.src.RateLimit.Burst, secs)}
		}
	}
	d := &delivery{raw: raw, body: b, id: id, trig: step.Trigger{Source: h.src.trigger, ReceivedAt: now}, now: now}
	if idErr != nil {
		return h.noID(ctx, d, idErr)
	}
	return h.sink.take(ctx, d)
}

// noID answers a delivery that passed its signature check but carries no
// usable id: 400 no_delivery_id, and its body is recorded as the sink
// records a refusal, under an id of its own made from the body's SHA-256
// (a copy of the same body resent finds that record), so that nothing a
// sender signed is lost when it left its id out.
func (h *Handler) noID(ctx context.Context, d *delivery, idErr error) *Answer {
	sum := sha256.Sum256(d.raw)
	d.id = "sha256:" + hex.EncodeToString(sum[:16])
	path := ""
	if h.src.DeliveryID.Header == "" {
		path = h.src.DeliveryID.Field
	}
	a := h.sink.take(ctx, &delivery{raw: d.raw, body: d.body, id: d.id, trig: d.trig, now: d.now,
		refused: violation(path, "deliveryId", idErr.Error())})
	if a.Status != Invalid {
		return a // the store failed: nothing was recorded, retry
	}
	recorded := "; the body was recorded as a dead letter (run_id) under delivery id " + d.id
	if a.EventID != "" {
		recorded = "; the body was recorded as a refused event (event_id) under delivery id " + d.id
	}
	a.Status, a.Error = NoDeliveryID, idErr.Error()+recorded
	return a
}

// read reads the body up to MaxBody.
func (h *Handler) read(w http.ResponseWriter, r *http.Request) ([]byte, *Answer) {
	tooLarge := &Answer{Status: TooLarge, Error: fmt.Sprintf("the body is over this endpoint's limit of %d bytes", h.src.MaxBody)}
	if r.ContentLength > h.src.MaxBody {
		return nil, tooLarge
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.src.MaxBody))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, &Answer{Status: Unavailable, Error: "the body could not be read: " + err.Error()}
	}
	return raw, nil
}

func (h *Handler) checkType(r *http.Request) *Answer {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && slices.Contains(h.src.types, mt) {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return &Answer{Status: Unsupported, Error: "content type " + ct + " is not accepted; send " + strings.Join(h.src.types, " or ")}
}

// decodeError turns a failure to decode the body into In into the
// violations of a *contract.ValidationError, as the contract's own would
// be: keyword "syntax" for text that is not JSON, "type" for a value of
// the wrong JSON type.
func decodeError(raw []byte, err error, t reflect.Type) *contract.ValidationError {
	v := contract.Violation{Keyword: "unmarshal", Message: "cannot be decoded into " + t.String() + ": " + err.Error()}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case !json.Valid(raw):
		msg := "the body is not JSON"
		if errors.As(err, &se) {
			msg += fmt.Sprintf(" (at byte %d: %s)", se.Offset, se.Error())
		}
		v = contract.Violation{Keyword: "syntax", Message: msg}
	case errors.As(err, &te):
		path := ""
		if te.Field != "" {
			path = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		v = contract.Violation{Path: path, Keyword: "type", Message: "is " + te.Value + ", which cannot be decoded into " + te.Type.String()}
	}
	return &contract.ValidationError{Type: t.Name(), Violations: []contract.Violation{v}}
}

func must[T any](inst T, err error) T {
	if err != nil {
		otel.Handle(err)
	}
	return inst
}
