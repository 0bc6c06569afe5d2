package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// testPipelineLog: every pause and every resume that cleared one is kept
// in the pipeline's log, newest first, with who took it and why; the
// breaker's entries say so in By. A resume of a pipeline that was not
// paused changes nothing and logs nothing; other pipelines' entries stay
// apart; the limit bounds the answer.
func testPipelineLog(t *testing.T, h *harness) {
	log := func(pipeline string, limit int) []store.PauseEntry {
		t.Helper()
		got, err := h.s.PipelineLog(h.ctx, pipeline, limit)
		require.NoError(t, err)
		return got
	}
	assert.Empty(t, log(pipeA, 0), "no pause yet")
	assert.NotNil(t, log(pipeA, 0), "an empty log is an empty list, not null")

	t0 := h.clock.Now()
	require.NoError(t, h.s.SetPause(h.ctx, store.Pause{Pipeline: pipeA, Reason: "classify failing 60% of 20",
		By: "breaker:classify", ProbeAfter: t0.Add(time.Minute)}))
	h.clock.Advance(time.Minute)
	t1 := h.clock.Now()
	require.NoError(t, h.s.SetPause(h.ctx, store.Pause{Pipeline: pipeA, Reason: "the probe run failed at step classify again",
		By: "breaker:classify", ProbeAfter: t1.Add(time.Minute)}))
	h.clock.Advance(time.Minute)
	t2 := h.clock.Now()
	was, err := h.s.ClearPause(h.ctx, store.Resume{Pipeline: pipeA, By: "breaker:classify", Reason: "the probe run passed step classify"})
	require.NoError(t, err)
	require.True(t, was)
	was, err = h.s.ClearPause(h.ctx, store.Resume{Pipeline: pipeA, By: "ana@example.com", Reason: "nothing to resume"})
	require.NoError(t, err)
	require.False(t, was)
	h.clock.Advance(time.Minute)
	t3 := h.clock.Now()
	require.NoError(t, h.s.SetPause(h.ctx, store.Pause{Pipeline: pipeA, Reason: "provider outage <b>", By: "ana@example.com"}))
	require.NoError(t, h.s.SetPause(h.ctx, store.Pause{Pipeline: pipeB, Reason: "other", By: "bo"}))
	h.clock.Advance(time.Minute)
	t4 := h.clock.Now()
	was, err = h.s.ClearPause(h.ctx, store.Resume{Pipeline: pipeA, By: "bo@example.com", Reason: "provider back"})
	require.NoError(t, err)
	require.True(t, was)

	got := log(pipeA, 0)
	want := []store.PauseEntry{
		{Pipeline: pipeA, Action: store.Resumed, By: "bo@example.com", Reason: "provider back", At: t4},
		{Pipeline: pipeA, Action: store.Paused, By: "ana@example.com", Reason: "provider outage <b>", At: t3},
		{Pipeline: pipeA, Action: store.Resumed, By: "breaker:classify", Reason: "the probe run passed step classify", At: t2},
		{Pipeline: pipeA, Action: store.Paused, By: "breaker:classify", Reason: "the probe run failed at step classify again", At: t1, ProbeAfter: t1.Add(time.Minute)},
		{Pipeline: pipeA, Action: store.Paused, By: "breaker:classify", Reason: "classify failing 60% of 20", At: t0, ProbeAfter: t0.Add(time.Minute)},
	}
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].Action, got[i].Action, "entry %d", i)
		assert.Equal(t, want[i].By, got[i].By, "entry %d", i)
		assert.Equal(t, want[i].Reason, got[i].Reason, "entry %d", i)
		assert.True(t, want[i].At.Equal(got[i].At), "entry %d: at %v, want %v", i, got[i].At, want[i].At)
		assert.True(t, want[i].ProbeAfter.Equal(got[i].ProbeAfter), "entry %d: probe after %v, want %v", i, got[i].ProbeAfter, want[i].ProbeAfter)
	}
	assert.Len(t, log(pipeA, 2), 2, "the limit")
	assert.Equal(t, store.Resumed, log(pipeA, 2)[0].Action, "newest first")
	b := log(pipeB, 0)
	require.Len(t, b, 1, "each pipeline's own")
	assert.Equal(t, "bo", b[0].By)
	assert.Empty(t, log("nosuch", 0))
}
