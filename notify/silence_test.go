package notify_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

func at(hhmm string) time.Time {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		panic(err)
	}
	return time.Date(2026, 11, 27, t.Hour(), t.Minute(), 0, 0, time.UTC)
}

func TestSilenceWatchReportsOncePerSilence(t *testing.T) {
	s := &sink{}
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: retrytest.NewClock(at("00:00"))})
	w.Expect("nightly", 2*time.Hour)
	w.Seen("nightly", at("02:17"))

	require.NoError(t, w.Check(at("04:17")))
	assert.Empty(t, s.got(), "exactly the interval is not yet a silence")

	require.NoError(t, w.Check(at("04:18")))
	require.Len(t, s.got(), 1)
	assert.Equal(t, notify.Event{
		Kind:     notify.Silent,
		Pipeline: "nightly",
		Reason:   "no runs for 2h1m (expected at least one every 2h); last run at 2026-11-27T02:17:00Z",
		At:       at("04:18"),
	}, s.got()[0])

	require.NoError(t, w.Check(at("05:00")))
	assert.Len(t, s.got(), 1, "one event per silence")

	w.Seen("nightly", at("05:10"))
	require.NoError(t, w.Check(at("06:00")))
	assert.Len(t, s.got(), 1, "runs again")
	require.NoError(t, w.Check(at("07:30")))
	require.Len(t, s.got(), 2, "a new silence, a new event")
	assert.Equal(t, "no runs for 2h20m (expected at least one every 2h); last run at 2026-11-27T05:10:00Z", s.got()[1].Reason)
}

func TestSilenceWatchCountsFromExpect(t *testing.T) {
	s := &sink{}
	clock := retrytest.NewClock(at("01:00"))
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: clock})
	w.Expect("new", time.Hour)
	require.NoError(t, w.Check(at("01:59")))
	assert.Empty(t, s.got(), "a new pipeline gets one interval of grace")
	require.NoError(t, w.Check(at("02:01")))
	require.Len(t, s.got(), 1)
	assert.Equal(t, "no runs for 1h1m (expected at least one every 1h); none since watching began at 2026-11-27T01:00:00Z",
		s.got()[0].Reason)
}

func TestSilenceWatchSeed(t *testing.T) {
	s := &sink{}
	// The process restarts at 04:00; the store's last run was at 02:17.
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: retrytest.NewClock(at("04:00"))})
	w.Expect("nightly", 2*time.Hour)
	w.Seed("nightly", at("02:17"))
	require.NoError(t, w.Check(at("04:18")))
	require.Len(t, s.got(), 1, "the restart did not hide the silence")
	assert.Contains(t, s.got()[0].Reason, "last run at 2026-11-27T02:17:00Z")

	// Seed never moves time back past a run seen since.
	w.Seen("nightly", at("04:30"))
	w.Seed("nightly", at("02:17"))
	require.NoError(t, w.Check(at("06:00")))
	assert.Len(t, s.got(), 1)

	w.Seed("other", time.Time{}) // an empty store: ignored
	w.Expect("other", time.Hour)
	require.NoError(t, w.Check(at("04:59")))
	assert.Len(t, s.got(), 1)
}

func TestSilenceWatchIgnoresUnwatchedAndOldRuns(t *testing.T) {
	s := &sink{}
	clock := retrytest.NewClock(at("00:00"))
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: clock})
	w.Seen("adhoc", at("00:00")) // never expected
	w.Expect("a", time.Hour)
	w.Expect("b", time.Hour)
	w.Seen("a", at("00:30"))
	w.Seen("a", at("00:10")) // late arrival of an older run
	w.Expect("b", 0)         // stop watching b

	require.NoError(t, w.Check(at("05:00")))
	require.Len(t, s.got(), 1)
	assert.Equal(t, "a", s.got()[0].Pipeline)
	assert.Contains(t, s.got()[0].Reason, "last run at 2026-11-27T00:30:00Z")
}

func TestSilenceWatchRetriesAFailedEvent(t *testing.T) {
	boom := errors.New("boom")
	s := &sink{err: boom}
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: retrytest.NewClock(at("00:00"))})
	w.Expect("a", time.Hour)
	w.Expect("b", time.Hour)
	assert.ErrorIs(t, w.Check(at("02:00")), boom)
	require.Len(t, s.got(), 2)
	assert.Equal(t, "a", s.got()[0].Pipeline, "in pipeline order")
	assert.Equal(t, "b", s.got()[1].Pipeline)

	s.err = nil
	require.NoError(t, w.Check(at("02:01")))
	assert.Len(t, s.got(), 4, "an unheard silence is told again")
	require.NoError(t, w.Check(at("02:02")))
	assert.Len(t, s.got(), 4)
}

func TestSilenceWatchRun(t *testing.T) {
	s := &sink{ch: make(chan notify.Event, 1)}
	clock := retrytest.NewClock(at("00:00"))
	w := notify.NewSilenceWatch(s, notify.SilenceConfig{Clock: clock})
	w.Expect("a", time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// retrytest.Clock's Sleep returns at once, so time runs ahead check by check.
	go func() { done <- w.Run(ctx, 10*time.Minute) }()
	e := <-s.ch
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Equal(t, at("01:10"), e.At, "the first check past the hour")
	assert.Equal(t, "no runs for 1h10m (expected at least one every 1h); none since watching began at 2026-11-27T00:00:00Z", e.Reason)
}
