package runtext_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/internal/runtext"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

func TestWording(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	assert.Equal(t, "2026-12-03 08:00:00 UTC", runtext.Time(at))
	assert.Equal(t, "-", runtext.Time(time.Time{}))
	for d, want := range map[time.Duration]string{0: "0s", 850 * time.Millisecond: "850ms", 1200 * time.Millisecond: "1.2s",
		184 * time.Second: "3m04s", 2*time.Hour + 5*time.Minute: "2h05m", 76 * time.Hour: "3d04h", -time.Second: "-1.0s"} {
		assert.Equal(t, want, runtext.Dur(d), "%v", d)
	}
	assert.Equal(t, "dead_lettered at step parse (permanent)",
		runtext.State(&store.Run{Status: store.DeadLettered, Step: "parse", Class: retry.ClassPermanent}))
	assert.Equal(t, "cancelled", runtext.State(&store.Run{Status: store.Cancelled, Class: retry.ClassCancelled}), "a cancellation's class goes without saying")
	assert.Equal(t, "running on worker w1, lease until 2026-12-03 08:00:00 UTC",
		runtext.State(&store.Run{Status: store.Running, LeaseOwner: "w1", LeaseExpires: at}))
	a := store.RunAttempt{Status: store.DeadLettered, Step: "parse", Class: retry.ClassPermanent, StartedAt: at, FinishedAt: at.Add(1500 * time.Millisecond)}
	assert.Equal(t, "started 2026-12-03 08:00:00 UTC · ended dead_lettered at step parse (permanent) after 1.5s", runtext.AttemptSpan(&a))
	assert.Equal(t, "tr-2", runtext.FirstTrace(&store.RunDetail{Steps: []store.StepRecord{{}, {TraceID: "tr-2"}}}))
}
