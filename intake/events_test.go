package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// Invoice is what the invoice pipeline bills; it waits for Stripe to say
// it was paid.
type Invoice struct {
	ID     string `json:"id" jsonschema:"minLength=1"`
	Amount int    `json:"amount" jsonschema:"minimum=1"`
}

// Payment is the part of a Stripe payment_intent.succeeded event the
// await step reads (its data.object).
type Payment struct {
	Invoice        string `json:"invoice" jsonschema:"minLength=1"`
	AmountReceived int    `json:"amount_received" jsonschema:"minimum=1"`
}

// Settled is the pipeline's output.
type Settled struct {
	Invoice string `json:"invoice"`
	Paid    int    `json:"paid"`
}

const whsec = "whsec_test_secret"

// invoicePipeline is "invoices": issue, then wait up to three days for the
// payment of "invoice:<id>".
func invoicePipeline(rt *pipeline.Runtime) *pipeline.Pipeline[Invoice, Settled] {
	issue := step.New("issue", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, step.Config{Retry: retry.Never})
	p := pipeline.New(rt, "invoices", issue, pipeline.Policy{Outage: pipeline.NoOutage})
	return pipeline.Await(p, "pay", func(in Invoice) string { return "invoice:" + in.ID },
		pipeline.AwaitOptions{Within: 72 * time.Hour, Event: "payment"},
		func(in Invoice, e Payment) (Settled, error) {
			return Settled{Invoice: in.ID, Paid: e.AmountReceived}, nil
		},
		func(in Invoice) (Settled, error) { return Settled{Invoice: in.ID}, nil })
}

// paymentRoute takes Stripe events as "payment" events for
// "invoice:<data.object.invoice>", the payload being data.object.
var paymentRoute = intake.EventRoute{Name: "payment", Key: "/data/object/invoice", KeyPrefix: "invoice:", Payload: "/data/object"}

func stripeEvent(id, invoice string, amount int) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": "payment_intent.succeeded",
		"data": map[string]any{"object": map[string]any{"invoice": invoice, "amount_received": amount}}})
	return b
}

// eventsEnv is the invoice pipeline on a store, worked in the background,
// with a Stripe events handler on a real server.
type eventsEnv struct {
	t   *testing.T
	ctx context.Context
	st  store.Store
	rt  *pipeline.Runtime
	p   *pipeline.Pipeline[Invoice, Settled]
	url string
}

func newEventsEnv(t *testing.T, st store.Store) *eventsEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: quiet()})
	e := &eventsEnv{t: t, ctx: ctx, st: st, rt: rt, p: invoicePipeline(rt)}
	h := intake.NewEvents(rt, intake.Source{Name: "stripe", Verify: intake.Stripe(0, whsec)}, paymentRoute)
	require.NoError(t, h.Err())
	e.url = newServer(t, h)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = rt.Work(wctx, pipeline.WorkerConfig{Poll: 10 * time.Millisecond, PruneEvery: -1})
	}()
	t.Cleanup(func() { stop(); <-done })
	return e
}

func (e *eventsEnv) deliver(body []byte) reply {
	e.t.Helper()
	return post(e.t, http.DefaultClient, e.url, stripeSign(time.Now(), body, whsec), body)
}

// submitAndWaitForTheWait submits an invoice and returns once its run
// waits for its payment.
func (e *eventsEnv) submitAndWaitForTheWait(id string) string {
	e.t.Helper()
	runID, err := e.p.Submit(e.ctx, Invoice{ID: id, Amount: 100}, pipeline.SubmitOptions{})
	require.NoError(e.t, err)
	require.Eventually(e.t, func() bool {
		l, err := e.st.Events(e.ctx, store.EventFilter{RunID: runID})
		return err == nil && len(l.Waits) == 1
	}, 20*time.Second, 10*time.Millisecond, "the run waits for its payment")
	return runID
}

func (e *eventsEnv) refused() []store.Event {
	e.t.Helper()
	l, err := e.st.Events(e.ctx, store.EventFilter{Refused: true})
	require.NoError(e.t, err)
	return l.Events
}

func sqliteStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Logger: quiet()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func pgStore(t *testing.T) store.Store {
	t.Helper()
	st, err := openStore("postgres:" + pgSchema(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// eachStore runs fn on SQLite and on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, e *eventsEnv)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEventsEnv(t, sqliteStore(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, newEventsEnv(t, pgStore(t))) })
}

// A signed delivery wakes the run that waits for it; Stripe's retry of it
// is a duplicate that names the same event and run.
func TestEventsWakeAWaitingRun(t *testing.T) {
	eachStore(t, func(t *testing.T, e *eventsEnv) {
		runID := e.submitAndWaitForTheWait("42")
		body := stripeEvent("evt_1", "42", 100)
		r := e.deliver(body)
		require.Equal(t, http.StatusAccepted, r.code, "%+v", r.answer)
		assert.Equal(t, intake.Answer{Status: intake.Accepted, EventID: "evt_1", RunID: runID}, r.answer, "the run it woke")

		got, err := e.p.Wait(e.ctx, runID)
		require.NoError(t, err)
		assert.Equal(t, Settled{Invoice: "42", Paid: 100}, got)

		again := e.deliver(body)
		assert.Equal(t, http.StatusOK, again.code)
		assert.Equal(t, intake.Answer{Status: intake.Duplicate, EventID: "evt_1", RunID: runID, Duplicate: true}, again.answer)
		l, err := e.st.Events(e.ctx, store.EventFilter{All: true})
		require.NoError(t, err)
		require.Len(t, l.Events, 1, "one event per delivery id")
		assert.Equal(t, "webhook:stripe", l.Events[0].Source)
		assert.JSONEq(t, `{"invoice":"42","amount_received":100}`, string(l.Events[0].Payload), "the payload is data.object")
	})
}

// A delivery that comes before the run waits is kept, and the wait takes
// it at once.
func TestEventsBeforeTheWaitAreKept(t *testing.T) {
	eachStore(t, func(t *testing.T, e *eventsEnv) {
		r := e.deliver(stripeEvent("evt_early", "7", 250))
		require.Equal(t, http.StatusAccepted, r.code, "%+v", r.answer)
		assert.Equal(t, intake.Answer{Status: intake.Accepted, EventID: "evt_early"}, r.answer, "no run woke: the event is kept")

		runID, err := e.p.Submit(e.ctx, Invoice{ID: "7", Amount: 250}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		got, err := e.p.Wait(e.ctx, runID)
		require.NoError(t, err)
		assert.Equal(t, Settled{Invoice: "7", Paid: 250}, got)
	})
}

// A delivery whose payload breaks the event's contract is answered 422
// with the violations and kept as a refused event; resent as it was, it
// is refused again and kept once; resent corrected, it takes the refused
// one's place and wakes the run.
func TestEventsBadPayloadIsRecorded(t *testing.T) {
	eachStore(t, func(t *testing.T, e *eventsEnv) {
		runID := e.submitAndWaitForTheWait("42")
		bad := stripeEvent("evt_bad", "42", 0)
		r := e.deliver(bad)
		require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
		assert.Equal(t, intake.Invalid, r.answer.Status)
		assert.Equal(t, "evt_bad", r.answer.EventID)
		require.NotEmpty(t, r.answer.Violations)
		assert.Equal(t, "/amount_received", r.answer.Violations[0].Path)
		assert.Contains(t, r.answer.Error, "plumb events list --refused")

		refused := e.refused()
		require.Len(t, refused, 1)
		assert.Equal(t, "invoice:42", refused[0].Key)
		assert.Equal(t, "webhook:stripe", refused[0].Source)
		assert.JSONEq(t, `{"invoice":"42","amount_received":0}`, string(refused[0].Payload))
		assert.Contains(t, refused[0].Refused, "/amount_received")

		again := e.deliver(bad)
		assert.Equal(t, http.StatusUnprocessableEntity, again.code)
		assert.True(t, again.answer.Duplicate, "the same refusal")
		assert.Len(t, e.refused(), 1)

		fixed := e.deliver(stripeEvent("evt_bad", "42", 100))
		require.Equal(t, http.StatusAccepted, fixed.code, "%+v", fixed.answer)
		assert.Equal(t, runID, fixed.answer.RunID)
		assert.Empty(t, e.refused(), "the corrected event took its place")
		got, err := e.p.Wait(e.ctx, runID)
		require.NoError(t, err)
		assert.Equal(t, 100, got.Paid)
	})
}

// What is not JSON, or has no key where the route says, is refused and
// kept too, with its body.
func TestEventsUnreadableDeliveriesAreRecorded(t *testing.T) {
	e := newEventsEnv(t, sqliteStore(t))
	notJSON := []byte(`{"id":"evt_x",`)
	r := post(t, http.DefaultClient, e.url, stripeSign(time.Now(), notJSON, whsec), notJSON)
	// Stripe's delivery id is in the body: a body that is not JSON has
	// none. It is kept all the same, as a refused event under an id made
	// from the body, with the body's text.
	assert.Equal(t, http.StatusBadRequest, r.code, "%+v", r.answer)
	assert.Equal(t, intake.NoDeliveryID, r.answer.Status)
	require.NotEmpty(t, r.answer.EventID)
	refused := e.refused()
	require.Len(t, refused, 1)
	assert.Equal(t, r.answer.EventID, refused[0].ID)
	assert.Contains(t, r.answer.Error, "recorded as a refused event (event_id) under delivery id "+refused[0].ID)
	var text string
	require.NoError(t, json.Unmarshal(refused[0].Payload, &text))
	assert.Equal(t, string(notJSON), text)

	noKey := []byte(`{"id":"evt_nokey","type":"payment_intent.succeeded","data":{"object":{"amount_received":5}}}`)
	r = e.deliver(noKey)
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
	require.Len(t, r.answer.Violations, 1)
	assert.Equal(t, "/data/object/invoice", r.answer.Violations[0].Path)
	assert.Equal(t, "required", r.answer.Violations[0].Keyword)
	refused = e.refused()
	require.Len(t, refused, 2)
	i := slices.IndexFunc(refused, func(ev store.Event) bool { return ev.ID == "evt_nokey" })
	require.NotEqual(t, -1, i)
	assert.Empty(t, refused[i].Key, "kept without a key")
	assert.JSONEq(t, string(noKey), string(refused[i].Payload), "with the whole body")

	// A source whose id is in a header reads the id of a body that is not
	// JSON: it is kept as the body's text.
	h := intake.NewEvents(e.rt, intake.Source{Name: "forms", Verify: intake.Unsigned(), DeliveryID: intake.DeliveryID{Header: "X-Id"}},
		intake.EventRoute{Name: "payment", Key: "/invoice", KeyPrefix: "invoice:"})
	require.NoError(t, h.Err())
	url := newServer(t, h)
	r = post(t, http.DefaultClient, url, http.Header{"X-Id": {"f-1"}}, []byte("paid, thanks"))
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
	assert.Equal(t, "syntax", r.answer.Violations[0].Keyword)
	l, err := e.st.Events(e.ctx, store.EventFilter{Refused: true})
	require.NoError(t, err)
	require.Len(t, l.Events, 3)
	i = slices.IndexFunc(l.Events, func(ev store.Event) bool { return ev.ID == "f-1" })
	require.NotEqual(t, -1, i)
	assert.JSONEq(t, `"paid, thanks"`, string(l.Events[i].Payload), "the body's text as a JSON string")
	assert.Contains(t, l.Events[i].Refused, "not JSON")
}

// A forged delivery is 401 and nothing is stored.
func TestEventsForgeryIsNotStored(t *testing.T) {
	eachStore(t, func(t *testing.T, e *eventsEnv) {
		body := stripeEvent("evt_forged", "42", 100)
		r := post(t, http.DefaultClient, e.url, stripeSign(time.Now(), body, "whsec_someone_else"), body)
		assert.Equal(t, http.StatusUnauthorized, r.code)
		assert.Equal(t, intake.Unauthorized, r.answer.Status)
		l, err := e.st.Events(e.ctx, store.EventFilter{All: true})
		require.NoError(t, err)
		assert.Empty(t, l.Events, "a forgery is never stored")
	})
}

// An event nobody awaits is a build error, unless a registered
// definition awaits it (a process that only receives webhooks).
func TestEventsBuildChecks(t *testing.T) {
	st := sqliteStore(t)
	src := intake.Source{Name: "stripe", Verify: intake.Stripe(0, whsec)}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: quiet()})
	err := intake.NewEvents(rt, src, paymentRoute).Err()
	assert.ErrorIs(t, err, store.ErrUnknownEvent)
	assert.ErrorContains(t, err, `event "payment"`)

	worker := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: quiet()})
	require.NoError(t, invoicePipeline(worker).Register(context.Background()))
	assert.NoError(t, intake.NewEvents(rt, src, paymentRoute).Err(), "the store's registered definition awaits it")

	for _, c := range []struct {
		name  string
		rt    *pipeline.Runtime
		route intake.EventRoute
		want  string
	}{
		{"no name", rt, intake.EventRoute{Key: "/k"}, "EventRoute.Name is empty"},
		{"no key", rt, intake.EventRoute{Name: "payment"}, "set one of EventRoute.Key"},
		{"two keys", rt, intake.EventRoute{Name: "payment", Key: "/k", KeyFunc: func([]byte) (string, error) { return "", nil }}, "set one of EventRoute.Key"},
		{"bad pointer", rt, intake.EventRoute{Name: "payment", Key: "k"}, "EventRoute.Key"},
		{"bad payload pointer", rt, intake.EventRoute{Name: "payment", Key: "/k", Payload: "x"}, "EventRoute.Payload"},
		{"no runtime", nil, paymentRoute, "the runtime is nil"},
		{"no store", pipeline.NewRuntime(pipeline.RuntimeConfig{Logger: quiet()}), paymentRoute, "has no store"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := intake.NewEvents(c.rt, src, c.route)
			assert.ErrorContains(t, h.Err(), c.want)
			r := post(t, http.DefaultClient, newServer(t, h), stripeSign(time.Now(), []byte(`{"id":"evt_1"}`), whsec), []byte(`{"id":"evt_1"}`))
			assert.Equal(t, http.StatusInternalServerError, r.code, "a misconfigured handler answers 500")
		})
	}
}

