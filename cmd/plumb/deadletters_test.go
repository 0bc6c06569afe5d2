package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// poisoned makes the store of a bad morning: 40 leads with no email
// (one cause, one group), 3 leads the model answers wrongly, 2 fine.
func poisoned(t *testing.T) *fixture {
	f := newFixture(t, nil)
	for i := range 40 {
		f.submit(fmt.Sprintf("post-%02d", i), noEmailText)
	}
	for i := range 3 {
		f.submit(fmt.Sprintf("bad-%d", i), badText)
	}
	f.submit("ada-1", adaText)
	f.submit("ada-2", adaText)
	f.drain()
	return f
}

func TestDeadLettersAreGroupedAndReplayedInABatch(t *testing.T) {
	f := poisoned(t)

	t.Run("the 40 runs one cause poisoned are one group", func(t *testing.T) {
		l := decode[letterList](t, f.ok("deadletters", "list", "--json"))
		assert.Equal(t, 43, l.Total)
		assert.False(t, l.Truncated)
		require.Len(t, l.Groups, 2)
		g := l.Groups[0]
		assert.Equal(t, letterGroup{Pipeline: pipelineName, Step: "parse", Class: retry.ClassPermanent, Count: 40},
			letterGroup{Pipeline: g.Pipeline, Step: g.Step, Class: g.Class, Count: g.Count})
		assert.Len(t, g.RunIDs, 40)
		assert.Contains(t, g.SampleError, "has no email address")
		assert.Equal(t, 40, g.Errors, "each message names its lead")
		assert.Equal(t, "classify", l.Groups[1].Step)
		assert.Equal(t, retry.ClassContract, l.Groups[1].Class)
		assert.Equal(t, 3, l.Groups[1].Count)

		text := f.ok("deadletters", "list").stdout
		assert.Contains(t, text, "43 dead-lettered runs in 2 groups")
		assert.Contains(t, text, "leads · step parse · permanent: 40 runs")
		assert.Contains(t, text, "and 34 more")
		assert.Contains(t, text, "plumb --db plumb.db replay --filter --pipeline leads --step parse --class permanent --dry-run")
		assert.Equal(t, 1, strings.Count(text, "· step parse ·"), "one group, not 40 lines")

		only := decode[letterList](t, f.ok("deadletters", "list", "--step", "classify", "--json"))
		require.Len(t, only.Groups, 1)
		assert.Equal(t, 3, only.Total)
	})

	t.Run("show says what to do next", func(t *testing.T) {
		r := f.ok("deadletters", "show", "post-07")
		assert.Contains(t, r.stdout, "dead_lettered at step parse (permanent)")
		assert.Contains(t, r.stdout, "What to do next")
		assert.Contains(t, r.stdout, "plumb --db plumb.db replay post-07 --set /PATH=VALUE")
		assert.Contains(t, r.stdout, "(the input's fields: /id, /text)")
		assert.Contains(t, r.stdout, "39 other runs failed the same way")
		shown := decode[struct {
			Run  store.Run `json:"run"`
			Next []string  `json:"next"`
		}](t, f.ok("deadletters", "show", "post-07", "--json"))
		assert.Equal(t, "post-07", shown.Run.ID)
		assert.Contains(t, shown.Next, "plumb --db plumb.db replay post-07")
	})

	t.Run("a dry run lists and changes nothing", func(t *testing.T) {
		r := f.ok("replay", "--filter", "--step", "classify", "--class", "contract", "--dry-run")
		assert.Contains(t, r.stdout, "3 dead-lettered runs match")
		assert.Contains(t, r.stdout, "Dry run: nothing was replayed")
		assert.Equal(t, store.DeadLettered, f.get("bad-0").Run.Status)

		res := decode[batchResult](t, f.ok("replay", "--filter", "--step", "parse", "--dry-run", "--json"))
		assert.Len(t, res.Matched, 40)
		assert.Empty(t, res.Replayed)
	})

	t.Run("without --yes and without a terminal it refuses", func(t *testing.T) {
		r := f.plumb("replay", "--filter", "--step", "classify")
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, "add --yes")
		assert.Equal(t, store.DeadLettered, f.get("bad-1").Run.Status)
	})

	t.Run("the fix ships; the batch replays with progress, the workers succeed", func(t *testing.T) {
		f.broken.Store(false)
		r := f.ok("replay", "--filter", "--pipeline", pipelineName, "--step", "classify", "--class", "contract", "--yes")
		assert.Contains(t, r.stderr, "[1/3] replayed ")
		assert.Contains(t, r.stderr, "[3/3] replayed ")
		assert.Contains(t, r.stdout, "Replayed 3 of 3 runs")
		assert.NotContains(t, r.stdout, "[1/3]", "progress goes to stderr, data to stdout")
		for i := range 3 {
			assert.Equal(t, store.Queued, f.get(fmt.Sprintf("bad-%d", i)).Run.Status)
		}
		f.drain()
		for i := range 3 {
			d := f.get(fmt.Sprintf("bad-%d", i))
			assert.Equal(t, store.Succeeded, d.Run.Status)
			assert.Equal(t, 2, d.Run.Attempt)
		}
		stats, err := f.st.Stats(context.Background(), pipelineName, 0)
		require.NoError(t, err)
		assert.Equal(t, 3, stats[0].Recoveries)
		l := decode[letterList](t, f.ok("deadletters", "list", "--json"))
		assert.Equal(t, 40, l.Total)
	})

	t.Run("a batch with nothing to replay", func(t *testing.T) {
		r := f.ok("replay", "--filter", "--step", "classify", "--yes")
		assert.Contains(t, r.stdout, "No dead-lettered runs match.")
	})
}
