package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

func TestReview(t *testing.T) {
	f := newFixture(t, nil)
	edited := f.run("edited", unsureText)
	rejected := f.run("rejected", unsureText)
	proposed := f.run("proposed", unsureText)
	done := f.run("done", adaText)
	require.Equal(t, store.AwaitingReview, f.get(edited).Run.Status)
	write := func(name, body string) string {
		p := filepath.Join(f.dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return name
	}

	t.Run("list and show", func(t *testing.T) {
		runs := decode[[]store.Run](t, f.ok("review", "list", "--json"))
		require.Len(t, runs, 3)
		assert.Equal(t, edited, runs[0].ID, "the longest waiting first")
		text := f.ok("review", "list").stdout
		assert.Contains(t, text, "confidence 0.40 is below 0.5")
		show := f.ok("review", "show", edited).stdout
		assert.Contains(t, show, "Review at step classify")
		assert.Contains(t, show, "decision  pending")
		assert.Contains(t, show, "plumb --db plumb.db review approve edited --edit FILE")
	})

	t.Run("an edit that breaks the contract is refused with its violations", func(t *testing.T) {
		bad := write("bad.json", `{"lead":{"id":"edited","name":"Unsure Person","email":"unsure@example.com"},"label":{"stage":"Hot!!","confidence":0.9}}`)
		r := f.plumb("review", "approve", edited, "--edit", bad)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "the edited output breaks the contract of step classify; nothing was approved")
		assert.Contains(t, r.stderr, "  /label/stage: ")
		assert.Equal(t, store.AwaitingReview, f.get(edited).Run.Status)
	})

	t.Run("an edit's changes are about the output", func(t *testing.T) {
		whole := write("whole.json", `[]`)
		r := f.plumb("review", "approve", edited, "--edit", whole)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stdout, "  the output: {")
		assert.NotContains(t, r.stdout, "input")
		assert.Equal(t, store.AwaitingReview, f.get(edited).Run.Status)
	})

	t.Run("a good edit is approved and the run resumes", func(t *testing.T) {
		good := write("good.json", `{"lead":{"id":"edited","name":"Unsure Person","email":"unsure@example.com"},"label":{"stage":"warm","confidence":0.9}}`)
		r := f.ok("review", "approve", edited, "--edit", good, "--as", "ana@example.com")
		assert.Contains(t, r.stdout, "/label/stage: \"new\" → \"warm\"")
		assert.Contains(t, r.stdout, "Approved run edited at step classify with your edit, as ana@example.com")
		f.drain()
		d := f.get(edited)
		require.Equal(t, store.Succeeded, d.Run.Status)
		require.NotNil(t, d.Run.Review.Decision)
		assert.Equal(t, "ana@example.com", d.Run.Review.Decision.Reviewer)
		assert.True(t, d.Run.Review.Decision.Edited)
	})

	t.Run("a decision on a review that is not the run's is stale: exit 5, nothing decided", func(t *testing.T) {
		ref := f.get(proposed).Run.ReviewRef()
		assert.Contains(t, f.ok("review", "show", proposed).stdout, "--review "+ref.String())
		stale := store.ReviewRef{Attempt: ref.Attempt, Index: ref.Index + 1}
		r := f.plumb("review", "approve", proposed, "--review", stale.String())
		assert.Equal(t, exitStaleReview, r.code, r.String())
		assert.Contains(t, r.stderr, "nothing was decided")
		r = f.plumb("review", "reject", proposed, "--reason", "x", "--review", stale.String())
		assert.Equal(t, exitStaleReview, r.code, r.String())
		assert.Nil(t, f.get(proposed).Run.Review.Decision)
		r = f.plumb("review", "approve", proposed, "--review", "one")
		assert.Equal(t, exitUsage, r.code, r.String())
	})

	t.Run("approve as proposed, by default as $USER@hostname", func(t *testing.T) {
		run := decode[store.Run](t, f.ok("review", "approve", proposed, "--json"))
		assert.Equal(t, store.Queued, run.Status)
		assert.Regexp(t, `^tester@`, run.Review.Decision.Reviewer)
		assert.False(t, run.Review.Decision.Edited)
	})

	t.Run("reject needs a reason and dead-letters the run", func(t *testing.T) {
		r := f.plumb("review", "reject", rejected)
		assert.Equal(t, exitUsage, r.code, r.String())
		r = f.ok("review", "reject", rejected, "--reason", "a competitor fishing for prices")
		assert.Contains(t, r.stdout, "Rejected run rejected at step classify")
		d := f.get(rejected)
		assert.Equal(t, store.DeadLettered, d.Run.Status)
		assert.Equal(t, retry.ClassNeedsReview, d.Run.Class)
		assert.Contains(t, d.Run.Error, "a competitor fishing for prices")
	})

	t.Run("a run that awaits no review", func(t *testing.T) {
		r := f.plumb("review", "approve", done)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "run done is succeeded, not awaiting review")
		r = f.plumb("review", "approve", "nope")
		assert.Equal(t, exitNotFound, r.code, r.String())
		assert.Empty(t, decode[[]store.Run](t, f.ok("review", "list", "--json")))
	})
}

func TestRunsListSaysHowManyMore(t *testing.T) {
	f := newFixture(t, nil)
	var ids []string
	for _, id := range []string{"a1", "a2", "a3", "a4"} {
		ids = append(ids, f.run(id, adaText))
	}
	r := f.ok("runs", "list", "--limit", "1")
	assert.Contains(t, r.stderr, "… 3 more; see them with --before "+ids[3])
	r = f.ok("runs", "list", "--limit", "2", "--before", ids[3])
	assert.Contains(t, r.stderr, "… 1 more; see them with --before "+ids[1])
	r = f.ok("runs", "list", "--limit", "4")
	assert.NotContains(t, r.stderr, "more")
}
