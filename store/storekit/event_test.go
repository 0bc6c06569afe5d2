package storekit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

func TestPlanAwait(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	first, later := now.Add(time.Hour), now.Add(2*time.Hour)
	ask := store.Await{Name: "payment", Key: "invoice:42", Deadline: later}
	taken := &store.Event{ID: "e1", RunID: "r1"}
	kept := &store.Event{ID: "e2"}
	open := &store.Wait{Deadline: first}
	cases := []struct {
		name     string
		st       storekit.AwaitStep
		now      time.Time
		action   storekit.AwaitAction
		event    *store.Event
		deadline time.Time
		resolved bool
	}{
		{"the first wait waits", storekit.AwaitStep{}, now, storekit.AwaitWait, nil, later, false},
		{"a kept event is taken at once", storekit.AwaitStep{Kept: kept}, now, storekit.AwaitTake, kept, later, false},
		{"a wait keeps its first deadline", storekit.AwaitStep{Wait: open}, now, storekit.AwaitWait, nil, first, false},
		{"the event a wait took is its own after a crash", storekit.AwaitStep{Wait: &store.Wait{Deadline: first, EventID: "e1"}, Taken: taken, Kept: kept}, now, storekit.AwaitTake, taken, first, true},
		{"an expired wait stays expired", storekit.AwaitStep{Wait: &store.Wait{Deadline: first, Expired: true}, Kept: kept}, now, storekit.AwaitExpire, nil, first, true},
		{"a passed deadline expires the wait, even with an event kept", storekit.AwaitStep{Wait: open, Kept: kept}, first, storekit.AwaitExpire, nil, first, false},
		{"a replay takes the event the run took before", storekit.AwaitStep{Retaken: taken, Kept: kept}, later.Add(time.Hour), storekit.AwaitTake, taken, later, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := storekit.PlanAwait(ask, c.st, c.now)
			assert.Equal(t, c.action, p.Action)
			assert.Same(t, c.event, p.Event)
			assert.True(t, c.deadline.Equal(p.Deadline), "deadline %s, want %s", p.Deadline, c.deadline)
			assert.Equal(t, c.resolved, p.Resolved)
			r := p.Result()
			assert.Equal(t, c.action == storekit.AwaitWait, r.Waiting())
			assert.Equal(t, c.action == storekit.AwaitExpire, r.Expired)
		})
	}
}

func TestPrepareEvent(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	e, err := storekit.PrepareEvent(store.NewEvent{Name: "payment", Key: "invoice:42"}, now)
	assert.NoError(t, err)
	assert.NotEmpty(t, e.ID, "an event without an id gets one")
	assert.True(t, e.ExpiresAt.Equal(now.Add(store.DefaultEventKeep)))
	e, err = storekit.PrepareEvent(store.NewEvent{Name: "payment", Key: "invoice:42", ID: "x", Keep: time.Minute}, now)
	assert.NoError(t, err)
	assert.Equal(t, "x", e.ID)
	assert.True(t, e.ExpiresAt.Equal(now.Add(time.Minute)))
	_, err = storekit.PrepareEvent(store.NewEvent{Key: "invoice:42"}, now)
	assert.ErrorIs(t, err, store.ErrConflict)
}
