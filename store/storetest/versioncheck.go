package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// pagedOps lists at most limit runs a page, so that CheckVersions goes
// through its paging loop over a handful of runs.
type pagedOps struct {
	store.Ops
	limit int
	pages int
}

func (p *pagedOps) ListRuns(ctx context.Context, f store.RunFilter) (store.RunPage, error) {
	p.pages++
	f.Limit = min(f.Limit, p.limit)
	return p.Ops.ListRuns(ctx, f)
}

// CheckVersions reads every run of the pipeline that may still go on,
// skips those started under the definition checked against, and lists
// those whose records break it: a queued run's input, a dead-lettered or
// held run's checkpoint before the step it would be replayed from, the
// output awaiting review. A run whose payloads were not kept is
// uncheckable; a succeeded run and another pipeline's are not looked at.
// Nothing is written.
func testCheckVersions(t *testing.T, h *harness) {
	// The runs a worker takes first, while nothing else is claimable.
	review, _ := h.awaitReview(`{"confidence":0.4}`)
	dead := h.enqueue(pipeA, withVersion(v1))
	h.deadLetter(h.claimOne("w1"))
	scrubbed := h.enqueue(pipeA, withVersion(v1), func(nr *store.NewRun) { nr.KeepPayloads = false })
	h.deadLetter(h.claimOne("w1"))
	held := h.enqueue(pipeA, withVersion(v1))
	h.hold(h.claimOne("w1"))
	done := h.enqueue(pipeA, withVersion(v1), func(nr *store.NewRun) { nr.Input = json.RawMessage(`{"x":1}`) })
	h.finish(h.claimOne("w1").Lease, store.Succeeded)
	running := h.enqueue(pipeA, withVersion(v1))
	rc := h.claimOne("w1")
	require.Equal(t, running.ID, rc.Run.ID)
	h.checkpoint(rc.Lease, 0, "parse", `{"email":"ada@example.com"}`)
	// Queued runs: one started under v2, one whose input breaks it, one
	// that meets it; and another pipeline's run that would break it.
	h.enqueue(pipeA, withVersion(v2), func(nr *store.NewRun) { nr.Input = json.RawMessage(`{"x":1}`) })
	broken := h.enqueue(pipeA, withVersion(v1), func(nr *store.NewRun) { nr.Input = json.RawMessage(`{"x":1}`) })
	h.enqueue(pipeA, withVersion(v1))
	h.enqueue(pipeB, func(nr *store.NewRun) { nr.Input = json.RawMessage(`{"x":1}`) })

	next := registered(defV2, v2)
	paged := &pagedOps{Ops: h.s, limit: 2}
	var progress []int
	rep, err := store.CheckVersions(h.ctx, paged, []store.PipelineDef{next}, func(n int) { progress = append(progress, n) })
	require.NoError(t, err)
	assert.GreaterOrEqual(t, paged.pages, 4, "eight runs, two a page")
	require.Len(t, rep.Definitions, 1)
	assert.Equal(t, v2, rep.Definitions[0].Version)
	assert.Equal(t, 1, rep.Current, "the run started under v2 is skipped")
	assert.Equal(t, 7, rep.Checked, "every other run that may go on, and no succeeded one")
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, progress)
	assert.Equal(t, []string{scrubbed.ID}, rep.Uncheckable, "its checkpoint's output was not kept")
	assert.False(t, rep.OK())

	got := map[string]store.Incompatibility{}
	for _, inc := range rep.Broken {
		got[inc.RunID] = inc
	}
	require.Len(t, got, 4, "broken: %+v", rep.Broken)
	for _, want := range []struct {
		id     string
		status store.Status
		ver    store.Version
		step   string
		what   string
	}{
		{broken.ID, store.Queued, v1, "parse", "input"},
		{dead.ID, store.DeadLettered, v1, "classify", "checkpoint"},
		{held.ID, store.Held, v1, "classify", "checkpoint"},
		{review.ID, store.AwaitingReview, store.Version{}, "classify", "review"},
	} {
		inc, ok := got[want.id]
		if !assert.True(t, ok, "run %s (%s) breaks v2", want.id, want.status) {
			continue
		}
		assert.Equal(t, pipeA, inc.Pipeline, want.id)
		assert.Equal(t, want.status, inc.Status, want.id)
		assert.Equal(t, want.ver, inc.Version, want.id)
		assert.Equal(t, want.step, inc.Step, want.id)
		assert.Equal(t, defV2.Index(want.step), inc.Index, want.id)
		assert.Equal(t, want.what, inc.What, want.id)
		assert.NotEmpty(t, inc.Reason, want.id)
		assert.NotEmpty(t, inc.Violations, "%s: each violation with its path", want.id)
	}
	assert.NotContains(t, got, done.ID)
	assert.NotContains(t, got, running.ID, "its checkpoint meets v2")

	whole, err := store.CheckVersions(h.ctx, h.s, []store.PipelineDef{next}, nil)
	require.NoError(t, err)
	assert.Equal(t, rep.Checked, whole.Checked, "one page or many, the same report")
	assert.Equal(t, rep.Current, whole.Current)
	assert.ElementsMatch(t, rep.Broken, whole.Broken)

	assert.Equal(t, store.Queued, h.status(broken.ID), "a check writes nothing")
	assert.Equal(t, store.Held, h.status(held.ID))
	assert.Equal(t, store.AwaitingReview, h.status(review.ID))

	// Against the definition they started under, the v1 runs are current.
	same, err := store.CheckVersions(h.ctx, h.s, []store.PipelineDef{registered(def, v1)}, nil)
	require.NoError(t, err)
	assert.Equal(t, 6, same.Current, "the runs started under v1")
	assert.Equal(t, 2, same.Checked, "the unversioned review and the v2 run")
}
