package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The version cases: a run records the definition it started under, a
// worker of a changed definition can hold a run instead of failing it,
// and a replay moves a held run to the registered definition's version.

// defV2 is def with a changed contract: classify takes only inputs with
// an email, and parse only inputs with an n.
var defV2 = store.PipelineDef{
	Name: pipeA, KeepPayloads: true,
	Steps: []store.StepDef{
		{Name: "parse", InputSchema: json.RawMessage(`{"type":"object","required":["n"]}`), OutputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "classify", InputSchema: json.RawMessage(`{"type":"object","required":["email"]}`), OutputSchema: json.RawMessage(`{"type":"object","required":["label"]}`)},
		{Name: "draft", InputSchema: json.RawMessage(`{"type":"object","required":["label"]}`), OutputSchema: json.RawMessage(`{"type":"string"}`)},
	},
}

var (
	v1 = store.Version{Fingerprint: store.Fingerprint(def.Steps), Label: "v1"}
	v2 = store.Version{Fingerprint: store.Fingerprint(defV2.Steps), Label: "v2"}
)

// withVersion is an enqueue option: the run starts under v.
func withVersion(v store.Version) func(*store.NewRun) {
	return func(nr *store.NewRun) { nr.Version = v }
}

// registered returns def under version v.
func registered(d store.PipelineDef, v store.Version) store.PipelineDef {
	d.Version = v
	return d
}

// heldWhy is the reason a worker of defV2 gives for holding a run.
const heldWhy = "run run-x: the last checkpoint's output breaks the input contract of step classify (/: missing property 'email')"

// hold takes a claimed run through parse and holds it at classify, as a
// worker of a changed definition does: no record.
func (h *harness) hold(c store.Claimed) {
	h.t.Helper()
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	require.NoError(h.t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Held, Step: "classify", Error: heldWhy, Class: retry.ClassContract}))
	h.clock.Advance(time.Millisecond)
}

// Enqueue records the version on the run and its first attempt, and every
// read of the run returns it: GetRun, ListRuns, Claim, and a run enqueued
// claimed. A run enqueued without one is unversioned.
func testVersionRecorded(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, withVersion(v1))
	assert.Equal(t, v1, r.Version, "Enqueue's answer")
	plain := h.enqueue(pipeA)
	assert.True(t, plain.Version.IsZero())

	d := h.get(r.ID)
	assert.Equal(t, v1, d.Run.Version)
	require.Len(t, d.Attempts, 1)
	assert.Equal(t, v1, d.Attempts[0].Version, "the first attempt's version")
	assert.True(t, h.get(plain.ID).Attempts[0].Version.IsZero())

	page, err := h.s.ListRuns(h.ctx, store.RunFilter{Pipeline: pipeA})
	require.NoError(t, err)
	byID := map[string]store.Version{}
	for _, r := range page.Runs {
		byID[r.ID] = r.Version
	}
	assert.Equal(t, map[string]store.Version{r.ID: v1, plain.ID: {}}, byID, "ListRuns rows carry the version")

	c := h.claimOne("w1")
	require.Equal(t, r.ID, c.Run.ID)
	assert.Equal(t, v1, c.Run.Version, "the claimed run's version")

	claimed, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeB, Input: json.RawMessage(`{}`),
		ClaimFor: "w2", Lease: lease, Version: v2, KeepPayloads: true})
	require.NoError(t, err)
	require.True(t, created)
	assert.Equal(t, v2, claimed.Version)
	assert.Equal(t, v2, h.get(claimed.ID).Attempts[0].Version)

	again, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, IdempotencyKey: "k1", Version: v2, Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.True(t, created)
	dup, created, err := h.s.Enqueue(h.ctx, store.NewRun{ID: h.id(), Pipeline: pipeA, IdempotencyKey: "k1", Version: v1, Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, again.ID, dup.ID)
	assert.Equal(t, v2, dup.Version, "the existing run keeps its version")

	// An approval resumes the attempt, under its version.
	rv := h.enqueue("reviewed", withVersion(v1))
	rc := h.claimRun(rv.ID, "reviewed")
	require.NoError(t, h.s.Finish(h.ctx, rc.Lease, store.Outcome{Status: store.AwaitingReview, Step: "classify",
		Review: &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Proposed: json.RawMessage(`{"label":"warm"}`)}}))
	approved, err := h.s.Decide(h.ctx, rv.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana"})
	require.NoError(t, err)
	assert.Equal(t, v1, approved.Version, "Decide's run carries its version")
	assert.Equal(t, v1, h.claimRun(rv.ID, "reviewed").Run.Version)
}

