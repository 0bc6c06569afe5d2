package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// Trace and span ids of three executions, as OpenTelemetry prints them.
const (
	trace1, span1 = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	trace2, span2 = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	trace3, span3 = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
)

func traced(r store.StepRecord, traceID, spanID string) store.StepRecord {
	r.TraceID, r.SpanID = traceID, spanID
	return r
}

// Each record names the execution that wrote it, and the run learns its
// first execution's trace from the first write that carries one (a
// checkpoint or a finish, payloads kept or not), so that a later execution
// can link to it; nothing overwrites it after.
func testTraces(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))

	// Submitted for a worker: no trace until the first execution writes.
	r := h.enqueue(pipeA)
	assert.Empty(t, h.get(r.ID).Run.TraceID)
	c := h.claimOne("w1")
	assert.Empty(t, c.Run.TraceID)
	require.NoError(t, h.s.Checkpoint(h.ctx, c.Lease, traced(rec(0, "parse", store.StepSucceeded, `{"name":"Ada"}`), trace1, span1)))
	wait := traced(rec(1, "classify", store.StepDeferred, ""), trace1, span1)
	wait.Error, wait.Class = "HTTP 503", retry.ClassTransient
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Queued, Record: &wait,
		Step: "classify", Error: wait.Error, Class: retry.ClassTransient}))
	got := h.get(r.ID).Run
	assert.Equal(t, trace1, got.TraceID, "the first checkpoint names the run's first trace")
	assert.Equal(t, span1, got.SpanID)

	// The next execution sees the first trace in its claim, and its own
	// writes keep their own trace without replacing the run's.
	c = h.claimOne("w2")
	assert.Equal(t, trace1, c.Run.TraceID, "a claim carries the first trace, to link to")
	assert.Equal(t, span1, c.Run.SpanID)
	assert.Equal(t, trace1, c.Checkpoints[0].TraceID, "a checkpoint names the execution that wrote it")
	fail := traced(rec(1, "classify", store.StepFailed, ""), trace2, span2)
	fail.Error, fail.Class = "boom", retry.ClassPermanent
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Record: &fail,
		Step: "classify", Error: "boom", Class: retry.ClassPermanent}))
	d := h.get(r.ID)
	assert.Equal(t, trace1, d.Run.TraceID, "a later execution does not replace the first trace")
	assert.Equal(t, span1, d.Run.SpanID)
	require.Len(t, d.Steps, 3)
	for i, want := range []string{trace1, trace1, trace2} {
		assert.Equal(t, want, d.Steps[i].TraceID, "record %d", i)
	}
	assert.Equal(t, span2, d.Steps[2].SpanID)

	// A replay's carried checkpoint was written by no execution.
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID})
	require.NoError(t, err)
	c = h.claimOne("w3")
	require.Len(t, c.Checkpoints, 1)
	assert.Empty(t, c.Checkpoints[0].TraceID, "a carried checkpoint names no execution")
	assert.Equal(t, trace1, c.Run.TraceID)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"ok"`)}))

	// The first write may be a finish, of a run that keeps no payloads.
	scrubbed := h.enqueue(pipeA, func(nr *store.NewRun) { nr.KeepPayloads = false })
	c = h.claimOne("w1")
	require.Equal(t, scrubbed.ID, c.Run.ID)
	fail = traced(rec(0, "parse", store.StepFailed, ""), trace3, span3)
	fail.Error, fail.Class = "boom", retry.ClassPermanent
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Record: &fail,
		Step: "parse", Error: "boom", Class: retry.ClassPermanent}))
	d = h.get(scrubbed.ID)
	assert.Equal(t, trace3, d.Run.TraceID, "a finish names the first trace too")
	assert.Equal(t, span3, d.Run.SpanID)
	require.Len(t, d.Steps, 1)
	assert.Equal(t, trace3, d.Steps[0].TraceID)

	// Run with a store starts its span before it enqueues: the enqueue
	// names the trace, and the first write keeps it.
	inline, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, Input: json.RawMessage(`{}`),
		KeepPayloads: true, TraceID: trace2, SpanID: span2, ClaimFor: "w1", Lease: lease})
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, trace2, inline.TraceID)
	assert.Equal(t, span2, inline.SpanID)
	last := traced(rec(0, "parse", store.StepSucceeded, `{}`), trace3, span3)
	require.NoError(t, h.s.Finish(h.ctx, inline.Lease(), store.Outcome{Status: store.Succeeded, Record: &last, Output: json.RawMessage(`{}`)}))
	got = h.get(inline.ID).Run
	assert.Equal(t, trace2, got.TraceID)
	assert.Equal(t, span2, got.SpanID)

	// Imported runs keep theirs.
	h.clock.Advance(time.Second)
	imp := store.RunDetail{
		Run: store.Run{ID: "imported-trace", Pipeline: pipeA, Status: store.DeadLettered, Attempt: 1, Step: "parse",
			Error: "boom", Class: retry.ClassPermanent, TraceID: trace1, SpanID: span1, CreatedAt: Start, UpdatedAt: Start, FinishedAt: Start},
		Attempts: []store.RunAttempt{{Attempt: 1, Reason: "submitted", Status: store.DeadLettered, Step: "parse", StartedAt: Start, FinishedAt: Start}},
		Steps: []store.StepRecord{{RunID: "imported-trace", RunAttempt: 1, Index: 0, Step: "parse", Status: store.StepFailed,
			Error: "boom", Class: retry.ClassPermanent, StartedAt: Start, FinishedAt: Start, TraceID: trace1, SpanID: span1}},
	}
	created, err = h.s.Import(h.ctx, imp)
	require.NoError(t, err)
	require.True(t, created)
	d = h.get("imported-trace")
	assert.Equal(t, trace1, d.Run.TraceID)
	assert.Equal(t, span1, d.Run.SpanID)
	require.Len(t, d.Steps, 1)
	assert.Equal(t, trace1, d.Steps[0].TraceID)
	assert.Equal(t, span1, d.Steps[0].SpanID)
}

// The count of invalid UTF-8 bytes replaced in a run's input travels with
// the run: enqueued, claimed, listed, imported.
func testInputReplaced(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.InputReplaced = 3 })
	assert.Equal(t, 3, r.InputReplaced)
	assert.Equal(t, 3, h.get(r.ID).Run.InputReplaced)
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	assert.Equal(t, 3, page.Runs[0].InputReplaced)
	c := h.claimOne("w1")
	assert.Equal(t, 3, c.Run.InputReplaced)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`"ok"`)}))
	assert.Equal(t, 3, h.get(r.ID).Run.InputReplaced, "a finish keeps it")

	inline, _, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, Input: json.RawMessage(`{}`),
		InputReplaced: 1, ClaimFor: "w1", Lease: lease})
	require.NoError(t, err)
	assert.Equal(t, 1, inline.InputReplaced)
	assert.Equal(t, 1, h.get(inline.ID).Run.InputReplaced)

	clean := h.enqueue(pipeA)
	assert.Zero(t, h.get(clean.ID).Run.InputReplaced)

	created, err := h.s.Import(h.ctx, store.RunDetail{
		Run: store.Run{ID: "imported-utf8", Pipeline: pipeA, Status: store.DeadLettered, Attempt: 1, InputReplaced: 2,
			CreatedAt: Start, UpdatedAt: Start, FinishedAt: Start},
		Attempts: []store.RunAttempt{{Attempt: 1, Reason: "submitted", Status: store.DeadLettered, StartedAt: Start, FinishedAt: Start}},
	})
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, 2, h.get("imported-utf8").Run.InputReplaced)
}
