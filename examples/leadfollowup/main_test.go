package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func TestEveryLeadEndsInOneStateAndTheHistoryStays(t *testing.T) {
	dir := t.TempDir()
	o := options{db: filepath.Join(dir, "plumb.db"), deadLetters: filepath.Join(dir, "dead.jsonl"), leads: 150, seed: 1, concurrency: 8}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "Summary of 150 leads")
	assert.Contains(t, out.String(), "waited in the queue for an outage", "the night's outage is in the story")

	st, err := sqlitestore.Open(o.db)
	require.NoError(t, err)
	runsPage, err := st.ListRuns(context.Background(), store.RunFilter{Pipeline: "leadfollowup", Limit: 1000})
	runs := runsPage.Runs
	require.NoError(t, err)
	require.Len(t, runs, 150)
	byStatus := map[store.Status]int{}
	for _, r := range runs {
		byStatus[r.Status]++
		if r.Status == store.DeadLettered {
			assert.Equal(t, "parse", r.Step, "only leads with no way to reach them give up: %s", r.Error)
		}
		if r.Status == store.Succeeded {
			var reply Reply
			require.NoError(t, json.Unmarshal(r.Output, &reply))
			assert.NoError(t, reply.Validate(), "no broken reply is passed on")
		}
	}
	assert.Equal(t, 150, byStatus[store.Succeeded]+byStatus[store.DeadLettered], "every lead ends succeeded or dead-lettered: %v", byStatus)
	require.NoError(t, st.Close())

	out.Reset()
	o.leads = 10
	require.NoError(t, run(context.Background(), o, &out))
	assert.Contains(t, out.String(), "(150 runs from earlier runs of this example)", "a second run sees the first one's history")
}
