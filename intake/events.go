package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
)

// EventRoute says which event a source's deliveries are, and where each
// names what it is about: its name, and its key in the body. Name and one
// of Key and KeyFunc are required.
type EventRoute struct {
	// Name is the event's name: the AwaitOptions.Event (by default the
	// step's name) of the await steps that wait for it. Required.
	Name string
	// Key is a JSON pointer to the event's key in the body
	// ("/data/object/invoice"); the value must be a string or a number.
	Key string
	// KeyPrefix goes before the value at Key ("invoice:"), so that the
	// key is the one the await step's key func returns. Defaults to none.
	KeyPrefix string
	// KeyFunc returns the key from the body, for a key a pointer cannot
	// name; set it instead of Key. An error or an empty key refuses the
	// delivery (422, recorded).
	KeyFunc func(body []byte) (string, error)
	// Payload is a JSON pointer to the event's payload in the body, which
	// the await steps' contract checks ("/data/object"). Defaults to the
	// whole body.
	Payload string
	// Keep is how long an event no run waits for yet is kept for a wait
	// to come. Defaults to store.DefaultEventKeep.
	Keep time.Duration
}

// buildTimeout bounds the read of the store's registered definitions
// that NewEvents makes when no pipeline bound to the runtime awaits the
// event.
const buildTimeout = 5 * time.Second

// AttrEvent names the event a handler of NewEvents sends, and
// AttrEventID the event a delivery made or found, on its spans.
const (
	AttrEvent   = attribute.Key("plumb.event")
	AttrEventID = attribute.Key("plumb.event.id")
)

// NewEvents returns the Handler that verifies src's deliveries and sends
// each valid one as the event route.Name, with the key route says, to the
// runs that wait for it (Runtime.SendEvent): the event's ID is the
// delivery id and its Source "webhook:<name>", so that a retried delivery
// is a duplicate. Its problems (a nil runtime, one without a store, a
// Source without a verifier, a route without a name or a key, an event
// nobody awaits) are reported by Err; such a Handler answers every
// delivery 500, so check Err at start-up.
//
// An event nobody awaits is an error at build: when no pipeline bound to
// rt has an await step for route.Name (build the pipelines first), the
// definitions registered in the store decide, read once, as
// store.DeliverEvent reads them (a process that only receives webhooks
// starts after a worker of the pipeline registered it). A store that
// cannot be read then is no build error, only a warning: the handler
// answers 500 for as long as nothing awaits the event, logging why.
//
// The handler takes the clock, telemetry, logger and notifier (for
// Source.ExpectEvery) of rt.
func NewEvents(rt *pipeline.Runtime, src Source, route EventRoute) *Handler {
	h, err := newHandler(src, rt)
	errs := []error{err}
	var keyToks []string
	switch {
	case route.Name == "":
		errs = append(errs, errors.New("intake: EventRoute.Name is empty: name the event the await steps wait for (pipeline.AwaitOptions.Event)"))
	case (route.Key == "") == (route.KeyFunc == nil):
		errs = append(errs, fmt.Errorf("intake: event %s: set one of EventRoute.Key (a JSON pointer to the key in the body) and EventRoute.KeyFunc", route.Name))
	case route.Key != "":
		if keyToks, err = parsePointer(route.Key); err != nil {
			errs = append(errs, fmt.Errorf("intake: EventRoute.Key: %w", err))
		}
	}
	var payToks []string
	if route.Payload != "" {
		if payToks, err = parsePointer(route.Payload); err != nil {
			errs = append(errs, fmt.Errorf("intake: EventRoute.Payload: %w", err))
		}
	}
	if route.Keep < 0 {
		errs = append(errs, fmt.Errorf("intake: EventRoute.Keep %v is negative", route.Keep))
	}
	switch {
	case rt == nil:
		errs = append(errs, errors.New("intake: the runtime is nil"))
	case rt.Store() == nil:
		errs = append(errs, fmt.Errorf("intake: event %s: the runtime has no store: a webhook is answered only once its event is stored, so give it one (pipeline.RuntimeConfig{Store: st})", route.Name))
	case route.Name != "":
		if err := awaited(rt, route.Name, h.log); err != nil {
			errs = append(errs, err)
		}
	}
	h.err = errors.Join(errs...)
	h.attrs = []attribute.KeyValue{AttrEvent.String(route.Name)}
	if h.err == nil {
		h.sink = &events{trigger: h.src.trigger, log: h.log, rt: rt, st: rt.Store(), route: route, keyToks: keyToks, payToks: payToks}
		h.watchSilence(runtimeNotifier(rt))
	}
	return h
}

// awaited checks that a step awaits the event name: one bound to rt, or
// else one registered in its store.
func awaited(rt *pipeline.Runtime, name string, log *slog.Logger) error {
	if rt.Awaits(name) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	defs, err := rt.Store().Pipelines(ctx)
	if err != nil {
		log.Warn("intake: could not check that a step awaits the event: the store failed",
			slog.String("event", name), slog.String("error", err.Error()))
		return nil
	}
	for _, d := range defs {
		for _, s := range d.Steps {
			if s.Event == name {
				return nil
			}
		}
	}
	return fmt.Errorf("intake: event %q: %w, neither in a pipeline bound to the runtime nor in one registered in the store: build the pipeline with pipeline.Await before the handler, or start a worker of it first", name, store.ErrUnknownEvent)
}

// runtimeNotifier is the runtime's notifier, which hears an events
// handler's silence; without one, the watch logs a warning at every check.
func runtimeNotifier(rt *pipeline.Runtime) notify.Notifier {
	if n := rt.Config().Notifier; n != nil {
		return n
	}
	return notify.Func(func(context.Context, notify.Event) error { return pipeline.ErrNoNotifier })
}

