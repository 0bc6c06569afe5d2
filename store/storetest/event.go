package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// The event cases: an await step's wait (Queue.Await) and the events
// sent to it (Ops.SendEvent), kept by name and key, each taken by one
// wait.

// eventCases are the cases of Exercise about events.
var eventCases = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"EventBeforeWait", testEventBeforeWait},
	{"EventWaitThenEvent", testWaitThenEvent},
	{"EventDeadline", testEventDeadline},
	{"EventDuplicates", testEventDuplicates},
	{"EventOneConsumer", testEventOneConsumer},
	{"EventTakenSurvivesReclaim", testEventReclaim},
	{"EventReplayTakesItAgain", testEventReplay},
	{"EventKeepExpires", testEventKeep},
	{"EventCancelledWait", testEventCancelledWait},
	{"EventRefusals", testEventRefusals},
	{"EventsGoWithTheirRun", testEventsPruned},
	{"EventContractRegistered", testEventContractRegistered},
	{"EventRefusedKept", testEventRefusedKept},
	{"EventRefusedDuplicate", testEventRefusedDuplicate},
	{"EventRefusedReplaced", testEventRefusedReplaced},
}

const (
	evName = "payment"
	evKey  = "invoice:42"
	within = 72 * time.Hour
)

// await asks the store for the event of the await step at index 1
// ("pay") of the run held under l, the wait ending within from now.
func (h *harness) await(l store.Lease, key string) store.AwaitResult {
	h.t.Helper()
	res, err := h.s.Await(h.ctx, l, h.awaitReq(key))
	require.NoError(h.t, err)
	return res
}

func (h *harness) awaitReq(key string) store.Await {
	r := rec(1, "pay", store.StepAwaiting, "")
	r.Note = "waiting for " + evName + " " + key
	return store.Await{Record: r, Name: evName, Key: key, Deadline: h.clock.Now().Add(within)}
}

func (h *harness) send(key, source, id, payload string) store.Delivery {
	h.t.Helper()
	d, err := h.s.SendEvent(h.ctx, store.NewEvent{Name: evName, Key: key, Source: source, ID: id, Payload: json.RawMessage(payload)})
	require.NoError(h.t, err)
	return d
}

func (h *harness) events(f store.EventFilter) store.EventList {
	h.t.Helper()
	l, err := h.s.Events(h.ctx, f)
	require.NoError(h.t, err)
	return l
}

// claimAt0 enqueues a run, claims it and checkpoints its first step.
func (h *harness) claimAt0() (store.Run, store.Claimed) {
	h.t.Helper()
	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	require.Equal(h.t, r.ID, c.Run.ID)
	h.checkpoint(c.Lease, 0, "parse", `{"id":"42"}`)
	return r, c
}

func testEventBeforeWait(t *testing.T, h *harness) {
	d := h.send(evKey, "stripe", "evt_1", `{"amount":100}`)
	assert.False(t, d.Duplicate)
	assert.Empty(t, d.Woke, "no run waits: the event is kept")
	assert.Equal(t, "evt_1", d.Event.ID)
	assert.False(t, d.Event.Taken())
	kept := h.events(store.EventFilter{})
	require.Len(t, kept.Events, 1)
	assert.Empty(t, kept.Waits)
	assert.True(t, kept.Events[0].ExpiresAt.Equal(h.clock.Now().Add(store.DefaultEventKeep)), "kept for the default time")

	h.clock.Advance(time.Hour)
	r, c := h.claimAt0()
	res := h.await(c.Lease, evKey)
	require.NotNil(t, res.Event, "the kept event is given at once")
	assert.False(t, res.Expired)
	assert.Equal(t, "evt_1", res.Event.ID)
	assert.Equal(t, "stripe", res.Event.Source)
	assert.JSONEq(t, `{"amount":100}`, string(res.Event.Payload))
	assert.Equal(t, r.ID, res.Event.RunID, "the event names the run that took it")
	assert.Equal(t, "pay", res.Event.Step)

	got := h.get(r.ID)
	assert.Equal(t, store.Running, got.Run.Status, "the worker keeps the run and goes on")
	for _, s := range got.Steps {
		assert.NotEqual(t, store.StepAwaiting, s.Status, "a wait that did not wait writes no waiting record")
	}
	h.checkpoint(c.Lease, 1, "pay", `{"paid":true}`)

	all := h.events(store.EventFilter{RunID: r.ID, All: true})
	require.Len(t, all.Waits, 1)
	w := all.Waits[0]
	assert.Equal(t, "evt_1", w.EventID)
	assert.Equal(t, "stripe", w.EventSource)
	assert.Equal(t, 1, w.Index)
	assert.Equal(t, pipeA, w.Pipeline)
	assert.True(t, w.Resolved())
	require.Len(t, all.Events, 1)
	assert.True(t, all.Events[0].Taken())
	assert.Empty(t, h.events(store.EventFilter{}).Events, "a taken event is no longer kept for a wait")
}

