package crontab

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func utcs(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	return out
}

func TestParseRefusals(t *testing.T) {
	for _, c := range []struct{ spec, zone, want string }{
		{"", "UTC", "needs a cron spec"},
		{"   ", "UTC", "needs a cron spec"},
		{"CRON_TZ=Europe/Berlin 0 9 * * *", "", "names its zone"},
		{"TZ=Europe/Berlin 0 9 * * *", "", "names its zone"},
		{"CRON_TZ=Europe/Berlin", "", "names its zone"},
		{"0 9 * *", "UTC", "not valid"},
		{"0 9 * * * *", "UTC", "not valid"},
		{"61 9 * * *", "UTC", "not valid"},
		{"0 9 * * FUNDAY", "UTC", "not valid"},
		{"@fortnightly", "UTC", "not valid"},
		{"@every", "UTC", "not valid"},
		{"@every soon", "UTC", "not valid"},
		{"0 0 30 2 *", "UTC", "never fires"},
		{"0 9 * * *", "Europe/Atlantis", "time zone \"Europe/Atlantis\""},
		{"0 9 * * *", "Local", "differs from host to host"},
	} {
		_, err := Parse(c.spec, c.zone)
		if assert.Error(t, err, "%q in %q", c.spec, c.zone) {
			assert.Contains(t, err.Error(), c.want, "%q in %q", c.spec, c.zone)
		}
	}
}

func TestParseReadsTheSpecInItsZone(t *testing.T) {
	s, err := Parse(" 0 9 * * MON ", "Europe/Berlin")
	require.NoError(t, err)
	assert.Equal(t, "0 9 * * MON", s.Spec())
	assert.Equal(t, "Europe/Berlin", s.Location().String())
	// Friday 27 November 2026, 02:17 UTC: the next Monday 09:00 in Berlin
	// (CET, UTC+1) is 08:00 UTC.
	next := s.Next(utc("2026-11-27T02:17:00Z"))
	assert.Equal(t, "2026-11-30T08:00:00Z", next.UTC().Format(time.RFC3339))
	assert.Equal(t, "Europe/Berlin", next.Location().String(), "ticks come in the schedule's zone")

	def, err := Parse("@daily", "")
	require.NoError(t, err)
	assert.Equal(t, "UTC", def.Location().String(), "no zone is UTC, never the host's")
	assert.Equal(t, []string{"2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"}, utcs(def.Ticks(utc("2026-11-27T02:17:00Z"), 2)))

	every, err := Parse("@every 90m", "America/New_York")
	require.NoError(t, err)
	assert.Equal(t, []string{"2026-11-27T03:47:00Z", "2026-11-27T05:17:00Z"}, utcs(every.Ticks(utc("2026-11-27T02:17:00Z"), 2)))
}

// DST as robfig/cron documents it: a wall time that a spring-forward gap
// skips does not fire that day; one that a fall-back overlap repeats fires
// twice, an hour apart.
func TestDaylightSavingTime(t *testing.T) {
	berlin, err := Parse("30 2 * * *", "Europe/Berlin")
	require.NoError(t, err)
	// 28 March 2027: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
	assert.Equal(t, []string{"2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z"}, utcs(berlin.Ticks(utc("2027-03-26T12:00:00Z"), 2)))
	// 31 October 2027: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
	assert.Equal(t, []string{"2027-10-30T00:30:00Z", "2027-10-31T00:30:00Z", "2027-10-31T01:30:00Z", "2027-11-01T01:30:00Z"},
		utcs(berlin.Ticks(utc("2027-10-29T12:00:00Z"), 4)))

	hourly, err := Parse("0 * * * *", "Europe/Berlin")
	require.NoError(t, err)
	assert.Equal(t, []string{"2027-03-28T00:00:00Z", "2027-03-28T01:00:00Z", "2027-03-28T02:00:00Z"},
		utcs(hourly.Ticks(utc("2027-03-27T23:30:00Z"), 3)), "every real hour once across the gap")
	nine, err := Parse("0 9 * * MON", "Europe/Berlin")
	require.NoError(t, err)
	assert.Equal(t, []string{"2027-03-22T08:00:00Z", "2027-03-29T07:00:00Z"}, utcs(nine.Ticks(utc("2027-03-20T00:00:00Z"), 2)),
		"09:00 on the wall clock, whatever the offset")

	ny, err := Parse("0 9 * * *", "America/New_York")
	require.NoError(t, err)
	// 14 March 2027: EST (UTC-5) becomes EDT (UTC-4).
	assert.Equal(t, []string{"2027-03-13T14:00:00Z", "2027-03-14T13:00:00Z"}, utcs(ny.Ticks(utc("2027-03-13T00:00:00Z"), 2)))
	nyNight, err := Parse("30 1 * * *", "America/New_York")
	require.NoError(t, err)
	// 7 November 2027: 01:30 happens twice.
	assert.Equal(t, []string{"2027-11-07T05:30:00Z", "2027-11-07T06:30:00Z", "2027-11-08T06:30:00Z"},
		utcs(nyNight.Ticks(utc("2027-11-06T12:00:00Z"), 3)))
}

