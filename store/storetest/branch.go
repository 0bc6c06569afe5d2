package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The branch cases fork def's runs at classify.
const (
	forkStep  = "classify"
	forkIndex = 1
)

// subDef is the two-step pipeline of a branch run.
func subDef(name string) store.PipelineDef {
	return store.PipelineDef{Name: name, KeepPayloads: true, Steps: []store.StepDef{
		{Name: "fetch", InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "summarise", InputSchema: json.RawMessage(`{"type":"object"}`), OutputSchema: json.RawMessage(`{"type":"object"}`)},
	}}
}

// forkingParent enqueues a run of pipeA and takes it to its branching
// step: claimed, with parse checkpointed.
func (h *harness) forkingParent() store.Claimed {
	h.t.Helper()
	r := h.enqueue(pipeA)
	c := h.claimRun(r.ID, pipeA)
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	return c
}

// branches makes n children of parent's fork at classify. Child i runs
// pipeline prefix+i (parallel branches, so that a case can claim the one
// it means) unless same is set, with input {"item":i}.
func branches(parent, prefix string, n int, same bool) []store.NewRun {
	out := make([]store.NewRun, n)
	for i := range out {
		pipeline := fmt.Sprint(prefix, i)
		if same {
			pipeline = prefix
		}
		out[i] = store.NewRun{ID: store.BranchID(parent, forkIndex, i), Pipeline: pipeline,
			Input: json.RawMessage(fmt.Sprintf(`{"item":%d}`, i)), KeepPayloads: true,
			Trigger: step.Trigger{Source: "branch:" + pipeA + "/" + forkStep, ExternalID: "lead-77"},
			Parent:  &store.Parent{RunID: parent, Step: forkStep, Index: forkIndex, Branch: i}}
	}
	return out
}

func forkRec() store.StepRecord {
	r := rec(forkIndex, forkStep, store.StepWaiting, "")
	r.Note = "forked"
	return r
}

func (h *harness) fork(l store.Lease, limit int, children []store.NewRun) {
	h.t.Helper()
	require.NoError(h.t, h.s.Fork(h.ctx, l, store.Fork{Record: forkRec(), Children: children, Limit: limit}))
	h.clock.Advance(time.Millisecond)
}

// claimRun claims run id, which must be the oldest claimable run of
// pipeline.
func (h *harness) claimRun(id, pipeline string) store.Claimed {
	h.t.Helper()
	c := h.claim("w-"+id, 1, pipeline)
	require.Len(h.t, c, 1, "run %s is not claimable", id)
	require.Equal(h.t, id, c[0].Run.ID)
	return c[0]
}

// end claims a branch run and ends its attempt with status.
func (h *harness) end(nr store.NewRun, status store.Status) {
	h.t.Helper()
	h.finish(h.claimRun(nr.ID, nr.Pipeline).Lease, status)
}

// finish ends a held run with status: a success outputs {"done":true}, a
// dead letter fails at summarise.
func (h *harness) finish(l store.Lease, status store.Status) {
	h.t.Helper()
	o := store.Outcome{Status: status}
	switch status {
	case store.Succeeded:
		o.Output = json.RawMessage(`{"done":true}`)
	case store.DeadLettered:
		o.Step, o.Error, o.Class = "summarise", "contract violated: /summary: required", retry.ClassContract
	case store.Cancelled:
		o.Step, o.Error, o.Class = "summarise", "context canceled", retry.ClassCancelled
	}
	require.NoError(h.t, h.s.Finish(h.ctx, l, o))
	h.clock.Advance(time.Millisecond)
}

// failChild takes a branch run through fetch and dead-letters it at
// summarise.
func (h *harness) failChild(nr store.NewRun) {
	h.t.Helper()
	c := h.claimRun(nr.ID, nr.Pipeline)
	h.checkpoint(c.Lease, 0, "fetch", `{"page":"<p>hi</p>"}`)
	fail := rec(1, "summarise", store.StepFailed, "")
	fail.Error, fail.Class = "contract violated: /summary: required", retry.ClassContract
	require.NoError(h.t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Record: &fail,
		Step: "summarise", Error: fail.Error, Class: fail.Class}))
	h.clock.Advance(time.Millisecond)
}