// deferredOf is pipeA's Stats: its deferred runs and those of them that
// wait for an event.
func (h *harness) deferredOf() (deferred, awaiting int) {
	h.t.Helper()
	st, err := h.s.Stats(h.ctx, pipeA, 0)
	require.NoError(h.t, err)
	require.Len(h.t, st, 1)
	return st[0].Deferred, st[0].AwaitingEvent
}

func testWaitThenEvent(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	deadline := h.clock.Now().Add(within)
	res := h.await(c.Lease, evKey)
	assert.True(t, res.Waiting())
	assert.True(t, res.Deadline.Equal(deadline))
	// A run deferred by a retry wait, to tell the two apart.
	h.enqueue(pipeA)
	cd := h.claimOne("w1")
	require.NoError(t, h.s.Finish(h.ctx, cd.Lease, store.Outcome{Status: store.Queued, NotBefore: h.clock.Now().Add(2 * time.Hour)}))
	deferred, awaiting := h.deferredOf()
	assert.Equal(t, 2, deferred, "a wait for an event defers its run")
	assert.Equal(t, 1, awaiting, "and Stats says which waits for an event")

	got := h.get(r.ID)
	assert.Equal(t, store.Queued, got.Run.Status, "the run waits in the queue, held by no worker")
	assert.True(t, got.Run.NotBefore.Equal(deadline), "until the deadline")
	assert.Equal(t, "pay", got.Run.Step)
	assert.Empty(t, got.Run.Error)
	assert.Empty(t, got.Run.LeaseToken)
	assert.Equal(t, 0, got.Run.Deferrals, "a wait is no deferral")
	last := got.Steps[len(got.Steps)-1]
	assert.Equal(t, store.StepAwaiting, last.Status)
	assert.Equal(t, "waiting for payment invoice:42", last.Note)
	assert.ErrorIs(t, h.s.Checkpoint(h.ctx, c.Lease, rec(1, "pay", store.StepSucceeded, `{}`)), store.ErrLeaseLost)
	assert.Empty(t, h.claim("w2", 5), "nothing to claim while it waits")

	pending := h.events(store.EventFilter{})
	require.Len(t, pending.Waits, 1)
	assert.Equal(t, r.ID, pending.Waits[0].RunID)
	assert.True(t, pending.Waits[0].Deadline.Equal(deadline))
	assert.Empty(t, h.events(store.EventFilter{Key: "invoice:43"}).Waits)

	h.clock.Advance(time.Hour)
	d := h.send(evKey, "stripe", "evt_1", `{"amount":100}`)
	assert.Equal(t, r.ID, d.Woke, "the event goes to the waiting run")
	assert.Equal(t, r.ID, d.Event.RunID)
	due := h.get(r.ID).Run
	assert.Equal(t, store.Queued, due.Status)
	assert.False(t, due.NotBefore.After(h.clock.Now()), "the run is due now")
	deferred, awaiting = h.deferredOf()
	assert.Equal(t, 1, deferred, "only the retry wait")
	assert.Zero(t, awaiting, "the event came: nothing waits for one")

	c2 := h.claimOne("w2")
	require.Equal(t, r.ID, c2.Run.ID)
	h.clock.Advance(time.Minute)
	res = h.await(c2.Lease, evKey)
	require.NotNil(t, res.Event)
	assert.Equal(t, "evt_1", res.Event.ID)
	assert.True(t, res.Deadline.Equal(deadline), "the wait keeps its first deadline")
	assert.Empty(t, h.events(store.EventFilter{}).Waits, "no wait is pending")
	assert.Empty(t, h.events(store.EventFilter{}).Events, "no event is kept")
}