func TestPlanPolicies(t *testing.T) {
	hourly, err := Parse("0 * * * *", "UTC")
	require.NoError(t, err)
	next := utc("2026-11-27T03:00:00Z")

	p := hourly.Plan(next, utc("2026-11-27T02:59:59Z"), store.MissedOne, time.Minute, 100)
	assert.Empty(t, p.Run, "nothing due")
	assert.Equal(t, next, p.Next)

	for _, m := range []store.Missed{store.MissedOne, store.MissedAll, store.MissedSkip} {
		p = hourly.Plan(next, utc("2026-11-27T03:00:20Z"), m, time.Minute, 100)
		assert.Equal(t, []string{"2026-11-27T03:00:00Z"}, utcs(p.Run), "%s: a tick on time runs under every policy", m)
		assert.Zero(t, p.Skipped)
		assert.Equal(t, "2026-11-27T04:00:00Z", p.Next.UTC().Format(time.RFC3339))
	}

	// Down from 02:17 to 08:30: ticks 03:00 to 08:00 were missed.
	now := utc("2026-11-27T08:30:00Z")
	p = hourly.Plan(next, now, store.MissedOne, time.Minute, 100)
	assert.Equal(t, []string{"2026-11-27T08:00:00Z"}, utcs(p.Run), "the latest missed tick")
	assert.Equal(t, 5, p.Skipped)
	assert.True(t, p.Counted)
	assert.Equal(t, "2026-11-27T09:00:00Z", p.Next.UTC().Format(time.RFC3339))

	p = hourly.Plan(next, now, store.MissedAll, time.Minute, 100)
	assert.Equal(t, []string{"2026-11-27T03:00:00Z", "2026-11-27T04:00:00Z", "2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z",
		"2026-11-27T07:00:00Z", "2026-11-27T08:00:00Z"}, utcs(p.Run), "every missed tick, oldest first")
	assert.Zero(t, p.Skipped)

	p = hourly.Plan(next, now, store.MissedAll, time.Minute, 4)
	assert.Equal(t, []string{"2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z", "2026-11-27T07:00:00Z", "2026-11-27T08:00:00Z"}, utcs(p.Run),
		"past the bound, the latest ones")
	assert.Equal(t, 2, p.Skipped)

	p = hourly.Plan(next, now, store.MissedSkip, time.Minute, 100)
	assert.Empty(t, p.Run)
	assert.Equal(t, 6, p.Skipped)
	assert.Equal(t, "2026-11-27T09:00:00Z", p.Next.UTC().Format(time.RFC3339))

	// Back at 08:00:30: the 08:00 tick is on time; the older ones missed.
	now = utc("2026-11-27T08:00:30Z")
	p = hourly.Plan(next, now, store.MissedSkip, time.Minute, 100)
	assert.Equal(t, []string{"2026-11-27T08:00:00Z"}, utcs(p.Run))
	assert.Equal(t, 5, p.Skipped)
	p = hourly.Plan(next, now, store.MissedOne, time.Minute, 100)
	assert.Equal(t, []string{"2026-11-27T08:00:00Z"}, utcs(p.Run))
	assert.Equal(t, 5, p.Skipped)
}

// An @every schedule's missed ticks are counted, not walked: a year of
// seconds plans at once.
func TestPlanEvery(t *testing.T) {
	s, err := Parse("@every 1s", "UTC")
	require.NoError(t, err)
	next := utc("2026-01-01T00:00:00Z")
	now := utc("2027-01-01T00:00:00Z")
	p := s.Plan(next, now, store.MissedAll, time.Minute, 3)
	assert.Equal(t, []string{"2026-12-31T23:59:58Z", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"}, utcs(p.Run))
	assert.Equal(t, 365*24*3600+1-3, p.Skipped)
	assert.True(t, p.Counted)
	assert.Equal(t, "2027-01-01T00:00:01Z", p.Next.UTC().Format(time.RFC3339))
	p = s.Plan(next, now, store.MissedSkip, 1500*time.Millisecond, 100)
	assert.Equal(t, []string{"2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z"}, utcs(p.Run), "the ticks within the grace are on time")
}

// A minute's spec down for longer than the walk's bound is counted up to
// there (Counted false), and still runs its latest tick.
func TestPlanLongOutage(t *testing.T) {
	defer func(n int) { maxWalk = n }(maxWalk)
	maxWalk = 50_000 // a month of minutes
	s, err := Parse("* * * * *", "UTC")
	require.NoError(t, err)
	next := utc("2024-01-01T00:00:00Z")
	now := utc("2026-11-27T02:17:30Z")
	p := s.Plan(next, now, store.MissedOne, time.Second, 100)
	assert.Equal(t, []string{"2026-11-27T02:17:00Z"}, utcs(p.Run))
	assert.False(t, p.Counted)
	assert.GreaterOrEqual(t, p.Skipped, maxWalk)
	p = s.Plan(next, now, store.MissedAll, time.Second, 2)
	assert.Equal(t, []string{"2026-11-27T02:16:00Z", "2026-11-27T02:17:00Z"}, utcs(p.Run))
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 9 * * MON", "@every 1h", "@weekly", "*/5 1-3 1,15 JAN-MAR SUN", "CRON_TZ=UTC 0 0 * * *", "0 0 30 2 *", "? ? ? ? ?", "1-0/0 * * * *"} {
		f.Add(s, "UTC")
	}
	f.Add("0 9 * * *", "Europe/Berlin")
	f.Fuzz(func(t *testing.T, spec, zone string) {
		s, err := Parse(spec, zone)
		if err != nil {
			return
		}
		from := utc("2026-11-27T02:17:00Z")
		ticks := s.Ticks(from, 3)
		for i, tk := range ticks {
			if !tk.After(from) {
				t.Fatalf("%q: tick %d %v is not after %v", spec, i, tk, from)
			}
			from = tk
		}
		_ = s.Plan(utc("2026-11-27T02:17:00Z"), utc("2026-11-28T02:17:00Z"), store.MissedAll, time.Minute, 10)
	})
}
