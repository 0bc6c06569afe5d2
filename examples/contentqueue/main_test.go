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
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func testOptions(t *testing.T) options {
	return options{db: filepath.Join(t.TempDir(), "contentqueue.db"), posts: 30, seed: 1, concurrency: 4, log: io.Discard}
}

func TestEveryPostEndsInOneStateAndNothingBrokenPassesOn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := testOptions(t)
	var out strings.Builder
	got, err := run(ctx, o, &out)
	require.NoError(t, err)

	assert.Zero(t, got.Unfinished)
	assert.Equal(t, o.posts, got.Scheduled+got.Drafts+got.reviews()+got.deadLetters(), "every post is in exactly one state")
	assert.Positive(t, got.Scheduled, "most posts flow on")
	assert.Positive(t, got.reviews(), "the doubtful ones wait for a person")
	assert.Positive(t, got.Reasked, "broken answers are re-asked")
	assert.Contains(t, out.String(), "go run ./cmd/plumb --db "+o.db+" review list")

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	runsPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	runs := runsPage.Runs
	require.NoError(t, err)
	require.Len(t, runs, o.posts)
	gone := retracted(o.posts, uint64(o.seed))
	byStatus := map[store.Status]int{}
	for _, r := range runs {
		byStatus[r.Status]++
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		var b Brief
		require.NoError(t, json.Unmarshal(d.Run.Input, &b))
		switch r.Status {
		case store.Succeeded:
			assert.False(t, gone[b.Article.ID], "%s links to a retracted article yet was scheduled", b.PostID)
			s, err := contract.Decode[Scheduled](string(r.Output))
			require.NoError(t, err, "run %s: the calendar got a broken post", r.ID)
			day, err := time.Parse(time.DateOnly, s.PublishDate)
			require.NoError(t, err)
			assert.False(t, day.Before(today), "%s is scheduled in the past", b.PostID)
		case store.DeadLettered:
			assert.Equal(t, "schedule", r.Step)
			assert.True(t, gone[b.Article.ID], "only posts of retracted articles are dead-lettered here: %s", r.Error)
		case store.AwaitingReview:
			require.NotNil(t, r.Review)
			if r.Review.Proposed != nil {
				// A proposal a person sees has met its contract too.
				_, err := contract.Decode[Post](string(r.Review.Proposed))
				assert.NoError(t, err, "run %s", r.ID)
			}
		default:
			t.Errorf("run %s ended %s", r.ID, r.Status)
		}
		// What the draft step passed on met the contract, Validate included.
		for _, s := range d.Steps {
			if s.Step == "draft" && s.Status == store.StepSucceeded {
				_, err := contract.Decode[Post](string(s.Output))
				assert.NoError(t, err, "run %s passed on a broken draft", r.ID)
			}
		}
	}
	assert.Equal(t, got.Scheduled+got.Drafts, byStatus[store.Succeeded])
	assert.Equal(t, got.reviews(), byStatus[store.AwaitingReview])
	assert.Equal(t, got.deadLetters(), byStatus[store.DeadLettered])
}

func TestSameSeedSameStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := run(ctx, testOptions(t), io.Discard)
	require.NoError(t, err)
	b, err := run(ctx, testOptions(t), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, counts(a), counts(b))
}

// counts is a tally without its run ids, which are new on every run.
func counts(t *tally) tally {
	c := *t
	c.FirstReview = ""
	c.Review, c.Dead = map[string][]string{}, map[string][]string{}
	for k, v := range t.Review {
		c.Review[k] = make([]string, len(v))
	}
	for k, v := range t.Dead {
		c.Dead[k] = make([]string, len(v))
	}
	return c
}

func TestApprovedPostsGoOnWhenRunAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := testOptions(t)
	first, err := run(ctx, o, io.Discard)
	require.NoError(t, err)
	proposals := append(first.Review[whyLowConfidence], first.Review[whyFlagged]...)
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
	assert.Equal(t, first.Scheduled+first.Drafts+first.deadLetters()+1, second.Scheduled+second.Drafts+second.deadLetters(),
		"the approved post went on; nothing else changed")

	st, err = sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	runsPage, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 1000})
	runs := runsPage.Runs
	require.NoError(t, err)
	assert.Len(t, runs, o.posts, "the second run drafted no post twice")
}
