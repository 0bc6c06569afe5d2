package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// AwaitOptions say what an await step waits for, and how long. Within is
// required; the other fields have defaults.
type AwaitOptions struct {
	// Within is how long the step waits for its event, from the moment it
	// first waits; then it takes its default. Required.
	Within time.Duration
	// Event names the kind of event the step waits for, as its senders
	// name it (Runtime.SendEvent, plumb events send). Defaults to the
	// step's name.
	Event string
}

// Await returns p with a step named name that waits for an external event
// (a payment confirmed, a customer's reply, a click on an approval link):
// the event named o.Event (the step's name by default) whose key is
// key(value), for o.Within. When the event comes, the step's output is
// onEvent(value, payload); when the deadline passes first, it is
// onDeadline(value), the step's declared default. An error of either fails
// the step as a step's error would (one without a class, permanently).
// Both are decisions, run once per event: do the side effects in the steps
// after.
//
// The run waits holding no worker: the step's first execution records the
// wait and puts the run back in the queue until the deadline, in one store
// write, unless an event of its name and key is kept already (an event
// that comes before the wait is kept for it, store.DefaultEventKeep by
// default), which the step takes at once. An event sent for a waiting run
// makes it due at once (Runtime.SendEvent, plumb events send); a worker
// takes the run up, and the step finds the event its wait took. The wait
// survives restarts: it is in the store, not in a goroutine.
//
// The payload's contract is E's: Runtime.SendEvent refuses an event that
// breaks it with the violations, before anything waits on it, and the
// store keeps the contract's schema (store.StepDef.EventSchema) for tools
// that send events without the Go types (store.DeliverEvent). Await needs
// a runtime with a store; without one, or with a nil function or a
// Within that is not positive, it is a build error that Err reports.
func Await[In, Mid, E, Out any](p *Pipeline[In, Mid], name string, key func(Mid) string, o AwaitOptions,
	onEvent func(in Mid, event E) (Out, error), onDeadline func(in Mid) (Out, error)) *Pipeline[In, Out] {
	errs := []error{}
	if name == "" {
		errs = append(errs, errors.New("an await step needs a name"))
	}
	if o.Event == "" {
		o.Event = name
	}
	if o.Within <= 0 {
		errs = append(errs, fmt.Errorf("step %q: AwaitOptions.Within is %s: say how long the step waits for its event", name, o.Within))
	}
	if key == nil || onEvent == nil || onDeadline == nil {
		errs = append(errs, fmt.Errorf("step %q: the key, onEvent and onDeadline funcs must all be set", name))
	}
	if p.def.rt.cfg.Store == nil {
		errs = append(errs, fmt.Errorf("step %q waits for an event: its runtime has no store to wait in (pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st}))", name))
	}
	st := &awaitStage[Mid, E, Out]{stepName: name, event: o.Event, within: o.Within, key: key, onEvent: onEvent, onDeadline: onDeadline}
	var err error
	if st.in, err = contract.For[Mid](); err != nil {
		errs = append(errs, fmt.Errorf("step %q: input contract: %w", name, err))
	}
	if st.ev, err = contract.For[E](); err != nil {
		errs = append(errs, fmt.Errorf("step %q: event contract: %w", name, err))
	}
	if st.out, err = contract.For[Out](); err != nil {
		errs = append(errs, fmt.Errorf("step %q: output contract: %w", name, err))
	}
	return grow[In, Out](p.def, []stage{st}, st.out, errs)
}

// awaiter is an await step with its types erased: execute asks it for
// its event's name and key, then gives it the event or the deadline.
type awaiter interface {
	eventName() string
	wait() time.Duration
	keyOf(in any) (string, error)
	// checkEvent checks a payload against the event's contract.
	checkEvent(raw []byte) error
	// decide runs onEvent with the payload, or onDeadline when ev is nil.
	decide(in any, ev *store.Event) (any, error)
}

// awaiterOf returns the stage's awaiter, looking through an appended
// pipeline's prefix; nil for any other stage.
func awaiterOf(st stage) awaiter {
	switch s := st.(type) {
	case prefixed:
		return awaiterOf(s.stage)
	case awaiter:
		return s
	}
	return nil
}

type awaitStage[In, E, Out any] struct {
	stepName   string
	event      string
	within     time.Duration
	key        func(In) string
	onEvent    func(In, E) (Out, error)
	onDeadline func(In) (Out, error)
	in         *contract.Contract[In]
	ev         *contract.Contract[E]
	out        *contract.Contract[Out]
}

