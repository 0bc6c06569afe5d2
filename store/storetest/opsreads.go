package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	runtimeids "github.com/plumb-dev/plumb/internal/ids"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// failAt dead-letters a claimed run at step with class and message.
func (h *harness) failAt(c store.Claimed, step string, class retry.Class, msg string) {
	h.t.Helper()
	h.checkpoint(c.Lease, 0, "parse", `{"name":"Ada"}`)
	fail := rec(1, step, store.StepFailed, "")
	fail.Error, fail.Class = msg, class
	require.NoError(h.t, h.s.Finish(h.ctx, c.Lease, store.Outcome{
		Status: store.DeadLettered, Record: &fail, Step: step, Error: msg, Class: class,
	}))
}

func testDeadLetterGroups(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	fail := func(pipeline, step string, class retry.Class, msg string) (store.Run, time.Time) {
		r := h.enqueue(pipeline)
		c := h.claim("w1", 1, pipeline)
		require.Len(t, c, 1)
		require.Equal(t, r.ID, c[0].Run.ID)
		at := h.clock.Now()
		h.failAt(c[0], step, class, msg)
		h.clock.Advance(time.Minute)
		return r, at
	}
	a1, a1At := fail(pipeA, "classify", retry.ClassContract, "contract violated: /label: required")
	a2, _ := fail(pipeA, "classify", retry.ClassContract, "contract violated: /label: required")
	a3, a3At := fail(pipeA, "classify", retry.ClassContract, "contract violated: /score: too large")
	t1, _ := fail(pipeA, "classify", retry.ClassTransient, "model timed out")
	b1, _ := fail(pipeB, "classify", retry.ClassPermanent, "no email")
	h.enqueue(pipeA) // queued: no dead letter

	groups := func(f store.RunFilter) []store.DeadLetterGroup {
		t.Helper()
		gs, err := h.s.DeadLetterGroups(h.ctx, f)
		require.NoError(t, err)
		return gs
	}
	all := groups(store.RunFilter{})
	require.Len(t, all, 3)
	g := all[0]
	assert.Equal(t, pipeA, g.Pipeline)
	assert.Equal(t, "classify", g.Step)
	assert.Equal(t, retry.ClassContract, g.Class)
	assert.Equal(t, 3, g.Count, "the largest group first")
	assert.Equal(t, 2, g.Errors, "two different messages")
	assert.Equal(t, "contract violated: /score: too large", g.SampleError, "the newest run's error")
	assert.Equal(t, []string{a3.ID, a2.ID, a1.ID}, g.RunIDs, "newest first")
	assert.True(t, g.Oldest.Equal(a1At), "oldest %v, want %v", g.Oldest, a1At)
	assert.True(t, g.Newest.Equal(a3At), "newest %v, want %v", g.Newest, a3At)
	assert.Zero(t, g.Branches)
	assert.Empty(t, g.Parents)
	// Groups of one: by pipeline, step and class.
	assert.Equal(t, pipeA, all[1].Pipeline)
	assert.Equal(t, retry.ClassTransient, all[1].Class)
	assert.Equal(t, []string{t1.ID}, all[1].RunIDs)
	assert.Equal(t, pipeB, all[2].Pipeline)
	assert.Equal(t, []string{b1.ID}, all[2].RunIDs)
	assert.Equal(t, 1, all[2].Errors)

	// The limit bounds the ids a group lists, not its count.
	lim := groups(store.RunFilter{Limit: 2})
	assert.Equal(t, 3, lim[0].Count)
	assert.Equal(t, []string{a3.ID, a2.ID}, lim[0].RunIDs)
	// The filters mean what they mean to ListRuns.
	only := groups(store.RunFilter{Pipeline: pipeB})
	require.Len(t, only, 1)
	assert.Equal(t, retry.ClassPermanent, only[0].Class)
	cls := groups(store.RunFilter{Class: retry.ClassTransient})
	require.Len(t, cls, 1)
	assert.Equal(t, []string{t1.ID}, cls[0].RunIDs)
	since := groups(store.RunFilter{Since: a3At})
	require.Len(t, since, 3)
	for _, g := range since {
		assert.Equal(t, 1, g.Count)
		if g.Class == retry.ClassContract {
			assert.Equal(t, []string{a3.ID}, g.RunIDs, "a3 only, of the contract group")
		}
	}
	assert.Equal(t, pipeB, since[2].Pipeline, "ties by pipeline, step and class")
	until := groups(store.RunFilter{Until: a3At})
	require.Len(t, until, 1)
	assert.Equal(t, 2, until[0].Count)
	// Statuses and Before are the query's own: they change nothing.
	assert.Equal(t, all, groups(store.RunFilter{Status: []store.Status{store.Queued}, Before: a1.ID}))
	assert.Empty(t, groups(store.RunFilter{Step: "none"}))
	// A run that gave up on an error nobody classified is dead-lettered
	// as permanent, and groups apart from those whose error said so.
	u := h.enqueue(pipeB)
	uc := h.claim("w1", 1, pipeB)
	require.Len(t, uc, 1)
	h.checkpoint(uc[0].Lease, 0, "parse", `{"name":"Ada"}`)
	ufail := rec(1, "classify", store.StepFailed, "")
	ufail.Error, ufail.Class = "field x is malformed", retry.ClassPermanent
	ufail.Attempts = []store.AttemptRecord{{Step: "classify", Number: 1, Start: Start, Error: ufail.Error,
		Class: retry.ClassTransient, Unclassified: true}}
	require.NoError(t, h.s.Finish(h.ctx, uc[0].Lease, store.Outcome{Status: store.DeadLettered, Record: &ufail,
		Step: "classify", Error: ufail.Error, Class: retry.ClassPermanent}))
	byB := groups(store.RunFilter{Pipeline: pipeB})
	require.Len(t, byB, 2)
	assert.False(t, byB[0].Unclassified)
	assert.Equal(t, []string{b1.ID}, byB[0].RunIDs, "the classified group first")
	assert.True(t, byB[1].Unclassified)
	assert.Equal(t, retry.ClassPermanent, byB[1].Class)
	assert.Equal(t, []string{u.ID}, byB[1].RunIDs)
	assert.Equal(t, "field x is malformed", byB[1].SampleError)

	// After a replay, a run is no dead letter.
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: a3.ID})
	require.NoError(t, err)
	after := groups(store.RunFilter{Pipeline: pipeA, Class: retry.ClassContract})
	require.Len(t, after, 1)
	assert.Equal(t, 2, after[0].Count)
	assert.Equal(t, 1, after[0].Errors)
	assert.Equal(t, []string{a2.ID, a1.ID}, after[0].RunIDs)

	// The unclassified run replayed, held for review and rejected is a
	// dead letter of the reviewer's, classified: what made it
	// unclassified was its earlier attempt's.
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: u.ID})
	require.NoError(t, err)
	rc := h.claim("w1", 1, pipeB)
	require.Len(t, rc, 1)
	rv := &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Input: json.RawMessage(`{"name":"Ada"}`), CreatedAt: Start}
	pending := rec(1, "classify", store.StepReview, `{"label":"warm"}`)
	require.NoError(t, h.s.Finish(h.ctx, rc[0].Lease, store.Outcome{Status: store.AwaitingReview, Record: &pending, Step: "classify", Review: rv}))
	held := h.get(u.ID).Run
	_, err = h.s.Decide(h.ctx, u.ID, store.Decision{Review: held.ReviewRef(), Approved: false, Reviewer: "ana", Reason: "wrong"})
	require.NoError(t, err)
	byB = groups(store.RunFilter{Pipeline: pipeB})
	require.Len(t, byB, 2)
	assert.Equal(t, []string{b1.ID}, byB[0].RunIDs)
	assert.Equal(t, retry.ClassNeedsReview, byB[1].Class)
	assert.False(t, byB[1].Unclassified, "a rejection is the reviewer's classification")
	assert.Equal(t, []string{u.ID}, byB[1].RunIDs)
}

