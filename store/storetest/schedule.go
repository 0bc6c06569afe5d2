package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// scheduleCases are Exercise's cases of schedules.
var scheduleCases = []struct {
	name string
	fn   func(t *testing.T, h *harness)
}{
	{"SchedulePut", testSchedulePut},
	{"ScheduleAdvance", testScheduleAdvance},
	{"ScheduleFiredOnce", testScheduleFiredOnce},
}

// hourly is the schedule most schedule cases use: its ticks are whole
// hours, which every store keeps exactly.
func hourly(name, pipeline string, next time.Time) store.Schedule {
	return store.Schedule{Name: name, Pipeline: pipeline, Spec: "0 * * * *", TimeZone: "UTC", Missed: store.MissedOne, Next: next}
}

// A schedule's declaration is an upsert that keeps the tick due while the
// pipeline, spec and zone are unchanged, so that every worker declaring it
// at its start agrees; a change of any of them takes the caller's next
// tick. Listing is by name, of one pipeline or of all.
func testSchedulePut(t *testing.T, h *harness) {
	tick := Start.Truncate(time.Hour).Add(time.Hour)
	berlin := time.FixedZone("CET", 3600)
	got, err := h.s.PutSchedule(h.ctx, hourly("b-hourly", pipeA, tick.In(berlin)))
	require.NoError(t, err)
	assert.True(t, got.Next.Equal(tick))
	assert.Equal(t, time.UTC, got.Next.Location(), "Next is kept in UTC")
	assert.Equal(t, "0 * * * *", got.Spec)
	assert.Equal(t, "UTC", got.TimeZone)
	assert.Equal(t, store.MissedOne, got.Missed)
	assert.True(t, got.CreatedAt.Equal(Start), "stamped by the store's clock")
	assert.Zero(t, got.LastTick)
	assert.Empty(t, got.LastRun)

	other := store.Schedule{Name: "a-weekly", Pipeline: pipeB, Spec: "0 9 * * MON", TimeZone: "Europe/Berlin", Missed: store.MissedSkip, Next: tick.Add(48 * time.Hour)}
	_, err = h.s.PutSchedule(h.ctx, other)
	require.NoError(t, err)

	h.clock.Advance(time.Minute)
	again := hourly("b-hourly", pipeA, tick.Add(time.Hour))
	again.Missed = store.MissedAll
	got, err = h.s.PutSchedule(h.ctx, again)
	require.NoError(t, err)
	assert.True(t, got.Next.Equal(tick), "same spec and zone: the tick due is kept, not the caller's %v", got.Next)
	assert.Equal(t, store.MissedAll, got.Missed, "the policy is the latest declaration's")
	assert.True(t, got.CreatedAt.Equal(Start))
	assert.True(t, got.UpdatedAt.Equal(Start.Add(time.Minute)))

	all, err := h.s.Schedules(h.ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, "a-weekly", all[0].Name, "by name")
	assert.Equal(t, "Europe/Berlin", all[0].TimeZone)
	assert.Equal(t, store.MissedSkip, all[0].Missed)
	assert.True(t, all[0].Next.Equal(other.Next))
	assert.Equal(t, "b-hourly", all[1].Name)
	mine, err := h.s.Schedules(h.ctx, pipeA)
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, "b-hourly", mine[0].Name)
	none, err := h.s.Schedules(h.ctx, "nobody")
	require.NoError(t, err)
	assert.NotNil(t, none)
	assert.Empty(t, none)

	for _, change := range []func(*store.Schedule){
		func(s *store.Schedule) { s.Spec = "30 * * * *" },
		func(s *store.Schedule) { s.TimeZone = "America/New_York" },
		func(s *store.Schedule) { s.Pipeline = pipeB },
	} {
		s := hourly("b-hourly", pipeA, tick.Add(time.Hour))
		change(&s)
		want := s.Next.Add(time.Duration(h.n) * time.Minute)
		h.n++
		s.Next = want
		got, err = h.s.PutSchedule(h.ctx, s)
		require.NoError(t, err)
		assert.True(t, got.Next.Equal(want), "a changed declaration takes the caller's next tick")
		assert.Equal(t, s.Spec, got.Spec)
		assert.Equal(t, s.TimeZone, got.TimeZone)
		assert.Equal(t, s.Pipeline, got.Pipeline)
	}

	for _, bad := range []func(*store.Schedule){
		func(s *store.Schedule) { s.Name = "" },
		func(s *store.Schedule) { s.Pipeline = "" },
		func(s *store.Schedule) { s.Spec = "" },
		func(s *store.Schedule) { s.TimeZone = "" },
		func(s *store.Schedule) { s.Missed = "twice" },
		func(s *store.Schedule) { s.Next = time.Time{} },
	} {
		s := hourly("bad", pipeA, tick)
		bad(&s)
		_, err := h.s.PutSchedule(h.ctx, s)
		assert.ErrorIs(t, err, store.ErrConflict)
	}
	all, err = h.s.Schedules(h.ctx, "")
	require.NoError(t, err)
	assert.Len(t, all, 2, "a refused declaration stores nothing")
}

