package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/store"
)

// goldenStore runs four leads through the pipeline on a fixed clock with
// fixed run ids, so that their records, and so their timelines, are the
// same on every run of the test.
func goldenStore(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	clock := retrytest.NewClock(goldenStart)
	f := newFixture(t, clock)
	f.run("run-ok", adaText)
	clock.Advance(time.Minute)
	f.run("run-dead", badText)
	clock.Advance(time.Minute)
	f.run("run-replayed", badText)
	clock.Advance(10 * time.Minute)
	f.broken.Store(false) // the fix ships
	_, err := store.ReplayRun(ctx, f.st, store.ReplayRequest{RunID: "run-replayed", Reason: "replay from classify by ana@example.com"})
	require.NoError(t, err)
	f.drain()
	clock.Advance(time.Minute)
	f.run("run-review", unsureText)
	clock.Advance(5 * time.Minute)
	edit := json.RawMessage(`{"lead":{"id":"run-review","name":"Unsure Person","email":"unsure@example.com"},"label":{"stage":"warm","confidence":0.9}}`)
	ref, err := store.CurrentReview(ctx, f.st, "run-review")
	require.NoError(t, err)
	_, err = store.Approve(ctx, f.st, "run-review", ref, "ana@example.com", edit)
	require.NoError(t, err)
	f.drain()
	return f
}

func TestRunsShowGolden(t *testing.T) {
	f := goldenStore(t)
	for _, id := range []string{"run-ok", "run-replayed", "run-review"} {
		t.Run(id, func(t *testing.T) {
			r := f.ok("runs", "show", id)
			golden(t, "show_"+id+".golden", r.stdout)
		})
	}
	t.Run("deadletters show", func(t *testing.T) {
		r := f.ok("deadletters", "show", "run-dead")
		golden(t, "deadletters_show_run-dead.golden", r.stdout)
	})
	t.Run("full lifts the limits", func(t *testing.T) {
		cut := f.ok("runs", "show", "run-dead")
		assert.Contains(t, cut.stdout, "--full shows everything", "the long raw answer is cut")
		full := f.ok("runs", "show", "run-dead", "--full")
		assert.NotContains(t, full.stdout, "--full shows everything")
		assert.Contains(t, full.stdout, "Consideration 24")
	})
	t.Run("json", func(t *testing.T) {
		d := decode[store.RunDetail](t, f.ok("runs", "show", "run-replayed", "--json"))
		assert.Equal(t, store.Succeeded, d.Run.Status)
		require.Len(t, d.Attempts, 2)
		assert.Equal(t, store.DeadLettered, d.Attempts[0].Status)
	})
}

// A run whose input lost invalid UTF-8 to U+FFFD says so; one that lost
// nothing says nothing.
func TestRunsShowNotesReplacedInput(t *testing.T) {
	f := newFixture(t, retrytest.NewClock(goldenStart))
	f.run("run-utf8", "Caf\xe9 Owner <cafe@example.com>")
	f.run("run-clean", adaText)
	assert.Contains(t, f.ok("runs", "show", "run-utf8").stdout,
		"\n  input     1 invalid UTF-8 byte was replaced with U+FFFD when it was submitted\n")
	assert.NotContains(t, f.ok("runs", "show", "run-clean").stdout, "invalid UTF-8")
}