func testStepHistory(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	h.enqueue(pipeA)
	h.enqueue(pipeB)
	at := func(status store.StepStatus, d time.Duration, index int, step string) store.StepRecord {
		r := rec(index, step, status, `{"ok":true}`)
		if status != store.StepSucceeded {
			r.Output, r.Error, r.Class = nil, "no", retry.ClassTransient
		}
		r.StartedAt, r.FinishedAt = Start.Add(d), Start.Add(d)
		return r
	}
	ca := h.claim("w1", 1, pipeA)[0]
	for _, r := range []store.StepRecord{
		at(store.StepSucceeded, 10*time.Second, 0, "parse"),
		at(store.StepFailed, 30*time.Minute, 1, "classify"),
		at(store.StepSucceeded, 59*time.Minute+59*time.Second, 1, "classify"),
		at(store.StepSucceeded, 61*time.Minute, 2, "reply"),
		at(store.StepFailed, 150*time.Minute, 2, "reply"),
	} {
		require.NoError(t, h.s.Checkpoint(h.ctx, ca.Lease, r))
	}
	cb := h.claim("w1", 1, pipeB)[0]
	require.NoError(t, h.s.Checkpoint(h.ctx, cb.Lease, at(store.StepSucceeded, 5*time.Minute, 0, "parse")))
	h.clock.Set(Start.Add(3 * time.Hour))

	hist := func(pipeline string, since time.Time, bucket time.Duration) []store.StepBucket {
		t.Helper()
		out, err := h.s.StepHistory(h.ctx, pipeline, since, bucket)
		require.NoError(t, err)
		return out
	}
	b := func(d time.Duration, pipeline, step string, ok, failed int) store.StepBucket {
		return store.StepBucket{Start: Start.Add(d), Pipeline: pipeline, Step: step, N: ok + failed, Succeeded: ok, Failed: failed}
	}
	norm := func(bs []store.StepBucket) []store.StepBucket {
		for i := range bs {
			bs[i].Start = bs[i].Start.UTC()
		}
		return bs
	}
	assert.Equal(t, []store.StepBucket{
		b(0, pipeA, "classify", 1, 1),
		b(0, pipeA, "parse", 1, 0),
		b(0, pipeB, "parse", 1, 0),
		b(time.Hour, pipeA, "reply", 1, 0),
		b(2*time.Hour, pipeA, "reply", 0, 1),
	}, norm(hist("", Start, time.Hour)))
	assert.Equal(t, []store.StepBucket{
		b(0, pipeB, "parse", 1, 0),
	}, norm(hist(pipeB, Start, time.Hour)))
	// since is floored to its minute: the record at 10 s counts.
	assert.Equal(t, []store.StepBucket{
		b(0, pipeA, "parse", 1, 0),
		b(30*time.Minute, pipeA, "classify", 1, 1),
		b(60*time.Minute, pipeA, "reply", 1, 0),
		b(150*time.Minute, pipeA, "reply", 0, 1),
	}, norm(hist(pipeA, Start.Add(20*time.Second), 30*time.Minute)))
	assert.Equal(t, []store.StepBucket{b(150*time.Minute, pipeA, "reply", 0, 1)},
		norm(hist(pipeA, Start.Add(150*time.Minute), time.Hour)))
	for _, bad := range []time.Duration{0, 30 * time.Second, 90 * time.Second} {
		_, err := h.s.StepHistory(h.ctx, "", Start, bad)
		assert.ErrorIs(t, err, store.ErrInvalidHistory, "bucket %v", bad)
	}
	_, err := h.s.StepHistory(h.ctx, "", Start.Add(-365*24*time.Hour), time.Minute)
	assert.ErrorIs(t, err, store.ErrInvalidHistory, "too many buckets")
}