func (st *awaitStage[In, E, Out]) name() string        { return st.stepName }
func (st *awaitStage[In, E, Out]) route() step.Route   { return step.DeadLetter }
func (st *awaitStage[In, E, Out]) branching() brancher { return nil }
func (st *awaitStage[In, E, Out]) eventName() string   { return st.event }
func (st *awaitStage[In, E, Out]) wait() time.Duration { return st.within }

func (st *awaitStage[In, E, Out]) run(context.Context, any) (any, stageResult, error) {
	return nil, stageResult{}, fmt.Errorf("step %q waits for an event: it runs through its wait, not on its own", st.stepName)
}

func (st *awaitStage[In, E, Out]) encode(v any) ([]byte, error) { return json.Marshal(v) }

func (st *awaitStage[In, E, Out]) decodeIn(raw []byte) (any, error) {
	return decode(raw, st.in, "input of step "+st.stepName)
}

func (st *awaitStage[In, E, Out]) decodeOut(raw []byte) (any, error) {
	return decode(raw, st.out, "checkpoint of step "+st.stepName)
}

func (st *awaitStage[In, E, Out]) checkIn(in any) error {
	if st.in == nil {
		return nil
	}
	return st.in.Check(in.(In))
}

func (st *awaitStage[In, E, Out]) review(any) (string, bool)       { return "", false }
func (st *awaitStage[In, E, Out]) reviewsFailure(retry.Class) bool { return false }
func (st *awaitStage[In, E, Out]) reviewPolicy() (time.Duration, step.ReviewDefault) {
	return 0, step.NoDefault
}

func (st *awaitStage[In, E, Out]) def() store.StepDef {
	d := store.StepDef{Name: st.stepName, Event: st.event}
	if st.in != nil {
		d.InputSchema = st.in.Schema().JSON()
	}
	if st.out != nil {
		d.OutputSchema = st.out.Schema().JSON()
	}
	if st.ev != nil {
		d.EventSchema = st.ev.Schema().JSON()
	}
	return d
}

