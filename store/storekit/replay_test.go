package storekit_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// A replay runs under the registered definition's version when it has
// one and it is not the run's; the reason then says so.
func TestPlanReplayVersion(t *testing.T) {
	v1 := store.Version{Fingerprint: "00000000000000a1", Label: "v1"}
	v2 := store.Version{Fingerprint: "00000000000000b2", Label: "v2"}
	recs := []store.StepRecord{
		{RunAttempt: 1, Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"name":"Ada"}`)},
		{RunAttempt: 1, Index: 1, Step: "classify", Status: store.StepFailed},
	}
	def := func(v store.Version) *store.PipelineDef {
		return &store.PipelineDef{Name: "leads", Version: v, Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}}}
	}
	for _, tt := range []struct {
		name   string
		run    store.Version
		def    *store.PipelineDef
		want   store.Version
		reason string
	}{
		{"no definition", v1, nil, v1, "replay from classify"},
		{"a definition without a version", v1, def(store.Version{}), v1, "replay from classify"},
		{"the run's own version", v1, def(v1), v1, "replay from classify"},
		{"another version", v1, def(v2), v2, "replay from classify; moved from v1 (00000000000000a1) to v2 (00000000000000b2)"},
		{"an unversioned run", store.Version{}, def(v2), v2, "replay from classify; moved from unversioned to v2 (00000000000000b2)"},
		{"another label only", v1, def(store.Version{Fingerprint: v1.Fingerprint, Label: "v1.1"}),
			store.Version{Fingerprint: v1.Fingerprint, Label: "v1.1"}, "replay from classify; moved from v1 (00000000000000a1) to v1.1 (00000000000000a1)"},
	} {
		for _, status := range []store.Status{store.Held, store.DeadLettered, store.Cancelled} {
			r := &store.Run{ID: "run-1", Pipeline: "leads", Status: status, Attempt: 1, Step: "classify", Version: tt.run, Input: json.RawMessage(`{}`)}
			plan, err := storekit.PlanReplay(r, recs, tt.def, store.ReplayRequest{RunID: r.ID})
			require.NoError(t, err, "%s, %s", tt.name, status)
			assert.Equal(t, tt.want, plan.Version, "%s, %s", tt.name, status)
			assert.Equal(t, tt.reason, plan.Reason, "%s, %s", tt.name, status)
			assert.Equal(t, 1, plan.From)
			require.Len(t, plan.Carry, 1)
		}
	}
	r := &store.Run{ID: "run-1", Status: store.Held, Attempt: 1, Step: "classify", Version: v1}
	plan, err := storekit.PlanReplay(r, recs, def(v2), store.ReplayRequest{RunID: r.ID, Reason: "fixed by ana"})
	require.NoError(t, err)
	assert.Equal(t, "fixed by ana; moved from v1 (00000000000000a1) to v2 (00000000000000b2)", plan.Reason, "a reason given records the move too")
}

func TestPlanReplayRefusesLiveRuns(t *testing.T) {
	for _, status := range []store.Status{store.Queued, store.Running, store.Waiting, store.AwaitingReview} {
		_, err := storekit.PlanReplay(&store.Run{ID: "run-1", Status: status, Attempt: 1}, nil, nil, store.ReplayRequest{RunID: "run-1"})
		assert.ErrorIs(t, err, store.ErrConflict, status)
		assert.Contains(t, err.Error(), "held", "the error names what can be replayed")
	}
	_, err := storekit.PlanReplay(&store.Run{ID: "run-1", Status: store.Succeeded, Attempt: 1}, nil, nil, store.ReplayRequest{RunID: "run-1"})
	var fe *store.FinalError
	assert.True(t, errors.As(err, &fe))
}
