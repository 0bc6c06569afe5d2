package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func testOptions(t *testing.T) options {
	dir := t.TempDir()
	return options{db: filepath.Join(dir, "weeklyreport.db"), out: filepath.Join(dir, "mail"), weeks: 4, seed: 1, log: io.Discard}
}

// A simulated month: each client's schedule fires once a week, in its
// zone, each tick one run; the weeks with tracking gaps wait for a
// person; the others are rendered into files. A second run goes on with
// the next month.
func TestAMonthOfMondays(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := testOptions(t)
	var out strings.Builder
	require.NoError(t, run(ctx, o, &out))
	text := out.String()
	assert.Contains(t, text, "12 reports over 4 simulated weeks: 10 sent, 2 awaiting review, 0 failed.")
	assert.Contains(t, text, "[ 1] Mon 2026-11-30 09:30 JST  weekly-initech   sent: Initech KK: your week of 2026-11-23")
	assert.Contains(t, text, "[ 2] Mon 2026-11-30 09:00 CET  weekly-acme")
	assert.Contains(t, text, "[ 3] Mon 2026-11-30 08:00 EST  weekly-globex")
	assert.Contains(t, text, "awaits review: confidence 0.4")

	st, err := sqlitestore.Open(o.db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: pipelineName, Limit: 100})
	require.NoError(t, err)
	require.Len(t, page.Runs, 12, "one run per tick")
	ticks := map[string]bool{}
	for _, r := range page.Runs {
		assert.True(t, strings.HasPrefix(r.Trigger.Source, "schedule:weekly-"), r.Trigger.Source)
		assert.Equal(t, "schedule:"+strings.TrimPrefix(r.Trigger.Source, "schedule:")+":"+r.Trigger.ExternalID, r.IdempotencyKey)
		ticks[r.IdempotencyKey] = true
		d, err := st.GetRun(ctx, r.ID)
		require.NoError(t, err)
		switch d.Run.Status {
		case store.Succeeded:
			var e Email
			require.NoError(t, json.Unmarshal(d.Run.Output, &e))
			body, err := os.ReadFile(e.File)
			require.NoError(t, err)
			assert.Contains(t, string(body), "Subject: "+e.Subject)
			assert.Contains(t, string(body), "What went well:")
		case store.AwaitingReview:
			assert.Equal(t, "summarize", d.Run.Review.Step)
			var s Summarized
			require.NoError(t, json.Unmarshal(d.Run.Review.Proposed, &s))
			assert.Equal(t, 2, s.Metrics.MissingDays, "a week with a tracking gap")
			assert.Less(t, s.Summary.Confidence, minConfidence)
		default:
			t.Errorf("run %s is %s", r.ID, d.Run.Status)
		}
	}
	assert.Len(t, ticks, 12)
	scheds, err := st.Schedules(ctx, pipelineName)
	require.NoError(t, err)
	require.Len(t, scheds, 3)
	for _, s := range scheds {
		assert.Zero(t, s.Skipped)
		assert.Equal(t, store.MissedOne, s.Missed)
	}
	require.NoError(t, st.Close())

	out.Reset()
	o.weeks = 1
	require.NoError(t, run(ctx, o, &out))
	assert.Contains(t, out.String(), "[ 1] Mon 2026-12-28 09:30 JST  weekly-initech", "the second run goes on from the first")
	assert.Contains(t, out.String(), "3 reports over 1 simulated weeks")
}