// AdvanceSchedule is a compare-and-set of the next tick: it moves only from
// the tick the caller read, so of two workers that fired the same tick one
// advances it. A delete removes the schedule.
func testScheduleAdvance(t *testing.T, h *harness) {
	tick := Start.Truncate(time.Hour).Add(time.Hour)
	_, err := h.s.PutSchedule(h.ctx, hourly("hourly", pipeA, tick))
	require.NoError(t, err)

	ok, err := h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick.Add(-time.Hour), Next: tick.Add(time.Hour)})
	require.NoError(t, err)
	assert.False(t, ok, "not from the tick due")

	h.clock.Advance(time.Hour)
	ok, err = h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick, Next: tick.Add(time.Hour), LastTick: tick, LastRun: "run-1", Skipped: 2})
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick, Next: tick.Add(time.Hour), LastTick: tick, LastRun: "run-2"})
	require.NoError(t, err)
	assert.False(t, ok, "a second advance from the same tick loses")

	got := h.schedule("hourly")
	assert.True(t, got.Next.Equal(tick.Add(time.Hour)))
	assert.True(t, got.LastTick.Equal(tick))
	assert.Equal(t, time.UTC, got.LastTick.Location())
	assert.Equal(t, "run-1", got.LastRun)
	assert.Equal(t, 2, got.Skipped)
	assert.True(t, got.UpdatedAt.Equal(h.clock.Now()))

	// A skip advances without a run: the last run stays, the count grows.
	ok, err = h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick.Add(time.Hour), Next: tick.Add(5 * time.Hour), Skipped: 3})
	require.NoError(t, err)
	assert.True(t, ok)
	got = h.schedule("hourly")
	assert.True(t, got.Next.Equal(tick.Add(5*time.Hour)))
	assert.True(t, got.LastTick.Equal(tick))
	assert.Equal(t, "run-1", got.LastRun)
	assert.Equal(t, 5, got.Skipped)

	// A new declaration of the same schedule keeps what the ticks did.
	got, err = h.s.PutSchedule(h.ctx, hourly("hourly", pipeA, tick))
	require.NoError(t, err)
	assert.True(t, got.Next.Equal(tick.Add(5*time.Hour)))
	assert.Equal(t, "run-1", got.LastRun)
	assert.Equal(t, 5, got.Skipped)

	_, err = h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "nope", From: tick, Next: tick})
	assert.ErrorIs(t, err, store.ErrNotFound)

	was, err := h.s.DeleteSchedule(h.ctx, "hourly")
	require.NoError(t, err)
	assert.True(t, was)
	was, err = h.s.DeleteSchedule(h.ctx, "hourly")
	require.NoError(t, err)
	assert.False(t, was)
	_, err = h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick.Add(5 * time.Hour), Next: tick.Add(6 * time.Hour)})
	assert.ErrorIs(t, err, store.ErrNotFound)
	all, err := h.s.Schedules(h.ctx, "")
	require.NoError(t, err)
	assert.Empty(t, all)
}

// Workers firing the same ticks at once each enqueue under the tick's
// idempotency key and then advance by compare-and-set: every tick has
// exactly one run, and exactly one advance from it succeeds.
func testScheduleFiredOnce(t *testing.T, h *harness) {
	const workers, ticks = 8, 6
	first := Start.Truncate(time.Hour).Add(time.Hour)
	_, err := h.s.PutSchedule(h.ctx, hourly("hourly", pipeA, first))
	require.NoError(t, err)
	var mu sync.Mutex
	created := map[string]int{}
	advanced := map[time.Time]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ticks * 3 {
				all, err := h.s.Schedules(h.ctx, pipeA)
				if !assert.NoError(t, err) || !assert.Len(t, all, 1) {
					return
				}
				sc := all[0]
				if !sc.Next.Before(first.Add(ticks * time.Hour)) {
					return
				}
				tick := sc.Next
				r, c, err := h.s.Enqueue(h.ctx, store.NewRun{
					ID: fmt.Sprintf("w%d-%d", w, tick.Unix()), Pipeline: pipeA, Input: json.RawMessage(`{}`),
					IdempotencyKey: store.ScheduleKey("hourly", tick),
					Trigger:        step.Trigger{Source: store.ScheduleSource("hourly"), ExternalID: store.ScheduleTick(tick)},
				})
				if !assert.NoError(t, err) {
					return
				}
				ok, err := h.s.AdvanceSchedule(h.ctx, store.ScheduleAdvance{Name: "hourly", From: tick, Next: tick.Add(time.Hour), LastTick: tick, LastRun: r.ID})
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				if c {
					created[store.ScheduleTick(tick)]++
				}
				if ok {
					advanced[tick]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, created, ticks)
	for tick, n := range created {
		assert.Equal(t, 1, n, "tick %s enqueued once", tick)
		page, err := h.s.ListRuns(h.ctx, store.RunFilter{IdempotencyKey: "schedule:hourly:" + tick})
		require.NoError(t, err)
		require.Len(t, page.Runs, 1)
		assert.Equal(t, "schedule:hourly", page.Runs[0].Trigger.Source)
		assert.Equal(t, tick, page.Runs[0].Trigger.ExternalID)
	}
	require.Len(t, advanced, ticks)
	for tick, n := range advanced {
		assert.Equal(t, 1, n, "tick %v advanced once", tick)
	}
	got := h.schedule("hourly")
	last := first.Add((ticks - 1) * time.Hour)
	assert.True(t, got.Next.Equal(last.Add(time.Hour)))
	assert.True(t, got.LastTick.Equal(last))
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{IdempotencyKey: store.ScheduleKey("hourly", last)})
	require.NoError(t, err)
	assert.Equal(t, page.Runs[0].ID, got.LastRun, "the last run is the tick's one run")
}

func (h *harness) schedule(name string) store.Schedule {
	h.t.Helper()
	all, err := h.s.Schedules(h.ctx, "")
	require.NoError(h.t, err)
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	h.t.Fatalf("no schedule %q", name)
	return store.Schedule{}
}