func (h *harness) status(id string) store.Status {
	h.t.Helper()
	return h.get(id).Run.Status
}

func (h *harness) branches(q store.BranchQuery) []store.Branch {
	h.t.Helper()
	bs, err := h.s.Branches(h.ctx, q)
	require.NoError(h.t, err)
	return bs
}

func (h *harness) list(f store.RunFilter) []string {
	h.t.Helper()
	page, err := h.s.ListRuns(h.ctx, f)
	require.NoError(h.t, err)
	return ids(page.Runs)
}

func childIDs(children []store.NewRun) []string {
	out := make([]string, len(children))
	for i, c := range children {
		out[i] = c.ID
	}
	return out
}

// Fork writes the branching step's record and the children, and leaves the
// parent waiting: no worker claims it, while its children are claimable.
func testForkRecordsChildren(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 3, false)
	for i := range kids {
		kids[i].Parent.Name = fmt.Sprint("route-", i)
		kids[i].Parent.TraceID, kids[i].Parent.SpanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		kids[i].Budget = store.Spend{Tokens: 5000 - i, Cost: 0.5}
	}
	kids[1].KeepPayloads = false
	h.fork(p.Lease, 0, kids)

	d := h.get(p.Run.ID)
	assert.Equal(t, store.Waiting, d.Run.Status)
	assert.Equal(t, forkStep, d.Run.Step, "a waiting run names the step it waits at")
	assert.Empty(t, d.Run.LeaseOwner)
	assert.Empty(t, d.Run.LeaseToken)
	assert.Empty(t, d.Run.Error)
	assert.True(t, d.Run.FinishedAt.IsZero(), "a waiting run is live")
	require.Len(t, d.Steps, 2)
	last := d.Steps[1]
	assert.Equal(t, store.StepWaiting, last.Status)
	assert.Equal(t, forkIndex, last.Index)
	assert.Equal(t, forkStep, last.Step)
	assert.Equal(t, "forked", last.Note)
	assert.Equal(t, 1, last.RunAttempt)
	assert.Equal(t, p.Run.ID, last.RunID)

	for i, nr := range kids {
		c := h.get(nr.ID)
		assert.Equal(t, store.BranchID(p.Run.ID, forkIndex, i), c.Run.ID)
		assert.Equal(t, nr.Pipeline, c.Run.Pipeline)
		assert.Equal(t, store.Queued, c.Run.Status)
		assert.Equal(t, 1, c.Run.Attempt)
		require.NotNil(t, c.Run.Parent, "child %d", i)
		assert.Equal(t, *nr.Parent, *c.Run.Parent)
		assert.JSONEq(t, string(nr.Input), string(c.Run.Input))
		assert.Equal(t, store.Hash(nr.Input), c.Run.InputHash)
		assert.Equal(t, nr.Trigger.Source, c.Run.Trigger.Source)
		assert.Equal(t, nr.Trigger.ExternalID, c.Run.Trigger.ExternalID)
		assert.Equal(t, nr.Budget, c.Run.Budget)
		assert.Equal(t, nr.KeepPayloads, c.Run.KeepPayloads)
		require.Len(t, c.Attempts, 1)
		assert.Equal(t, storekit.ForkReason(p.Run.ID), c.Attempts[0].Reason)
		assert.JSONEq(t, string(nr.Input), string(c.Attempts[0].Input))
	}

	assert.ErrorIs(t, h.s.Fork(h.ctx, p.Lease, store.Fork{Record: forkRec(), Children: kids}), store.ErrLeaseLost, "a fork ends the lease")
	assert.ErrorIs(t, h.s.Checkpoint(h.ctx, p.Lease, rec(1, forkStep, store.StepSucceeded, `{}`)), store.ErrLeaseLost)
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: p.Run.ID})
	assert.ErrorIs(t, err, store.ErrConflict, "a waiting run is live: it is not replayed")

	got := h.claim("w2", 10)
	assert.ElementsMatch(t, childIDs(kids), ids(claimedRuns(got)), "the children are claimable, the parent is not")
	h.clock.Advance(2 * lease)
	for _, c := range h.claim("w3", 10) {
		assert.NotEqual(t, p.Run.ID, c.Run.ID, "a waiting run is never claimed")
	}
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
}

