package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// planned is the step a replay's printed plan says it starts at.
var planned = regexp.MustCompile(`Replay: attempt \d+ will start at step (\S+)`)

// TestReplayPlanNamesTheStepTheStoresReplayStartsAt compares the step the
// CLI's dry run names with the step the store's own replay starts at (its
// default reason, "replay from STEP"), for a run that failed past its first
// step, a replay --from an earlier step, and a cancelled run that failed at
// no step.
func TestReplayPlanNamesTheStepTheStoresReplayStartsAt(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	failedLater := f.run("bad-1", badText)
	fromEarlier := f.run("bad-2", badText)
	require.Equal(t, "classify", f.get(failedLater).Run.Step, "the run failed past its first step")

	// A run cancelled after its first checkpoint names no failed step: the
	// replay starts at the first step without a checkpoint.
	_, _, err := f.st.Enqueue(ctx, store.NewRun{ID: "cancelled", Pipeline: pipelineName, Input: json.RawMessage(`{"id":"c","text":"Ada Lovelace <ada@example.com>"}`), KeepPayloads: true})
	require.NoError(t, err)
	claimed, err := f.st.Claim(ctx, store.ClaimRequest{Worker: "test", Pipelines: []string{pipelineName}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	now := time.Now()
	require.NoError(t, f.st.Checkpoint(ctx, claimed[0].Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded,
		Input: claimed[0].Run.Input, Output: json.RawMessage(`{"id":"c","name":"Ada Lovelace","email":"ada@example.com"}`), StartedAt: now, FinishedAt: now}))
	require.NoError(t, f.st.Finish(ctx, claimed[0].Lease, store.Outcome{Status: store.Cancelled, Error: "context canceled", Class: retry.ClassCancelled}))
	require.Empty(t, f.get("cancelled").Run.Step)

	for _, c := range []struct {
		name, run, from, want string
	}{
		{"the failed step is not the first", failedLater, "", "classify"},
		{"--from an earlier step", fromEarlier, "parse", "parse"},
		{"a cancelled run starts after its checkpoints", "cancelled", "", "classify"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"replay", c.run, "--dry-run"}
			if c.from != "" {
				args = append(args, "--from", c.from)
			}
			m := planned.FindStringSubmatch(f.ok(args...).stdout)
			require.NotNil(t, m, "the plan names a step")
			assert.Equal(t, c.want, m[1])

			run, err := f.st.Replay(ctx, store.ReplayRequest{RunID: c.run, From: c.from})
			require.NoError(t, err)
			d := f.get(run.ID)
			// A run enqueued here without a version is moved to the
			// registered definition's, and the reason says so after the step.
			assert.True(t, strings.HasPrefix(d.Attempts[len(d.Attempts)-1].Reason, "replay from "+m[1]+";") || d.Attempts[len(d.Attempts)-1].Reason == "replay from "+m[1],
				"the store's replay starts where the plan says: %s", d.Attempts[len(d.Attempts)-1].Reason)
		})
	}
}
