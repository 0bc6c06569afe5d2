package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// The schedule cases run on SQLite and on PostgreSQL.

func TestSchedules(t *testing.T) { schedulesCases(t, newFixture(t, nil)) }

func TestSchedulesOnPostgres(t *testing.T) { schedulesCases(t, newPostgresFixture(t)) }

func schedulesCases(t *testing.T, f *fixture) {
	ctx := context.Background()
	r := f.ok("schedules")
	assert.Contains(t, r.stdout, "No schedules.")
	assert.Equal(t, "[]\n", f.ok("schedules", "--json").stdout)

	// A weekly report in Berlin that ran last Monday, and an hourly
	// schedule nobody fires any more.
	monday := nextWeekday(time.Now().UTC(), time.Monday)
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	due := time.Date(monday.Year(), monday.Month(), monday.Day(), 9, 0, 0, 0, berlin)
	_, err = f.st.PutSchedule(ctx, store.Schedule{Name: "weekly-report", Pipeline: pipelineName, Spec: "0 9 * * MON",
		TimeZone: "Europe/Berlin", Missed: store.MissedOne, Next: due.AddDate(0, 0, -7)})
	require.NoError(t, err)
	last := f.run("", adaText)
	ok, err := f.st.AdvanceSchedule(ctx, store.ScheduleAdvance{Name: "weekly-report", From: due.AddDate(0, 0, -7), Next: due,
		LastTick: due.AddDate(0, 0, -7), LastRun: last, Skipped: 2})
	require.NoError(t, err)
	require.True(t, ok)
	stale := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	_, err = f.st.PutSchedule(ctx, store.Schedule{Name: "hourly-sync", Pipeline: "sync", Spec: "0 * * * *",
		TimeZone: "UTC", Missed: store.MissedSkip, Next: stale})
	require.NoError(t, err)

	views := decode[[]scheduleView](t, f.ok("schedules", "--json"))
	require.Len(t, views, 2)
	hs, wr := views[0], views[1]
	assert.Equal(t, "hourly-sync", hs.Name, "by name")
	assert.True(t, hs.Overdue)
	assert.Empty(t, hs.LastRun)
	require.Len(t, hs.NextTicks, 3)
	assert.Equal(t, store.ScheduleTick(stale), hs.NextTicks[0].UTC, "the tick due first")
	assert.Equal(t, store.ScheduleTick(stale.Add(time.Hour)), hs.NextTicks[1].UTC)

	assert.Equal(t, "weekly-report", wr.Name)
	assert.Equal(t, pipelineName, wr.Pipeline)
	assert.Equal(t, "0 9 * * MON", wr.Spec)
	assert.Equal(t, "Europe/Berlin", wr.TimeZone)
	assert.Equal(t, store.MissedOne, wr.Missed)
	assert.False(t, wr.Overdue)
	assert.Equal(t, last, wr.LastRun)
	assert.Equal(t, "succeeded", wr.LastRunStatus)
	assert.Equal(t, 2, wr.Skipped)
	require.Len(t, wr.NextTicks, 3)
	for i, tk := range wr.NextTicks {
		want := due.AddDate(0, 0, 7*i)
		assert.Equal(t, want.Format(time.RFC3339), tk.Local, "in its zone")
		assert.Equal(t, store.ScheduleTick(want), tk.UTC)
	}

	text := f.ok("schedules").stdout
	assert.Contains(t, text, "weekly-report  (pipeline leads)\n  spec     0 9 * * MON in Europe/Berlin, missed ticks: one\n")
	assert.Contains(t, text, "  next     "+due.Format("Mon 2006-01-02 15:04 MST")+"  = "+fmtTime(due)+"\n")
	assert.Contains(t, text, "  last     tick "+fmtTime(due.AddDate(0, 0, -7))+": run "+last+", succeeded\n")
	assert.Contains(t, text, "  skipped  2 missed ticks not run (policy one)\n")
	assert.Contains(t, text, "hourly-sync  (pipeline sync)\n")
	assert.Contains(t, text, "  OVERDUE  its tick of "+fmtTime(stale)+" passed ")
	assert.Contains(t, text, "schedules delete hourly-sync)\n")
	assert.Contains(t, text, "  last     no tick has run yet\n")

	one := decode[[]scheduleView](t, f.ok("schedules", "list", "--pipeline", pipelineName, "--ticks", "1", "--json"))
	require.Len(t, one, 1)
	assert.Equal(t, "weekly-report", one[0].Name)
	assert.Len(t, one[0].NextTicks, 1)
	assert.Equal(t, exitNotFound, f.plumb("schedules", "--pipeline", "laeds").code)
	assert.Equal(t, exitUsage, f.plumb("schedules", "--ticks", "0").code)
	assert.Equal(t, exitUsage, f.plumb("schedules", "nope").code)

	r = f.ok("schedules", "delete", "hourly-sync")
	assert.Contains(t, r.stdout, "Deleted schedule hourly-sync (pipeline sync, \"0 * * * *\" in UTC): its ticks stop")
	r = f.plumb("schedules", "delete", "hourly-sync")
	assert.Equal(t, exitNotFound, r.code, r.String())
	assert.Contains(t, r.stderr, `no schedule "hourly-sync" in `)
	assert.Contains(t, r.stderr, "the schedules there: weekly-report")
	all, err := f.st.Schedules(ctx, "")
	require.NoError(t, err)
	require.Len(t, all, 1)
	assert.Equal(t, exitUsage, f.plumb("schedules", "delete").code)
}

// nextWeekday is the first day after t that is a d.
func nextWeekday(t time.Time, d time.Weekday) time.Time {
	t = t.AddDate(0, 0, 1)
	for t.Weekday() != d {
		t = t.AddDate(0, 0, 1)
	}
	return t
}