func claimedRuns(cs []store.Claimed) []store.Run {
	out := make([]store.Run, len(cs))
	for i, c := range cs {
		out[i] = c.Run
	}
	return out
}

// Fork refuses a run not held and children that are not the run's
// branches at the step, and a refused fork writes nothing.
func testForkRefusals(t *testing.T, h *harness) {
	queued := h.enqueue(pipeA)
	fork := store.Fork{Record: forkRec(), Children: branches(queued.ID, "sub", 1, false)}
	assert.ErrorIs(t, h.s.Fork(h.ctx, store.Lease{RunID: queued.ID, Token: "forged", Attempt: 1}, fork), store.ErrLeaseLost, "a queued run is not held")
	c := h.claimRun(queued.ID, pipeA)
	h.finish(c.Lease, store.DeadLettered)
	assert.ErrorIs(t, h.s.Fork(h.ctx, c.Lease, fork), store.ErrLeaseLost, "an ended run is not held")

	p := h.forkingParent()
	// A run of the branch's id that is not the branch.
	squatter := h.enqueue(pipeB, func(nr *store.NewRun) { nr.ID = store.BranchID(p.Run.ID, forkIndex, 3) })
	bad := map[string]func(nr *store.NewRun){
		"no parent":           func(nr *store.NewRun) { nr.Parent = nil },
		"another parent":      func(nr *store.NewRun) { nr.Parent.RunID = queued.ID },
		"another step index":  func(nr *store.NewRun) { nr.Parent.Index = 2 },
		"another step name":   func(nr *store.NewRun) { nr.Parent.Step = "draft" },
		"an id not BranchID":  func(nr *store.NewRun) { nr.ID = p.Run.ID + "-child" },
		"no pipeline":         func(nr *store.NewRun) { nr.Pipeline = "" },
		"a run not its child": func(nr *store.NewRun) { nr.ID, nr.Parent.Branch = squatter.ID, 3 },
	}
	for what, mod := range bad {
		kids := branches(p.Run.ID, "sub", 3, false)
		mod(&kids[2])
		err := h.s.Fork(h.ctx, p.Lease, store.Fork{Record: forkRec(), Children: kids})
		assert.ErrorIs(t, err, store.ErrConflict, "a child with %s", what)
	}
	d := h.get(p.Run.ID)
	assert.Equal(t, store.Running, d.Run.Status, "a refused fork changes nothing")
	assert.Len(t, d.Steps, 1, "a refused fork records nothing")
	assert.Equal(t, []string{squatter.ID}, h.list(store.RunFilter{Pipeline: pipeB}))
	assert.Empty(t, h.list(store.RunFilter{Parent: p.Run.ID}), "a refused fork creates no child")
	assert.Empty(t, h.branches(store.BranchQuery{Parent: p.Run.ID}))

	h.fork(p.Lease, 0, branches(p.Run.ID, "sub", 3, false))
	assert.Equal(t, store.Waiting, h.status(p.Run.ID), "the lease survived the refusals")
}