// events is the sink of NewEvents: each valid delivery is an event.
type events struct {
	trigger          string
	log              *slog.Logger
	rt               *pipeline.Runtime
	st               store.Store
	route            EventRoute
	keyToks, payToks []string
}

func (s *events) take(ctx context.Context, d *delivery) *Answer {
	if d.refused != nil {
		return s.refuse(ctx, d, "", d.raw, d.refused)
	}
	doc, err := d.body.decoded()
	if err != nil {
		return s.refuse(ctx, d, "", d.raw, syntaxViolation(err))
	}
	key, ve := s.key(d.raw, doc)
	if ve != nil {
		return s.refuse(ctx, d, "", d.raw, ve)
	}
	payload := json.RawMessage(d.raw)
	if s.payToks != nil {
		v, ok := lookup(doc, s.payToks)
		if !ok {
			return s.refuse(ctx, d, key, d.raw, violation(s.route.Payload, "required", "the event's payload is not in the body"))
		}
		payload, _ = json.Marshal(v) // a decoded document always encodes
	}
	dl, err := s.rt.SendEvent(ctx, s.route.Name, key, payload, pipeline.EventOptions{ID: d.id, Source: s.trigger, Keep: s.route.Keep})
	switch {
	case errors.As(err, &ve):
		return s.refuse(ctx, d, key, payload, ve)
	case errors.Is(err, store.ErrUnknownEvent):
		s.log.LogAttrs(ctx, slog.LevelError, "intake: delivery refused: no step awaits its event",
			slog.String("source", s.trigger), slog.String("delivery_id", d.id), slog.String("event", s.route.Name), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, misconfigured: true, Error: "this webhook endpoint is misconfigured; its operator's log says why"}
	case err != nil:
		s.log.LogAttrs(ctx, slog.LevelError, "intake: delivery not accepted: the store failed",
			slog.String("source", s.trigger), slog.String("delivery_id", d.id), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, Error: "the delivery could not be stored; nothing was accepted: retry"}
	case dl.Duplicate:
		return &Answer{Status: Duplicate, EventID: dl.Event.ID, RunID: dl.Event.RunID, Duplicate: true}
	}
	return &Answer{Status: Accepted, EventID: dl.Event.ID, RunID: dl.Woke}
}

// key is the event's key in the body, or why there is none.
func (s *events) key(raw []byte, doc any) (string, *contract.ValidationError) {
	if s.route.KeyFunc != nil {
		key, err := keyFunc(s.route.KeyFunc, raw)
		switch {
		case err != nil:
			return "", violation("", "key", "the event's key: "+err.Error())
		case key == "":
			return "", violation("", "key", "the event's key is empty")
		}
		return key, nil
	}
	v, ok := lookup(doc, s.keyToks)
	if !ok {
		return "", violation(s.route.Key, "required", "the event's key is not in the body")
	}
	var key string
	switch v := v.(type) {
	case string:
		key = v
	case json.Number:
		key = v.String()
	default:
		return "", violation(s.route.Key, "type", "the event's key is not a string or a number")
	}
	if strings.TrimSpace(key) == "" {
		return "", violation(s.route.Key, "minLength", "the event's key is empty")
	}
	return s.route.KeyPrefix + key, nil
}

// keyFunc calls the route's KeyFunc, turning a panic into an error.
func keyFunc(f func([]byte) (string, error), raw []byte) (key string, err error) {
	defer func() {
		if v := recover(); v != nil {
			key, err = "", fmt.Errorf("KeyFunc panicked: %v", v)
		}
	}()
	return f(raw)
}

// refuse records a delivery refused for its content as a refused event
// (store.NewEvent.Refused) with its payload, or the body when no payload
// could be found in it: `plumb events list --refused` lists it, and the
// event sent with the corrected payload under its source and id takes its
// place. A refused delivery resent is its duplicate: refused again; a
// delivery that was accepted before and is now refused is a duplicate of
// that event.
func (s *events) refuse(ctx context.Context, d *delivery, key string, payload []byte, ve *contract.ValidationError) *Answer {
	kept, note := inputOf(payload)
	reason := ve.Error()
	if note != "" {
		reason += "; " + note
	}
	dl, err := s.st.SendEvent(ctx, store.NewEvent{Name: s.route.Name, Key: key, ID: d.id, Source: s.trigger,
		Payload: kept, Keep: s.route.Keep, Refused: reason})
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "intake: invalid delivery not recorded: the store failed",
			slog.String("source", s.trigger), slog.String("delivery_id", d.id), slog.String("error", err.Error()))
		return &Answer{Status: Unavailable, Error: "the delivery is invalid, and could not be recorded: retry"}
	}
	if dl.Duplicate && !dl.Event.IsRefused() {
		return &Answer{Status: Duplicate, EventID: dl.Event.ID, RunID: dl.Event.RunID, Duplicate: true}
	}
	return &Answer{Status: Invalid, EventID: dl.Event.ID, Duplicate: dl.Duplicate, Violations: ve.Violations,
		Error: fmt.Sprintf("the body breaks event %s's contract (%d violation(s)); it was recorded as a refused event (event_id): `plumb events list --refused`", s.route.Name, ve.Count())}
}

// lastSeen is unknown for events: the watch counts from the handler's
// start.
func (s *events) lastSeen(context.Context) (time.Time, bool) { return time.Time{}, false }

func violation(path, keyword, msg string) *contract.ValidationError {
	return &contract.ValidationError{Violations: []contract.Violation{{Path: path, Keyword: keyword, Message: msg}}}
}

func syntaxViolation(err error) *contract.ValidationError {
	return violation("", "syntax", "the body is not JSON: "+err.Error())
}