// A list by Until finds the runs updated before it whatever their ids:
// Plumb's (ULIDs, which the SQL stores bound by time) and the
// application's own.
func testListRunsUntil(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	withID := func(id string) func(*store.NewRun) { return func(nr *store.NewRun) { nr.ID = id } }
	early := h.enqueue(pipeA, withID(runtimeids.New(h.clock.Now())))
	own := h.enqueue(pipeA, withID("aa-own-early"))
	h.clock.Advance(time.Hour)
	h.enqueue(pipeA, withID(runtimeids.New(h.clock.Now())))
	h.enqueue(pipeA, withID("ab-own-late"))
	until := Start.Add(30 * time.Minute)
	list := func(f store.RunFilter) store.RunPage {
		t.Helper()
		p, err := h.s.ListRuns(h.ctx, f)
		require.NoError(t, err)
		return p
	}
	assert.Equal(t, []string{own.ID, early.ID}, ids(list(store.RunFilter{Until: until}).Runs))
	assert.Equal(t, []string{own.ID, early.ID}, ids(list(store.RunFilter{Until: until, Pipeline: pipeA, Status: []store.Status{store.Queued}}).Runs))
	first := list(store.RunFilter{Until: until, Limit: 1})
	assert.Equal(t, []string{own.ID}, ids(first.Runs))
	assert.Equal(t, 1, first.More)
	next := list(store.RunFilter{Until: until, Limit: 1, Before: first.Next})
	assert.Equal(t, []string{early.ID}, ids(next.Runs))
	assert.Zero(t, next.More)
	capped := list(store.RunFilter{Until: until, Limit: 1, CountLimit: 5})
	assert.Equal(t, 1, capped.More)
	assert.Empty(t, list(store.RunFilter{Until: Start}).Runs)
	assert.Len(t, list(store.RunFilter{Until: Start.Add(2 * time.Hour)}).Runs, 4)
	assert.Equal(t, []string{early.ID}, ids(list(store.RunFilter{Until: until, Before: own.ID}).Runs))
	late := list(store.RunFilter{Since: until, Until: Start.Add(2 * time.Hour)})
	assert.Len(t, late.Runs, 2)
}