func (st *awaitStage[In, E, Out]) keyOf(in any) (key string, err error) {
	defer func() {
		if v := recover(); v != nil {
			key, err = "", &step.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	key = st.key(in.(In))
	if key == "" {
		return "", retry.Permanent(fmt.Errorf("step %q: the key func returned an empty key", st.stepName))
	}
	return key, nil
}

func (st *awaitStage[In, E, Out]) checkEvent(raw []byte) error {
	_, err := st.decodeEvent(raw)
	return err
}

func (st *awaitStage[In, E, Out]) decodeEvent(raw []byte) (E, error) {
	if st.ev == nil {
		var e E
		return e, json.Unmarshal(raw, &e)
	}
	return st.ev.Unmarshal(raw)
}

func (st *awaitStage[In, E, Out]) decide(in any, ev *store.Event) (out any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &step.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	var o Out
	if ev == nil {
		o, err = st.onDeadline(in.(In))
	} else {
		var e E
		if e, err = st.decodeEvent(ev.Payload); err != nil {
			return nil, retry.Permanent(fmt.Errorf("the payload of event %s %s (id %s) breaks the event's contract: %w", ev.Name, ev.Key, ev.ID, err))
		}
		o, err = st.onEvent(in.(In), e)
	}
	if err != nil {
		return nil, err
	}
	if st.out != nil {
		if err := st.out.Check(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// await runs the await stage i on in: it asks the store for the event
// (store.Queue.Await) and decides with it, or with the deadline's default;
// when the run must wait, halt is the *PendingError that ends the
// execution (or the store's failure). err is the step's failure.
func (d *definition) await(ctx context.Context, r *runState, i int, aw awaiter, in any) (out any, res stageResult, halt, err error) {
	name := d.stages[i].name()
	failed := func(what string, err error) (any, stageResult, error, error) {
		res, err := d.joinAttempt(r, name, what, err)
		return nil, res, nil, err
	}
	key, err := aw.keyOf(in)
	if err != nil {
		return failed("the event's key", err)
	}
	if r.lease == nil {
		return failed("wait for "+aw.eventName()+" "+key, retry.Permanent(errors.New("an await step needs a store to wait in")))
	}
	inRaw, err := d.stages[i].encode(in)
	if err != nil {
		return failed("encode the input", retry.Permanent(err))
	}
	what := aw.eventName() + " " + key
	// The record is written only when the run waits, which is when the
	// wait is made, with this deadline.
	deadline := d.cfg.Clock.Now().Add(aw.wait())
	rec := d.record(r, i, store.StepAwaiting, nil, stageResult{note: "waiting for " + what + " until " + deadline.UTC().Format(time.RFC3339)})
	rec.Input = inRaw
	var got store.AwaitResult
	werr := d.write(ctx, r, func(ctx context.Context) error {
		var err error
		got, err = d.cfg.Store.Await(ctx, *r.lease, store.Await{Record: rec, Name: aw.eventName(), Key: key, Deadline: deadline})
		return err
	})
	if werr != nil {
		return nil, stageResult{}, werr, nil
	}
	if got.Waiting() {
		return nil, stageResult{}, &PendingError{RunID: r.info.Info.RunID, Status: store.Queued, Step: name,
			NotBefore: got.Deadline, Event: what, Reason: "waiting for " + what}, nil
	}
	note, by := "deadline passed: default", "deadline"
	if got.Event != nil {
		by = "event"
		note = fmt.Sprintf("event %s from %s at %s", what, orUnknown(got.Event.Source), got.Event.ReceivedAt.UTC().Format(time.RFC3339))
	}
	decided := "onDeadline"
	if got.Event != nil {
		decided = "onEvent"
	}
	out, err = aw.decide(in, got.Event)
	res, err = d.joinAttempt(r, name, decided, err)
	res.by, res.note = by, note
	if err != nil {
		return nil, res, nil, err
	}
	return out, res, nil, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed source"
	}
	return s
}

// EventOptions describe an event sent to the runs that wait for it. Its
// zero value is the default.
type EventOptions struct {
	// ID identifies the event at its source (a webhook's delivery id): a
	// second send with the same Source and ID is a duplicate, which
	// changes nothing. Defaults to a new id: every send is a new event.
	ID string
	// Source names the sender. Defaults to "api".
	Source string
	// Keep is how long the event is kept for a wait that has not started.
	// Defaults to store.DefaultEventKeep.
	Keep time.Duration
}

// SendEvent delivers an event named name for key to the runs that wait for
// it: the oldest run whose await step waits on that name and key takes it
// and is due at once; with none waiting, the store keeps it for a wait to
// come. payload is the event's JSON (a json.RawMessage or []byte) or a
// value to encode; it must meet the contract of every await step bound to
// the runtime that waits for events of that name, else it is refused with
// the *contract.ValidationError and nothing is sent. When no step bound to
// the runtime waits for it (a process that only sends events), the
// contracts of the await steps registered in the store decide
// (store.DeliverEvent), and a name no registered step waits for is
// store.ErrUnknownEvent. The delivery says whether it was a duplicate and
// which run it woke.
func (rt *Runtime) SendEvent(ctx context.Context, name, key string, payload any, o EventOptions) (store.Delivery, error) {
	if rt.cfg.Store == nil {
		return store.Delivery{}, ErrNoStore
	}
	var raw []byte
	switch v := payload.(type) {
	case json.RawMessage:
		raw = v
	case []byte:
		raw = v
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return store.Delivery{}, fmt.Errorf("event %s for %s: encode the payload: %w", name, key, err)
		}
		raw = b
	}
	found := false
	for _, d := range rt.bound() {
		for _, st := range d.stages {
			aw := awaiterOf(st)
			if aw == nil || aw.eventName() != name {
				continue
			}
			found = true
			if err := aw.checkEvent(raw); err != nil {
				return store.Delivery{}, fmt.Errorf("event %s for %s: the payload breaks the contract of step %s of pipeline %s: %w", name, key, st.name(), d.name, err)
			}
		}
	}
	if o.Source == "" {
		o.Source = "api"
	}
	ne := store.NewEvent{Name: name, Key: key, ID: o.ID, Source: o.Source, Payload: raw, Keep: o.Keep}
	var dl store.Delivery
	var err error
	if found {
		dl, err = rt.cfg.Store.SendEvent(ctx, ne)
	} else {
		// No step of this runtime awaits it (a process that only sends
		// events): the registered definitions' contracts decide.
		dl, err = store.DeliverEvent(ctx, rt.cfg.Store, ne)
	}
	if err != nil {
		return store.Delivery{}, fmt.Errorf("event %s for %s: %w", name, key, err)
	}
	if dl.Woke != "" {
		wake(rt.cfg.Store)
	}
	return dl, nil
}

// Awaits reports whether a pipeline bound to the runtime has an await
// step that waits for events named name: code that sends events from
// outside (intake.NewEvents) checks at build that someone waits for them.
func (rt *Runtime) Awaits(name string) bool {
	for _, d := range rt.bound() {
		for _, st := range d.stages {
			if aw := awaiterOf(st); aw != nil && aw.eventName() == name {
				return true
			}
		}
	}
	return false
}
