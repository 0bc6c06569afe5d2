package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func testOptions(t *testing.T) options {
	return options{db: filepath.Join(t.TempDir(), "contentqueue.db"), articles: 12, seed: 1, concurrency: 4, log: io.Discard}
}

func open(t *testing.T, db string) *sqlitestore.Store {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	return st
}

// The one broken post dead-letters alone while its siblings publish; the
// example patches it and replays it alone, and its article's join then
// completes.
func TestTheBrokenPostDeadLettersAloneAndItsReplayCompletesTheArticle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	o := testOptions(t)
	var out strings.Builder
	got, err := run(ctx, o, &out)
	require.NoError(t, err)
	broken := overlong(o.articles, uint64(o.seed))
	require.NotEmpty(t, broken)
	brokenPost := postID(broken, "x")
	assert.Equal(t, []string{brokenPost}, got.DeadBefore, "exactly one post was dead-lettered")
	assert.Equal(t, []string{brokenPost}, got.Recovered)

	st := open(t, o.db)
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	require.NoError(t, err)
	require.Len(t, page.Runs, o.articles)
	var article *store.Run
	for _, r := range page.Runs {
		if r.Trigger.ExternalID == broken {
			article = &r
		}
	}
	require.NotNil(t, article)

	// The article: dead-lettered at its join, then replayed from it by the
	// store when its post recovered, and shared.
	a, err := st.GetRun(ctx, article.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, a.Run.Status)
	require.Len(t, a.Attempts, 2)
	assert.Equal(t, store.DeadLettered, a.Attempts[0].Status)
	assert.Equal(t, "posts", a.Attempts[0].Step)
	child := store.BranchID(article.ID, 1, 0)
	assert.Contains(t, a.Attempts[0].Error, "branch run "+child)
	assert.Contains(t, a.Attempts[1].Reason, child)
	shared, err := contract.Decode[Shared](string(a.Run.Output))
	require.NoError(t, err)
	assert.Len(t, shared.Posts, len(channels), "marked shared with every post")

	// Its posts: the broken one dead-lettered at format, then replayed
	// alone with its text patched; its siblings ran once.
	branches, err := st.Branches(ctx, store.BranchQuery{Parent: article.ID})
	require.NoError(t, err)
	require.Len(t, branches, len(channels))
	for _, b := range branches {
		assert.Equal(t, store.Succeeded, b.Status, b.RunID)
		assert.Equal(t, postPipeline, b.Pipeline)
		if b.RunID != child {
			assert.Equal(t, 1, b.Attempt, "sibling %s ran once", b.RunID)
		}
	}
	c, err := st.GetRun(ctx, child)
	require.NoError(t, err)
	require.Len(t, c.Attempts, 2)
	assert.Equal(t, store.DeadLettered, c.Attempts[0].Status)
	assert.Equal(t, "format", c.Attempts[0].Step)
	assert.Equal(t, retry.ClassContract, c.Attempts[0].Class)
	assert.Contains(t, c.Attempts[1].Reason, "text cut to fit x")
	var patched Post
	require.NoError(t, json.Unmarshal(c.Run.Input, &patched))
	assert.LessOrEqual(t, len([]rune(patched.Draft.Text)), room(patched.Draft))

	// The summary prints the tree and the recovery.
	s := out.String()
	assert.Contains(t, s, "Recovery: ")
	assert.Contains(t, s, "the store replayed article "+broken+" from its join, which completed")
	assert.Contains(t, s, "The tree: each article is a run")
	assert.Contains(t, s, "├ "+brokenPost)
	assert.Contains(t, s, "x scheduled after a replay")
}

func TestEveryArticleEndsInOneStateAndNothingBrokenIsPublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	o := testOptions(t)
	got, err := run(ctx, o, io.Discard)
	require.NoError(t, err)

	assert.Zero(t, got.Unfinished)
	assert.Equal(t, o.articles, got.Shared+got.reviews()+got.deadLetters(), "every article is in exactly one state")
	assert.Positive(t, got.Shared)
	assert.Positive(t, got.reviews(), "the doubtful articles wait for a person")
	assert.Positive(t, got.Reasked, "broken answers are re-asked")
	assert.Equal(t, got.Shared*len(channels), got.Posts[store.Succeeded], "only the posts of shared articles, every one")

	st := open(t, o.db)
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: postPipeline, Limit: 1000})
	require.NoError(t, err)
	for _, r := range page.Runs {
		require.NotNil(t, r.Parent, "a post runs as its article's branch")
		assert.Equal(t, store.Succeeded, r.Status, r.ID)
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		for _, s := range d.Steps {
			if s.Step == "format" && s.Status == store.StepSucceeded {
				_, err := contract.Decode[Formatted](string(s.Output))
				assert.NoError(t, err, "run %s passed on a post its platform refuses", r.ID)
			}
		}
	}
	reviews, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Status: []store.Status{store.AwaitingReview}})
	require.NoError(t, err)
	for _, r := range reviews.Runs {
		kids, err := st.ListRuns(ctx, store.RunFilter{Parent: r.ID})
		require.NoError(t, err)
		assert.Empty(t, kids.Runs, "no post of an article waiting for a person went out")
	}
}

func TestSameSeedSameStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	a, err := run(ctx, testOptions(t), io.Discard)
	require.NoError(t, err)
	b, err := run(ctx, testOptions(t), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, counts(a), counts(b))
}

// counts is a tally without what differs from one run to the next: run
// ids and the records they are in.
func counts(t *tally) tally {
	c := *t
	c.FirstReview, c.Tree = "", nil
	c.Review, c.Dead = map[string][]string{}, map[string][]string{}
	for k, v := range t.Review {
		c.Review[k] = make([]string, len(v))
	}
	for k, v := range t.Dead {
		c.Dead[k] = make([]string, len(v))
	}
	return c
}

// A person approves, as it is, an article the model flagged; run again, the example
// publishes its posts, and drafts nothing twice.
func TestApprovedArticlesArePublishedWhenRunAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	o := testOptions(t)
	first, err := run(ctx, o, io.Discard)
	require.NoError(t, err)
	proposals := first.Review[whyFlagged]
	require.NotEmpty(t, proposals)

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	ref, err := store.CurrentReview(ctx, st, proposals[0])
	require.NoError(t, err)
	_, err = store.Approve(ctx, st, proposals[0], ref, "editor@example.com", nil)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	second, err := run(ctx, o, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, first.reviews()-1, second.reviews())
	assert.Equal(t, first.Shared+1, second.Shared, "the approved article went on; nothing else changed")
	assert.Equal(t, first.Drafts+len(channels), second.Drafts, "flagged posts approved as they are are kept as drafts")
	assert.Equal(t, first.DeadBefore, second.DeadBefore, "nothing new was dead-lettered, nothing replayed twice")

	page, err := open(t, o.db).ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Runs, o.articles, "the second run drafted no article twice")
}

// testDeadline only stops a test that hangs: it is no performance bound
// (those live in benchmarks), so it is generous enough for a loaded machine
// running the race detector.
const testDeadline = 3 * time.Minute