// Finish Held parks the run: status, step, error and class recorded, the
// lease cleared, the attempt ended held. No worker claims it; WaitRun
// returns it; Stats counts it; Prune keeps it; Cancel ends it.
func testFinishHeld(t *testing.T, h *harness) {
	r := h.enqueue(pipeA, withVersion(v1), func(nr *store.NewRun) { nr.KeepPayloads = false })
	ch := h.waitFor(h.ctx, r.ID)
	c := h.claimOne("w1")
	h.stillWaiting(ch, "running")
	h.hold(c)
	w := h.answer(ch, "held")
	require.NoError(t, w.err)
	assert.Equal(t, store.Held, w.run.Status, "the write that holds a run wakes its waiters")
	assert.Equal(t, v1, w.run.Version, "WaitRun's run carries its version")
	heldAt := h.clock.Now().Add(-time.Millisecond)

	d := h.get(r.ID)
	assert.Equal(t, store.Held, d.Run.Status)
	assert.Equal(t, "classify", d.Run.Step)
	assert.Equal(t, heldWhy, d.Run.Error)
	assert.Equal(t, retry.ClassContract, d.Run.Class)
	assert.True(t, d.Run.FinishedAt.Equal(heldAt), "finished at %s, want %s", d.Run.FinishedAt, heldAt)
	assert.Empty(t, d.Run.LeaseOwner)
	assert.Empty(t, d.Run.LeaseToken)
	assert.Equal(t, v1, d.Run.Version)
	assert.JSONEq(t, `{"n":1}`, string(d.Run.Input), "a held run is not final: its payloads stay for its replay")
	require.Len(t, d.Steps, 1, "a Held outcome carries no record")
	assert.JSONEq(t, `{"name":"Ada"}`, string(d.Steps[0].Output))
	require.Len(t, d.Attempts, 1)
	a := d.Attempts[0]
	assert.Equal(t, store.Held, a.Status, "the attempt ended held")
	assert.Equal(t, "classify", a.Step)
	assert.Equal(t, heldWhy, a.Error)
	assert.Equal(t, retry.ClassContract, a.Class)
	assert.True(t, a.FinishedAt.Equal(heldAt))

	assert.ErrorIs(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded}), store.ErrLeaseLost, "its lease is gone")
	h.clock.Advance(2 * lease)
	assert.Empty(t, h.claim("w2", 10), "a held run is not claimed")

	got, err := h.s.WaitRun(h.ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Held, got.Status, "WaitRun returns a held run at once")
	assert.Equal(t, v1, got.Version)
	assert.Equal(t, []string{r.ID}, h.list(store.RunFilter{Status: []store.Status{store.Held}}))
	_, err = h.s.Decide(h.ctx, r.ID, store.Decision{Review: firstReview, Approved: true, Reviewer: "ana", Output: json.RawMessage(`{"label":"hot"}`)})
	assert.Error(t, err, "a held run has no review to decide")

	stats, err := h.s.Stats(h.ctx, pipeA, 0)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	assert.Equal(t, 1, stats[0].ByStatus[store.Held])

	h.clock.Advance(30 * 24 * time.Hour)
	n, err := h.s.Prune(h.ctx, store.Retention{MaxAge: time.Hour, MaxRuns: 1})
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, store.Held, h.status(r.ID), "retention keeps a held run")

	assert.Equal(t, v1, h.cancel(r.ID, operator, why).Version, "Cancel's run carries its version")
	cd := h.cancelledAs(r.ID, store.Cancellation{By: operator, Reason: why, At: h.clock.Now()}, "classify")
	assert.Nil(t, cd.Run.Input, "a cancelled run that keeps no payloads is scrubbed")
	assert.Equal(t, v1, cd.Run.Version)
	assert.Equal(t, v1, cd.Attempts[0].Version)

	// Finish accepts a record with Held too, as with any end.
	r2 := h.enqueue(pipeA)
	c2 := h.claimOne("w1")
	held := rec(0, "parse", store.StepFailed, "")
	held.Error, held.Class = "held", retry.ClassContract
	require.NoError(t, h.s.Finish(h.ctx, c2.Lease, store.Outcome{Status: store.Held, Record: &held, Step: "parse", Error: "held", Class: retry.ClassContract}))
	d2 := h.get(r2.ID)
	assert.Equal(t, store.Held, d2.Run.Status)
	require.Len(t, d2.Steps, 1)
	assert.Equal(t, store.StepFailed, d2.Steps[0].Status)
}