func testEventDeadline(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	deadline := h.clock.Now().Add(within)
	assert.True(t, h.await(c.Lease, evKey).Waiting())
	h.clock.Advance(within - time.Second)
	assert.Empty(t, h.claim("w2", 5))
	_, awaiting := h.deferredOf()
	assert.Equal(t, 1, awaiting, "a second before its deadline")
	h.clock.Advance(2 * time.Second)
	deferred, awaiting := h.deferredOf()
	assert.Zero(t, deferred, "past its deadline the run is due")
	assert.Zero(t, awaiting, "and waits for no event")
	// An event that comes after the deadline is not the wait's.
	d := h.send(evKey, "stripe", "late", `{}`)
	assert.Empty(t, d.Woke)
	c2 := h.claimOne("w2")
	require.Equal(t, r.ID, c2.Run.ID, "the deadline makes the run due")
	res := h.await(c2.Lease, evKey)
	assert.True(t, res.Expired, "the deadline passed: the default")
	assert.Nil(t, res.Event)
	assert.True(t, res.Deadline.Equal(deadline))
	again := h.await(c2.Lease, evKey)
	assert.True(t, again.Expired, "an expired wait stays expired")
	kept := h.events(store.EventFilter{})
	require.Len(t, kept.Events, 1, "the late event is kept for another wait")
	assert.Equal(t, "late", kept.Events[0].ID)
	all := h.events(store.EventFilter{RunID: r.ID, All: true})
	require.Len(t, all.Waits, 1)
	assert.True(t, all.Waits[0].Expired)
	assert.Empty(t, all.Waits[0].EventID)
}

func testEventDuplicates(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	require.True(t, h.await(c.Lease, evKey).Waiting())
	r2, c2 := h.claimAt0()
	require.True(t, h.await(c2.Lease, evKey).Waiting())
	first := h.send(evKey, "stripe", "evt_1", `{"amount":100}`)
	assert.Equal(t, r.ID, first.Woke)
	// A retried delivery of evt_1 is no new event, though r2 waits too.
	dup := h.send(evKey, "stripe", "evt_1", `{"amount":100}`)
	assert.True(t, dup.Duplicate)
	assert.Empty(t, dup.Woke, "a duplicate wakes nothing")
	assert.Equal(t, r.ID, dup.Event.RunID, "it is the first delivery's event")
	assert.Len(t, h.events(store.EventFilter{All: true}).Events, 1, "one event kept for two deliveries")
	// Another source may use the same id: it is another event.
	other := h.send(evKey, "paypal", "evt_1", `{"amount":5}`)
	assert.False(t, other.Duplicate)
	assert.Equal(t, r2.ID, other.Woke)
	// An event without an id is never a duplicate.
	a := h.send(evKey, "cli", "", `{}`)
	b := h.send(evKey, "cli", "", `{}`)
	assert.NotEmpty(t, a.Event.ID)
	assert.NotEqual(t, a.Event.ID, b.Event.ID)
	assert.False(t, b.Duplicate)
}