// The review inbox's order: the pending reviews oldest first, however
// they were submitted.
func testListRunsReviewOrder(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	review := func(pipeline string, created time.Time) store.Run {
		h.clock.Set(created)
		r := h.enqueue(pipeline)
		c := h.claim("w1", 1, pipeline)
		require.Len(t, c, 1)
		h.checkpoint(c[0].Lease, 0, "parse", `{"name":"Ada"}`)
		h.clock.Set(created)
		rv := &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Input: json.RawMessage(`{"name":"Ada"}`), CreatedAt: created}
		pending := rec(1, "classify", store.StepReview, `{"label":"warm"}`)
		require.NoError(t, h.s.Finish(h.ctx, c[0].Lease, store.Outcome{Status: store.AwaitingReview, Record: &pending, Step: "classify", Review: rv}))
		got := h.get(r.ID).Run
		require.NotNil(t, got.Review)
		require.True(t, got.Review.CreatedAt.Equal(created), "review opened at %v, want %v", got.Review.CreatedAt, created)
		return got
	}
	// Submitted in one order, reviews opened in another.
	late := review(pipeA, Start.Add(3*time.Hour))
	early := review(pipeA, Start.Add(time.Hour))
	other := review(pipeB, Start.Add(2*time.Hour))
	earliest := review(pipeA, Start.Add(time.Hour-time.Microsecond))
	h.enqueue(pipeA) // not awaiting review
	list := func(f store.RunFilter) []string {
		t.Helper()
		f.Status, f.ReviewOrder = []store.Status{store.AwaitingReview}, true
		p, err := h.s.ListRuns(h.ctx, f)
		require.NoError(t, err)
		assert.Zero(t, p.More)
		return ids(p.Runs)
	}
	assert.Equal(t, []string{earliest.ID, early.ID, other.ID, late.ID}, list(store.RunFilter{}))
	assert.Equal(t, []string{earliest.ID, early.ID}, list(store.RunFilter{Limit: 2}))
	assert.Equal(t, []string{earliest.ID, early.ID, late.ID}, list(store.RunFilter{Pipeline: pipeA}))
	assert.Equal(t, []string{other.ID}, list(store.RunFilter{Pipeline: pipeB}))
	// A decided review is no longer pending.
	_, err := h.s.Decide(h.ctx, early.ID, store.Decision{Review: early.ReviewRef(), Approved: false, Reviewer: "ana", Reason: "wrong"})
	require.NoError(t, err)
	assert.Equal(t, []string{earliest.ID, other.ID, late.ID}, list(store.RunFilter{}))
	// Other statuses or a page cursor are refused, saying why.
	_, err = h.s.ListRuns(h.ctx, store.RunFilter{ReviewOrder: true})
	assert.ErrorIs(t, err, store.ErrConflict)
	_, err = h.s.ListRuns(h.ctx, store.RunFilter{ReviewOrder: true, Status: []store.Status{store.AwaitingReview}, Before: late.ID})
	assert.ErrorIs(t, err, store.ErrConflict)
}