// A replay of a held run starts a new attempt under the registered
// definition's version when it has another, and says so in its reason;
// without a registered version, or with the run's own, the run keeps its.
func testReplayHeldVersion(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	kept := h.enqueue(pipeA, withVersion(v1))
	h.hold(h.claimOne("w1"))
	after, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: kept.ID})
	require.NoError(t, err)
	assert.Equal(t, v1, after.Version, "no registered version: the run's own")
	d := h.get(kept.ID)
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, v1, d.Attempts[1].Version)
	assert.Equal(t, "replay from classify", d.Attempts[1].Reason)
	h.finish(h.claimOne("w1").Lease, store.Succeeded)

	require.NoError(t, h.s.RegisterPipeline(h.ctx, registered(def, v1)))
	same := h.enqueue(pipeA, withVersion(v1))
	h.hold(h.claimOne("w1"))
	after, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: same.ID})
	require.NoError(t, err)
	assert.Equal(t, v1, after.Version)
	assert.Equal(t, "replay from classify", h.get(same.ID).Attempts[1].Reason, "the run's own version: no move")
	h.finish(h.claimOne("w1").Lease, store.Succeeded)

	require.NoError(t, h.s.RegisterPipeline(h.ctx, registered(defV2, v2)))
	r := h.enqueue(pipeA, withVersion(v1))
	h.hold(h.claimOne("w1"))
	h.clock.Advance(time.Minute)
	after, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID, Input: json.RawMessage(`{"n":1,"email":"ada@example.com"}`), From: "parse"})
	require.NoError(t, err)
	assert.Equal(t, store.Queued, after.Status)
	assert.Equal(t, 2, after.Attempt)
	assert.Equal(t, v2, after.Version, "the run moves to the registered definition")
	assert.Empty(t, after.Step)
	assert.Empty(t, after.Error)
	d = h.get(r.ID)
	assert.Equal(t, v2, d.Run.Version)
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, v1, d.Attempts[0].Version, "the first attempt keeps its version")
	assert.Equal(t, store.Held, d.Attempts[0].Status)
	assert.Equal(t, v2, d.Attempts[1].Version)
	assert.Equal(t, "replay from parse with a patched input; moved from "+v1.String()+" to "+v2.String(), d.Attempts[1].Reason)
	c := h.claimOne("w1")
	assert.Equal(t, v2, c.Run.Version, "the claimed run's version")
	assert.Empty(t, c.Checkpoints, "replayed from the first step")

	// A replay from the held step carries the checkpoints before it.
	r2 := h.enqueue(pipeA, withVersion(v1))
	h.hold(h.claimOne("w1"))
	after, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: r2.ID})
	require.NoError(t, err)
	assert.Equal(t, v2, after.Version)
	assert.Equal(t, "replay from classify; moved from "+v1.String()+" to "+v2.String(), h.get(r2.ID).Attempts[1].Reason)
	c2 := h.claimRun(r2.ID, pipeA)
	require.Len(t, c2.Checkpoints, 1)
	assert.Equal(t, store.StepReused, c2.Checkpoints[0].Status)

	// A dead-lettered run moves the same way; a rolled-back definition
	// moves a run back.
	require.NoError(t, h.s.RegisterPipeline(h.ctx, registered(def, v1)))
	h.deadLetter(c2)
	after, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: r2.ID})
	require.NoError(t, err)
	assert.Equal(t, v1, after.Version)
	d = h.get(r2.ID)
	require.Len(t, d.Attempts, 3)
	assert.Equal(t, "replay from classify; moved from "+v2.String()+" to "+v1.String(), d.Attempts[2].Reason)
	assert.Equal(t, v1, d.Attempts[2].Version)
}