// Branches lists a parent's children in step index then branch order,
// whatever order the fork gave them in, with outputs when asked.
func testBranchesList(t *testing.T, h *harness) {
	p := h.forkingParent()
	first := branches(p.Run.ID, "sub", 3, false)
	h.fork(p.Lease, 0, []store.NewRun{first[2], first[0], first[1]})
	assert.Equal(t, childIDs(first), ids(branchRuns(h.branches(store.BranchQuery{Parent: p.Run.ID}))), "branch order")

	spent := store.Spend{Tokens: 812, Cost: 0.0123}
	c0 := h.claimRun(first[0].ID, first[0].Pipeline)
	require.NoError(t, h.s.Finish(h.ctx, c0.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{"summary":"zero"}`), Spent: spent}))
	h.failChild(first[1])
	h.end(first[2], store.Succeeded)

	// The parent joins, goes on to draft, and forks there too.
	c := h.claimRun(p.Run.ID, pipeA)
	h.checkpoint(c.Lease, forkIndex, forkStep, `{"label":"hot"}`)
	second := make([]store.NewRun, 2)
	for i := range second {
		second[i] = store.NewRun{ID: store.BranchID(p.Run.ID, 2, i), Pipeline: "drafts", Input: json.RawMessage(`{}`),
			Parent: &store.Parent{RunID: p.Run.ID, Step: "draft", Index: 2, Branch: i, Name: fmt.Sprint("tone-", i)}}
	}
	wait := rec(2, "draft", store.StepWaiting, "")
	require.NoError(t, h.s.Fork(h.ctx, c.Lease, store.Fork{Record: wait, Children: []store.NewRun{second[1], second[0]}}))

	all := h.branches(store.BranchQuery{Parent: p.Run.ID})
	assert.Equal(t, append(childIDs(first), childIDs(second)...), ids(branchRuns(all)), "step index, then branch order")
	for _, b := range all {
		assert.Nil(t, b.Output, "outputs only when asked for")
	}
	b := all[0]
	assert.Equal(t, first[0].Pipeline, b.Pipeline)
	assert.Equal(t, forkIndex, b.Index)
	assert.Equal(t, forkStep, b.Step)
	assert.Equal(t, 0, b.Branch)
	assert.Equal(t, store.Succeeded, b.Status)
	assert.True(t, b.Ended())
	assert.Equal(t, 1, b.Attempt)
	assert.Equal(t, store.Hash(first[0].Input), b.InputHash)
	assert.Equal(t, spent, b.Spent)
	assert.True(t, b.UpdatedAt.Equal(h.get(b.RunID).Run.UpdatedAt))
	failed := all[1]
	assert.Equal(t, store.DeadLettered, failed.Status)
	assert.Equal(t, "summarise", failed.FailedStep)
	assert.Equal(t, "contract violated: /summary: required", failed.Error)
	assert.Equal(t, retry.ClassContract, failed.Class)
	assert.Empty(t, all[0].FailedStep)
	live := all[3]
	assert.Equal(t, "draft", live.Step)
	assert.Equal(t, 2, live.Index)
	assert.Equal(t, "tone-0", live.Name)
	assert.Equal(t, store.Queued, live.Status)
	assert.False(t, live.Ended())

	withOut := h.branches(store.BranchQuery{Parent: p.Run.ID, Step: forkStep, Outputs: true})
	require.Len(t, withOut, 3, "one step's children")
	assert.JSONEq(t, `{"summary":"zero"}`, string(withOut[0].Output))
	assert.Nil(t, withOut[1].Output, "a failed child has no output")
	assert.JSONEq(t, `{"done":true}`, string(withOut[2].Output))

	assert.Equal(t, childIDs(second), ids(branchRuns(h.branches(store.BranchQuery{Parent: p.Run.ID, Step: "draft"}))))
	assert.Empty(t, h.branches(store.BranchQuery{Parent: p.Run.ID, Step: "parse"}))
	assert.Empty(t, h.branches(store.BranchQuery{Parent: "no-such-run"}))
	assert.Empty(t, h.branches(store.BranchQuery{Parent: first[0].ID}), "a child without branches of its own")
}

func branchRuns(bs []store.Branch) []store.Run {
	out := make([]store.Run, len(bs))
	for i, b := range bs {
		out[i] = store.Run{ID: b.RunID}
	}
	return out
}

// ListRuns selects a parent's branches, or only top-level runs; Stats
// counts waiting runs and branch runs.
func testBranchListingAndStats(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "items", 3, true)
	h.fork(p.Lease, 2, kids)
	other := h.enqueue(pipeA)
	lone := h.enqueue(pipeB)

	assert.ElementsMatch(t, childIDs(kids), h.list(store.RunFilter{Parent: p.Run.ID}))
	assert.ElementsMatch(t, []string{p.Run.ID, other.ID, lone.ID}, h.list(store.RunFilter{TopLevel: true}))
	assert.Len(t, h.list(store.RunFilter{}), 6)
	assert.Equal(t, []string{p.Run.ID}, h.list(store.RunFilter{Status: []store.Status{store.Waiting}, TopLevel: true}))
	assert.Equal(t, []string{kids[2].ID}, h.list(store.RunFilter{Status: []store.Status{store.Waiting}, Parent: p.Run.ID}), "the third waits for a slot")
	assert.Equal(t, []string{p.Run.ID}, h.list(store.RunFilter{Step: forkStep}), "Step matches the step a run waits at")
	assert.Empty(t, h.list(store.RunFilter{Parent: other.ID}))

	stats, err := h.s.Stats(h.ctx, "", 0)
	require.NoError(t, err)
	by := map[string]store.PipelineStats{}
	for _, s := range stats {
		by[s.Pipeline] = s
	}
	assert.Equal(t, 1, by[pipeA].ByStatus[store.Waiting])
	assert.Equal(t, 1, by[pipeA].ByStatus[store.Queued])
	assert.Equal(t, 0, by[pipeA].Branches)
	assert.Equal(t, 2, by["items"].ByStatus[store.Queued])
	assert.Equal(t, 1, by["items"].ByStatus[store.Waiting])
	assert.Equal(t, 3, by["items"].Branches)
	assert.Equal(t, 0, by[pipeB].Branches)
}

// A fork made again finds its children: ended ones with the same input are
// kept (the parent is queued at once when none is live), nothing is made
// twice, and an ended child whose input changed starts a new attempt from
// its first step with the new input.
func testForkAgain(t *testing.T, h *harness) {
	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 3, false)
	h.fork(p.Lease, 0, kids)
	h.end(kids[0], store.Succeeded)
	h.end(kids[1], store.Succeeded)
	h.failChild(kids[2])

	// The worker that joins crashes; the next one forks again.
	c := h.claimRun(p.Run.ID, pipeA)
	require.Len(t, c.Checkpoints, 1, "the fork's record is no checkpoint")
	require.NoError(t, h.s.Release(h.ctx, []store.Lease{c.Lease}))
	c = h.claimRun(p.Run.ID, pipeA)
	h.fork(c.Lease, 0, kids)
	d := h.get(p.Run.ID)
	assert.Equal(t, store.Queued, d.Run.Status, "every child has ended: the parent is queued at once")
	assert.Equal(t, forkStep, d.Run.Step)
	assert.Len(t, d.Steps, 3, "both forks are recorded")
	assert.ElementsMatch(t, childIDs(kids), h.list(store.RunFilter{Parent: p.Run.ID}), "nothing is duplicated")
	bs := h.branches(store.BranchQuery{Parent: p.Run.ID})
	require.Len(t, bs, 3)
	for i, b := range bs {
		assert.Equal(t, 1, b.Attempt, "child %d is kept as it is", i)
		assert.Len(t, h.get(b.RunID).Attempts, 1)
	}
	assert.Equal(t, store.DeadLettered, bs[2].Status)

	// The parent was replayed with a new input, say: one element changed.
	c = h.claimRun(p.Run.ID, pipeA)
	changed := branches(p.Run.ID, "sub", 3, false)
	changed[2].Input = json.RawMessage(`{"item":"two, fixed"}`)
	changed[2].Budget = store.Spend{Cost: 0.25}
	h.fork(c.Lease, 0, changed)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
	k := h.get(kids[2].ID)
	assert.Equal(t, store.Queued, k.Run.Status)
	assert.Equal(t, 2, k.Run.Attempt)
	assert.JSONEq(t, `{"item":"two, fixed"}`, string(k.Run.Input))
	assert.Empty(t, k.Run.Error)
	assert.Empty(t, k.Run.Step)
	assert.True(t, k.Run.FinishedAt.IsZero())
	assert.Equal(t, store.Spend{Cost: 0.25}, k.Run.Budget, "the new fork's budget")
	require.Len(t, k.Attempts, 2, "the first attempt's history is kept")
	assert.Equal(t, store.DeadLettered, k.Attempts[0].Status)
	assert.Equal(t, storekit.RestartReason(p.Run.ID), k.Attempts[1].Reason)
	assert.JSONEq(t, `{"item":"two, fixed"}`, string(k.Attempts[1].Input))
	b := h.branches(store.BranchQuery{Parent: p.Run.ID})[2]
	assert.Equal(t, store.Hash(changed[2].Input), b.InputHash)
	assert.Equal(t, 2, b.Attempt)
	assert.Equal(t, 1, h.get(kids[0].ID).Run.Attempt, "an unchanged child is kept")

	rc := h.claimRun(kids[2].ID, kids[2].Pipeline)
	assert.Empty(t, rc.Checkpoints, "a new input starts the child from its first step")
	assert.Equal(t, 2, rc.Lease.Attempt)
	h.finish(rc.Lease, store.Succeeded)
	assert.Equal(t, store.Queued, h.status(p.Run.ID))

	// A succeeded child whose input changes starts again too.
	c = h.claimRun(p.Run.ID, pipeA)
	changed[0].Input = json.RawMessage(`{"item":"zero, fixed"}`)
	h.fork(c.Lease, 0, changed)
	assert.Equal(t, store.Waiting, h.status(p.Run.ID))
	z := h.get(kids[0].ID).Run
	assert.Equal(t, store.Queued, z.Status)
	assert.Equal(t, 2, z.Attempt)
	assert.Nil(t, z.Output, "the new attempt has no output yet")
	assert.Equal(t, 2, h.get(kids[2].ID).Run.Attempt, "a child with the same input is kept")
}

// Spent and Budget are kept on the run and its branch.
func testSpentAndBudget(t *testing.T, h *harness) {
	top := h.enqueue(pipeB, func(nr *store.NewRun) { nr.Budget = store.Spend{Tokens: 20000, Cost: 2} })
	assert.Equal(t, store.Spend{Tokens: 20000, Cost: 2}, top.Budget)
	assert.Equal(t, store.Spend{Tokens: 20000, Cost: 2}, h.get(top.ID).Run.Budget)
	c := h.claimRun(top.ID, pipeB)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.DeadLettered, Step: "parse", Error: "x",
		Class: retry.ClassBudget, Spent: store.Spend{Tokens: 20001, Cost: 1.5}}))
	assert.Equal(t, store.Spend{Tokens: 20001, Cost: 1.5}, h.get(top.ID).Run.Spent)

	p := h.forkingParent()
	kids := branches(p.Run.ID, "sub", 1, false)
	kids[0].Budget = store.Spend{Tokens: 900, Cost: 0.09}
	h.fork(p.Lease, 0, kids)
	assert.Equal(t, kids[0].Budget, h.get(kids[0].ID).Run.Budget)
	k := h.claimRun(kids[0].ID, kids[0].Pipeline)
	assert.Equal(t, kids[0].Budget, k.Run.Budget, "a claim carries the budget")
	spent := store.Spend{Tokens: 640, Cost: 0.0425}
	require.NoError(t, h.s.Finish(h.ctx, k.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{}`), Spent: spent}))
	assert.Equal(t, spent, h.get(kids[0].ID).Run.Spent)
	bs := h.branches(store.BranchQuery{Parent: p.Run.ID})
	require.Len(t, bs, 1)
	assert.Equal(t, spent, bs[0].Spent)
}

// Import refuses a waiting run: only the store's own forks make one.
func testImportWaiting(t *testing.T, h *harness) {
	d := store.RunDetail{
		Run: store.Run{ID: "imported-w", Pipeline: pipeA, Status: store.Waiting, Attempt: 1, Input: json.RawMessage(`{}`),
			Step: forkStep, KeepPayloads: true, CreatedAt: Start, UpdatedAt: Start},
		Attempts: []store.RunAttempt{{Attempt: 1, Reason: "submitted", Input: json.RawMessage(`{}`), Status: store.Waiting, StartedAt: Start}},
	}
	_, err := h.s.Import(h.ctx, d)
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = h.s.GetRun(h.ctx, "imported-w")
	assert.ErrorIs(t, err, store.ErrNotFound, "nothing was recorded")
}
