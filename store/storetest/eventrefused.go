package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// The cases of deliveries refused for their content, kept as events
// (store.NewEvent.Refused): kept for an operator, given to no wait, and
// replaced by the corrected event of the same source and id.

const refusal = "/amount: must be >= 1"

func (h *harness) refuse(key, id, payload string) store.Delivery {
	h.t.Helper()
	d, err := h.s.SendEvent(h.ctx, store.NewEvent{Name: evName, Key: key, Source: "webhook:stripe", ID: id,
		Payload: json.RawMessage(payload), Refused: refusal})
	require.NoError(h.t, err)
	return d
}

func testEventRefusedKept(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	require.True(t, h.await(c.Lease, evKey).Waiting())

	d := h.refuse(evKey, "evt_bad", `{"amount":0}`)
	assert.False(t, d.Duplicate)
	assert.Empty(t, d.Woke, "a refused event is given to no wait")
	assert.True(t, d.Event.IsRefused())
	assert.Equal(t, refusal, d.Event.Refused)
	assert.Equal(t, store.Queued, h.get(r.ID).Run.Status)
	assert.True(t, h.get(r.ID).Run.NotBefore.After(h.clock.Now()), "the run still waits")

	noKey := h.refuse("", "evt_nokey", `{"data":{}}`)
	assert.Empty(t, noKey.Event.Key, "a delivery refused for having no key is kept without one")

	assert.Empty(t, h.events(store.EventFilter{}).Events, "a refused event is not kept for a wait")
	refused := h.events(store.EventFilter{Refused: true})
	assert.Empty(t, refused.Waits, "the refused list has no waits")
	require.Len(t, refused.Events, 2)
	assert.Equal(t, "evt_bad", refused.Events[0].ID)
	assert.JSONEq(t, `{"amount":0}`, string(refused.Events[0].Payload), "kept with its payload")
	assert.Equal(t, "webhook:stripe", refused.Events[0].Source)
	assert.Len(t, h.events(store.EventFilter{All: true}).Events, 2, "All lists the refused too")
	assert.Len(t, h.events(store.EventFilter{Refused: true, Key: evKey}).Events, 1)

	_, c2 := h.claimAt0()
	assert.True(t, h.await(c2.Lease, evKey).Waiting(), "a wait does not take a refused event")

	h.clock.Advance(store.DefaultEventKeep + time.Hour)
	h.send("invoice:9", "cli", "later", `{}`) // deletes the events past their keep
	assert.Len(t, h.events(store.EventFilter{Refused: true}).Events, 2, "a refused event is not deleted for its keep")
}

func testEventRefusedDuplicate(t *testing.T, h *harness) {
	h.refuse(evKey, "evt_bad", `{"amount":0}`)
	h.clock.Advance(time.Minute)
	d := h.refuse(evKey, "evt_bad", `{"amount":-1}`)
	assert.True(t, d.Duplicate, "a refused copy of a refused delivery is its duplicate")
	assert.False(t, d.Replaced)
	assert.JSONEq(t, `{"amount":0}`, string(d.Event.Payload), "the first is kept")
	assert.Len(t, h.events(store.EventFilter{Refused: true}).Events, 1)

	h.send(evKey, "webhook:stripe", "evt_ok", `{"amount":5}`)
	d = h.refuse(evKey, "evt_ok", `{"amount":0}`)
	assert.True(t, d.Duplicate, "a refused copy of an accepted event is its duplicate")
	assert.False(t, d.Event.IsRefused(), "and finds the accepted one")
	assert.Len(t, h.events(store.EventFilter{Refused: true}).Events, 1)
}

func testEventRefusedReplaced(t *testing.T, h *harness) {
	r, c := h.claimAt0()
	require.True(t, h.await(c.Lease, evKey).Waiting())
	h.refuse(evKey, "evt_1", `{"amount":0}`)
	h.clock.Advance(time.Minute)

	d := h.send(evKey, "webhook:stripe", "evt_1", `{"amount":100}`)
	assert.False(t, d.Duplicate)
	assert.True(t, d.Replaced, "the corrected event takes the refused one's place")
	assert.False(t, d.Event.IsRefused())
	assert.Equal(t, r.ID, d.Woke, "and goes to the waiting run")
	assert.True(t, d.Event.ReceivedAt.Equal(h.clock.Now()))
	assert.Empty(t, h.events(store.EventFilter{Refused: true}).Events, "nothing is refused any more")

	all := h.events(store.EventFilter{All: true})
	require.Len(t, all.Events, 1, "one event per source and id")
	assert.JSONEq(t, `{"amount":100}`, string(all.Events[0].Payload))

	again := h.send(evKey, "webhook:stripe", "evt_1", `{"amount":100}`)
	assert.True(t, again.Duplicate, "a copy of the corrected event is its duplicate")
	assert.False(t, again.Replaced)

	c2 := h.claimOne("w2")
	require.Equal(t, r.ID, c2.Run.ID)
	res := h.await(c2.Lease, evKey)
	require.NotNil(t, res.Event)
	assert.JSONEq(t, `{"amount":100}`, string(res.Event.Payload), "the run takes the corrected payload")

	// A refused delivery no run waits for yet is kept, once corrected,
	// for the wait to come.
	h.refuse("invoice:7", "evt_2", `{"amount":0}`)
	d = h.send("invoice:7", "webhook:stripe", "evt_2", `{"amount":7}`)
	assert.True(t, d.Replaced)
	assert.Empty(t, d.Woke)
	require.Len(t, h.events(store.EventFilter{Key: "invoice:7"}).Events, 1, "kept for a wait")
}