// forgetful is a store whose registered definitions cannot be read at
// build and are gone after: the handler builds (with a warning), and
// answers 500 while nothing awaits its event.
type forgetful struct {
	store.Store
	calls int
}

func (f *forgetful) Pipelines(ctx context.Context) ([]store.PipelineDef, error) {
	f.calls++
	if f.calls == 1 {
		return nil, errors.New("connection refused")
	}
	return nil, nil
}

func TestEventsUnknownAtDeliveryIsMisconfigured(t *testing.T) {
	st := &forgetful{Store: sqliteStore(t)}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: quiet()})
	h := intake.NewEvents(rt, intake.Source{Name: "stripe", Verify: intake.Stripe(0, whsec)}, paymentRoute)
	require.NoError(t, h.Err(), "a store that cannot be read at build is no build error")
	body := stripeEvent("evt_1", "42", 100)
	r := post(t, http.DefaultClient, newServer(t, h), stripeSign(time.Now(), body, whsec), body)
	assert.Equal(t, http.StatusInternalServerError, r.code, "%+v", r.answer)
	assert.Equal(t, intake.Unavailable, r.answer.Status)
	assert.Zero(t, r.header.Get("Retry-After"), "nothing to retry until the operator acts")
	l, err := st.Events(context.Background(), store.EventFilter{All: true})
	require.NoError(t, err)
	assert.Empty(t, l.Events)
}