func testEventOneConsumer(t *testing.T, h *harness) {
	ra, ca := h.claimAt0()
	rb := h.enqueue(pipeA)
	cb := h.claimOne("w1")
	require.Equal(t, rb.ID, cb.Run.ID)
	require.True(t, h.await(ca.Lease, evKey).Waiting())
	h.clock.Advance(time.Second)
	require.True(t, h.await(cb.Lease, evKey).Waiting())
	assert.Len(t, h.events(store.EventFilter{Key: evKey}).Waits, 2)

	d1 := h.send(evKey, "stripe", "e1", `{}`)
	assert.Equal(t, ra.ID, d1.Woke, "the oldest wait takes the first event")
	claimed := h.claim("w2", 5)
	require.Len(t, claimed, 1, "one event makes one run due")
	assert.Equal(t, ra.ID, claimed[0].Run.ID)
	d2 := h.send(evKey, "stripe", "e2", `{}`)
	assert.Equal(t, rb.ID, d2.Woke, "the next event goes to the next wait")
	cb2 := h.claimOne("w3")
	assert.Equal(t, "e2", h.await(cb2.Lease, evKey).Event.ID)
	assert.Equal(t, "e1", h.await(claimed[0].Lease, evKey).Event.ID)

	// Two events kept: a wait takes the oldest, the next wait the other.
	h.send("invoice:7", "stripe", "k1", `{"n":1}`)
	h.clock.Advance(time.Second)
	h.send("invoice:7", "stripe", "k2", `{"n":2}`)
	_, c3 := h.claimAt0()
	assert.Equal(t, "k1", h.await(c3.Lease, "invoice:7").Event.ID)
	_, c4 := h.claimAt0()
	assert.Equal(t, "k2", h.await(c4.Lease, "invoice:7").Event.ID)
	_, c5 := h.claimAt0()
	assert.True(t, h.await(c5.Lease, "invoice:7").Waiting(), "no third event")
}

func testEventReclaim(t *testing.T, h *harness) {
	h.send(evKey, "stripe", "evt_1", `{}`)
	r, c := h.claimAt0()
	require.Equal(t, "evt_1", h.await(c.Lease, evKey).Event.ID)
	// The worker dies before its checkpoint; another takes the run over.
	h.clock.Advance(lease + time.Second)
	c2 := h.claimOne("w2")
	require.Equal(t, r.ID, c2.Run.ID)
	res := h.await(c2.Lease, evKey)
	require.NotNil(t, res.Event, "the event its wait took is the run's, after a crash too")
	assert.Equal(t, "evt_1", res.Event.ID)
	h.send(evKey, "stripe", "evt_2", `{}`)
	assert.Equal(t, "evt_1", h.await(c2.Lease, evKey).Event.ID, "a wait takes one event")
	assert.Len(t, h.events(store.EventFilter{}).Events, 1, "evt_2 is kept for another wait")
}

func testEventReplay(t *testing.T, h *harness) {
	h.send(evKey, "stripe", "evt_1", `{}`)
	r, c := h.claimAt0()
	require.Equal(t, "evt_1", h.await(c.Lease, evKey).Event.ID)
	fail := rec(1, "pay", store.StepFailed, "")
	fail.Error = "handler failed"
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Record: &fail, Step: "pay", Error: fail.Error}))
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID, From: "pay"})
	require.NoError(t, err)
	c2 := h.claimOne("w2")
	require.Equal(t, 2, c2.Run.Attempt)
	res := h.await(c2.Lease, evKey)
	require.NotNil(t, res.Event, "a replay of the step takes the event the run took before")
	assert.Equal(t, "evt_1", res.Event.ID)
	assert.Len(t, h.events(store.EventFilter{RunID: r.ID, All: true}).Waits, 2, "one wait per attempt")
}

func testEventKeep(t *testing.T, h *harness) {
	_, err := h.s.SendEvent(h.ctx, store.NewEvent{Name: evName, Key: evKey, Source: "cli", ID: "short", Keep: time.Hour})
	require.NoError(t, err)
	h.clock.Advance(2 * time.Hour)
	assert.Empty(t, h.events(store.EventFilter{}).Events, "an expired event is kept for no wait")
	_, c := h.claimAt0()
	assert.True(t, h.await(c.Lease, evKey).Waiting(), "an expired event is not taken")
	assert.Len(t, h.events(store.EventFilter{All: true}).Events, 1, "but listed with All")
	h.send("invoice:9", "cli", "later", `{}`)
	for _, e := range h.events(store.EventFilter{All: true}).Events {
		assert.NotEqual(t, "short", e.ID, "a later send deletes the events past their keep")
	}
}