// A held branch run is parked like one awaiting review: it keeps its
// parent waiting and gives up its slot under the fork's limit. A branch
// run starts under its NewRun's version; a replay moves it to its
// sub-pipeline's registered version; a child forked again with a new
// input starts its new attempt under the new NewRun's version.
func testHeldBranch(t *testing.T, h *harness) {
	subV1 := store.Version{Fingerprint: "1111111111111111", Label: "items-1"}
	subV2 := store.Version{Fingerprint: "2222222222222222", Label: "items-2"}
	p := h.forkingParent()
	kids := branches(p.Run.ID, "items", 3, true)
	for i := range kids {
		kids[i].Version = subV1
	}
	h.fork(p.Lease, 1, kids)
	for _, k := range kids {
		d := h.get(k.ID)
		assert.Equal(t, subV1, d.Run.Version, "child %s", k.ID)
		assert.Equal(t, subV1, d.Attempts[0].Version, "child %s", k.ID)
	}
	assert.Equal(t, []store.Status{store.Queued, store.Waiting, store.Waiting}, h.statuses(p.Run.ID))

	c := h.claimRun(kids[0].ID, "items")
	assert.Equal(t, subV1, c.Run.Version)
	h.checkpoint(c.Lease, 0, "fetch", `{"page":"<p>hi</p>"}`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Held, Step: "summarise", Error: "breaks the new contract", Class: retry.ClassContract}))
	h.clock.Advance(time.Millisecond)
	assert.Equal(t, []store.Status{store.Held, store.Queued, store.Waiting}, h.statuses(p.Run.ID), "a held child frees its slot")
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
	h.end(kids[1], store.Succeeded)
	h.end(kids[2], store.Succeeded)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID), "a held child is live: its parent waits")
	assert.Empty(t, h.claim("w2", 10, pipeA))

	sub := subDef("items")
	require.NoError(t, h.s.RegisterPipeline(h.ctx, registered(sub, subV2)))
	after, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: kids[0].ID})
	require.NoError(t, err)
	assert.Equal(t, subV2, after.Version)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID), "a replayed child is live")
	rc := h.claimRun(kids[0].ID, "items")
	assert.Equal(t, subV2, rc.Run.Version)
	h.finish(rc.Lease, store.Succeeded)
	assert.Equal(t, store.Queued, h.status(p.Run.ID), "the last live child ended")

	// The parent forks again with a changed element under a new version.
	pc := h.claimRun(p.Run.ID, pipeA)
	again := branches(p.Run.ID, "items", 3, true)
	for i := range again {
		again[i].Version = subV2
	}
	again[2].Input = json.RawMessage(`{"item":"two, fixed"}`)
	h.fork(pc.Lease, 0, again)
	k := h.get(kids[2].ID)
	require.Len(t, k.Attempts, 2)
	assert.Equal(t, subV2, k.Run.Version, "a restarted child takes the new fork's version")
	assert.Equal(t, subV1, k.Attempts[0].Version)
	assert.Equal(t, subV2, k.Attempts[1].Version)
	assert.Equal(t, storekit.RestartReason(p.Run.ID), k.Attempts[1].Reason)
	assert.Equal(t, subV1, h.get(kids[1].ID).Run.Version, "a child kept as it is keeps its version")
}

// Import keeps the run's version and each attempt's as given; a held run
// can be imported.
func testImportVersions(t *testing.T, h *harness) {
	d := store.RunDetail{
		Run: store.Run{ID: "imported-v", Pipeline: pipeA, Status: store.Held, Attempt: 2, Version: v2, Input: json.RawMessage(`{"n":7}`),
			Step: "classify", Error: heldWhy, Class: retry.ClassContract, KeepPayloads: true,
			CreatedAt: Start, UpdatedAt: Start.Add(2 * time.Second), FinishedAt: Start.Add(2 * time.Second)},
		Attempts: []store.RunAttempt{
			{Attempt: 1, Reason: "submitted", Version: v1, Input: json.RawMessage(`{"n":7}`), Status: store.DeadLettered,
				Step: "classify", StartedAt: Start, FinishedAt: Start.Add(time.Second)},
			{Attempt: 2, Reason: "replay from classify; moved from " + v1.String() + " to " + v2.String(), Version: v2,
				Input: json.RawMessage(`{"n":7}`), Status: store.Held, Step: "classify", Error: heldWhy, Class: retry.ClassContract,
				StartedAt: Start.Add(time.Second), FinishedAt: Start.Add(2 * time.Second)},
		},
		Steps: []store.StepRecord{{RunID: "imported-v", RunAttempt: 1, Index: 0, Step: "parse", Status: store.StepSucceeded,
			Output: json.RawMessage(`{"name":"Ada"}`), StartedAt: Start, FinishedAt: Start}},
	}
	created, err := h.s.Import(h.ctx, d)
	require.NoError(t, err)
	require.True(t, created)
	got := h.get("imported-v")
	assert.Equal(t, store.Held, got.Run.Status)
	assert.Equal(t, v2, got.Run.Version)
	require.Len(t, got.Attempts, 2)
	assert.Equal(t, v1, got.Attempts[0].Version)
	assert.Equal(t, v2, got.Attempts[1].Version)
	assert.Equal(t, d.Attempts[1].Reason, got.Attempts[1].Reason)
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{Status: []store.Status{store.Held}})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	assert.Equal(t, v2, page.Runs[0].Version)

	old := d
	old.Run.ID, old.Run.Version = "imported-old", store.Version{}
	old.Attempts = []store.RunAttempt{d.Attempts[0]}
	old.Attempts[0].Version = store.Version{}
	old.Run.Attempt, old.Run.Status = 1, store.DeadLettered
	_, err = h.s.Import(h.ctx, old)
	require.NoError(t, err)
	o := h.get("imported-old")
	assert.True(t, o.Run.Version.IsZero(), "an unversioned run stays unversioned")
	assert.True(t, o.Attempts[0].Version.IsZero())
}