// A key func names keys a pointer cannot; its error refuses the delivery.
func TestEventsKeyFunc(t *testing.T) {
	e := newEventsEnv(t, sqliteStore(t))
	h := intake.NewEvents(e.rt, intake.Source{Name: "shop", Verify: intake.Unsigned(), DeliveryID: intake.DeliveryID{Header: "X-Id"}},
		intake.EventRoute{Name: "payment", KeyFunc: func(body []byte) (string, error) {
			var v struct {
				Invoice string `json:"invoice"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Invoice == "" {
				return "", fmt.Errorf("no invoice")
			}
			return "invoice:" + v.Invoice, nil
		}})
	require.NoError(t, h.Err())
	url := newServer(t, h)
	runID := e.submitAndWaitForTheWait("9")
	r := post(t, http.DefaultClient, url, http.Header{"X-Id": {"s-1"}}, []byte(`{"amount_received":3}`))
	require.Equal(t, http.StatusUnprocessableEntity, r.code, "%+v", r.answer)
	assert.Contains(t, r.answer.Violations[0].Message, "no invoice")
	r = post(t, http.DefaultClient, url, http.Header{"X-Id": {"s-2"}}, []byte(`{"invoice":"9","amount_received":3}`))
	require.Equal(t, http.StatusAccepted, r.code, "%+v", r.answer)
	assert.Equal(t, runID, r.answer.RunID)
}

// An events source that goes silent is reported through the runtime's
// notifier, as a run source is through its pipeline's; a delivery ends
// the silence.
func TestEventsSilenceIsLoud(t *testing.T) {
	clock := &stepClock{Clock: retrytest.NewClock(time.Now()), tick: make(chan struct{})}
	var mu sync.Mutex
	var heard []notify.Event
	n := notify.Func(func(_ context.Context, ev notify.Event) error {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, ev)
		return nil
	})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: sqliteStore(t), Clock: clock, Notifier: n, Logger: quiet()})
	invoicePipeline(rt)
	h := intake.NewEvents(rt, intake.Source{Name: "stripe", Verify: intake.Stripe(0, whsec), ExpectEvery: time.Hour}, paymentRoute)
	require.NoError(t, h.Err())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Watch(ctx) }()
	got := func() []notify.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]notify.Event(nil), heard...)
	}
	for range 62 { // a check a minute: the 61st finds an hour of silence
		clock.tick <- struct{}{}
	}
	require.Len(t, got(), 1)
	assert.Equal(t, notify.Silent, got()[0].Kind)
	assert.Equal(t, "webhook:stripe", got()[0].Pipeline)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}