func testEventCancelledWait(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	require.True(t, h.await(c.Lease, evKey).Waiting())
	h.cancel(r.ID, operator, why)
	assert.Equal(t, store.Cancelled, h.get(r.ID).Run.Status, "a waiting run is held by no worker: it ends at once")
	assert.Empty(t, h.events(store.EventFilter{}).Waits, "its wait is no longer pending")
	d := h.send(evKey, "stripe", "evt_1", `{}`)
	assert.Empty(t, d.Woke, "a cancelled run takes no event")
	assert.Len(t, h.events(store.EventFilter{}).Events, 1)
}

func testEventRefusals(t *testing.T, h *harness) {
	_, err := h.s.SendEvent(h.ctx, store.NewEvent{Name: "", Key: evKey})
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = h.s.SendEvent(h.ctx, store.NewEvent{Name: evName, Key: ""})
	assert.ErrorIs(t, err, store.ErrConflict)
	_, c := h.claimAt0()
	bad := h.awaitReq(evKey)
	bad.Record.Status = store.StepWaiting
	_, err = h.s.Await(h.ctx, c.Lease, bad)
	assert.ErrorIs(t, err, store.ErrConflict)
	require.True(t, h.await(c.Lease, evKey).Waiting())
	_, err = h.s.Await(h.ctx, c.Lease, h.awaitReq(evKey))
	assert.ErrorIs(t, err, store.ErrLeaseLost, "the lease ended with the wait")
	_, err = h.s.Await(h.ctx, store.Lease{RunID: "nope", Token: "x"}, h.awaitReq(evKey))
	assert.Error(t, err)
}

func testEventsPruned(t *testing.T, h *harness) {
	h.send(evKey, "stripe", "evt_1", `{}`)
	r, c := h.claimAt0()
	require.Equal(t, "evt_1", h.await(c.Lease, evKey).Event.ID)
	h.checkpoint(c.Lease, 1, "pay", `{}`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"done"`)}))
	h.send("invoice:other", "stripe", "evt_2", `{}`)
	h.clock.Advance(store.DefaultRetentionAge + time.Hour)
	n, err := h.s.Prune(h.ctx, store.Retention{})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	all := h.events(store.EventFilter{All: true})
	assert.Empty(t, all.Waits, "the run's waits went with it")
	require.Len(t, all.Events, 1, "and the event it took; the one kept stays until its keep ends")
	assert.Equal(t, "evt_2", all.Events[0].ID)
	_ = r
}

// An await step's event and its contract are kept with the definition,
// for the tools that check an event without the step's types
// (store.DeliverEvent).
func testEventContractRegistered(t *testing.T, h *harness) {
	d := store.PipelineDef{Name: "invoices", KeepPayloads: true, Steps: []store.StepDef{
		{Name: "bill"},
		{Name: "pay", Event: evName, EventSchema: json.RawMessage(`{"type":"object","required":["amount"]}`)},
	}}
	require.NoError(t, h.s.RegisterPipeline(h.ctx, d))
	got, err := h.s.Pipeline(h.ctx, "invoices")
	require.NoError(t, err)
	require.Len(t, got.Steps, 2)
	assert.Equal(t, evName, got.Steps[1].Event)
	assert.JSONEq(t, `{"type":"object","required":["amount"]}`, string(got.Steps[1].EventSchema))
	_, err = store.DeliverEvent(h.ctx, h.s, store.NewEvent{Name: evName, Key: evKey, Payload: json.RawMessage(`{}`)})
	assert.Error(t, err, "the payload breaks the registered contract")
	_, err = store.DeliverEvent(h.ctx, h.s, store.NewEvent{Name: "refund", Key: evKey, Payload: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, store.ErrUnknownEvent)
	dl, err := store.DeliverEvent(h.ctx, h.s, store.NewEvent{Name: evName, Key: evKey, Source: "cli", Payload: json.RawMessage(`{"amount":1}`)})
	require.NoError(t, err)
	assert.False(t, dl.Duplicate)
}
