package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The tree fixture is a SQLite file of branch runs, made with the store
// calls a worker makes (Enqueue, Claim, Checkpoint, Fork, Finish) on a
// fixed clock, so that its records are the same on every run. A "posts"
// run parses a batch, forks one "publish-post" run per post at its
// publish step (index 1), and reports. publish-post fetches the post's
// page and summarises it; a summary without its field breaks the
// contract.

const (
	parentPipeline = "posts"
	subPipeline    = "publish-post"
	forkAt         = "publish"
	forkAtIndex    = 1
)

var (
	postsDef = store.PipelineDef{Name: parentPipeline, KeepPayloads: true, Steps: []store.StepDef{
		{Name: "parse", InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: forkAt, InputSchema: json.RawMessage(`{"type":"object"}`)},
		{Name: "report", InputSchema: json.RawMessage(`{"type":"array"}`)},
	}}
	publishDef = store.PipelineDef{Name: subPipeline, KeepPayloads: true, Steps: []store.StepDef{
		{Name: "fetch", InputSchema: json.RawMessage(`{"type":"object","required":["url"],"properties":{"url":{"type":"string","minLength":1}}}`)},
		{Name: "summarise", InputSchema: json.RawMessage(`{"type":"object","required":["url","page"],"properties":{"url":{"type":"string"},"page":{"type":"string","minLength":1}}}`)},
	}}
)

type treeFixture struct {
	t      *testing.T
	ctx    context.Context
	dir    string
	clock  *retrytest.Clock
	st     store.Store
	leases map[string]store.Lease
}

func newTreeFixture(t *testing.T) *treeFixture {
	t.Helper()
	dir := t.TempDir()
	clock := retrytest.NewClock(goldenStart)
	st, err := sqlitestore.Open(filepath.Join(dir, "plumb.db"), sqlitestore.Config{Logger: slog.New(slog.DiscardHandler), Clock: clock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	f := &treeFixture{t: t, ctx: context.Background(), dir: dir, clock: clock, st: st, leases: map[string]store.Lease{}}
	require.NoError(t, st.RegisterPipeline(f.ctx, postsDef))
	require.NoError(t, st.RegisterPipeline(f.ctx, publishDef))
	return f
}

func (f *treeFixture) plumb(args ...string) result {
	f.t.Helper()
	return cli{dir: f.dir}.run(f.t, append([]string{"--db", "plumb.db"}, args...)...)
}

func (f *treeFixture) ok(args ...string) result {
	f.t.Helper()
	r := f.plumb(args...)
	require.Equal(f.t, 0, r.code, "plumb %v\n%s", args, r)
	return r
}

func (f *treeFixture) tick() { f.clock.Advance(time.Second) }

// claim leases every claimable run of pipeline, keeping the leases.
func (f *treeFixture) claim(pipeline string) {
	f.t.Helper()
	got, err := f.st.Claim(f.ctx, store.ClaimRequest{Worker: "w-1", Pipelines: []string{pipeline}, Limit: 100, Lease: time.Hour})
	require.NoError(f.t, err)
	for _, c := range got {
		f.leases[c.Run.ID] = c.Lease
	}
}

// lease returns the lease of a run, claiming its pipeline's runs first
// when it is not held.
func (f *treeFixture) lease(id, pipeline string) store.Lease {
	f.t.Helper()
	if _, ok := f.leases[id]; !ok {
		f.claim(pipeline)
	}
	l, ok := f.leases[id]
	require.True(f.t, ok, "run %s is not claimable", id)
	delete(f.leases, id)
	return l
}

func (f *treeFixture) record(id string, attempt, index int, name string, status store.StepStatus, output string) store.StepRecord {
	r := store.StepRecord{RunID: id, RunAttempt: attempt, Index: index, Step: name, Status: status,
		StartedAt: f.clock.Now(), FinishedAt: f.clock.Now().Add(200 * time.Millisecond)}
	if output != "" {
		r.Output = json.RawMessage(output)
	}
	return r
}

// parent submits a posts run and forks n children at publish, Limit
// bounding how many run at once.
func (f *treeFixture) parent(id string, n, limit int) []store.NewRun {
	f.t.Helper()
	_, _, err := f.st.Enqueue(f.ctx, store.NewRun{ID: id, Pipeline: parentPipeline, Input: json.RawMessage(`{"batch":"` + id + `"}`),
		KeepPayloads: true, Trigger: step.Trigger{Source: "cron", ExternalID: id, ReceivedAt: f.clock.Now()}})
	require.NoError(f.t, err)
	f.tick()
	l := f.lease(id, parentPipeline)
	posts := make([]string, n)
	for i := range posts {
		posts[i] = fmt.Sprintf(`{"url":"https://example.com/%s/%d"}`, id, i)
	}
	require.NoError(f.t, f.st.Checkpoint(f.ctx, l, f.record(id, 1, 0, "parse", store.StepSucceeded, "["+strings.Join(posts, ",")+"]")))
	f.tick()
	kids := make([]store.NewRun, n)
	for i := range kids {
		kids[i] = store.NewRun{ID: store.BranchID(id, forkAtIndex, i), Pipeline: subPipeline, Input: json.RawMessage(posts[i]), KeepPayloads: true,
			Trigger: step.Trigger{Source: "branch:" + parentPipeline + "/" + forkAt, ExternalID: id},
			Parent:  &store.Parent{RunID: id, Step: forkAt, Index: forkAtIndex, Branch: i}}
	}
	wait := f.record(id, 1, forkAtIndex, forkAt, store.StepWaiting, "")
	wait.Note = fmt.Sprintf("forked %d branches", n)
	require.NoError(f.t, f.st.Fork(f.ctx, l, store.Fork{Record: wait, Children: kids, Limit: limit}))
	f.tick()
	return kids
}

// succeed takes a child through both steps.
func (f *treeFixture) succeed(nr store.NewRun) {
	f.t.Helper()
	f.succeedID(nr.ID)
}

func (f *treeFixture) succeedID(id string) {
	f.t.Helper()
	l := f.lease(id, subPipeline)
	if l.Attempt == 1 {
		require.NoError(f.t, f.st.Checkpoint(f.ctx, l, f.record(id, l.Attempt, 0, "fetch", store.StepSucceeded, `{"url":"u","page":"<p>hi</p>"}`)))
	}
	last := f.record(id, l.Attempt, 1, "summarise", store.StepSucceeded, `{"summary":"hi"}`)
	require.NoError(f.t, f.st.Finish(f.ctx, l, store.Outcome{Status: store.Succeeded, Record: &last, Output: last.Output}))
	f.tick()
}

// fail dead-letters a child at summarise with msg, which may hold control
// characters a terminal must not receive raw.
func (f *treeFixture) fail(nr store.NewRun, msg string) {
	f.t.Helper()
	l := f.lease(nr.ID, subPipeline)
	require.NoError(f.t, f.st.Checkpoint(f.ctx, l, f.record(nr.ID, l.Attempt, 0, "fetch", store.StepSucceeded, `{"url":"`+nr.ID+`","page":""}`)))
	rec := f.record(nr.ID, l.Attempt, 1, "summarise", store.StepFailed, "")
	rec.Error, rec.Class = `step "summarise" failed (contract) after 1 attempt: contract: `+msg, retry.ClassContract
	require.NoError(f.t, f.st.Finish(f.ctx, l, store.Outcome{Status: store.DeadLettered, Record: &rec, Step: "summarise", Error: rec.Error, Class: rec.Class}))
	f.tick()
}

// review stops a child to await review at summarise.
func (f *treeFixture) review(nr store.NewRun) {
	f.t.Helper()
	l := f.lease(nr.ID, subPipeline)
	pending := f.record(nr.ID, l.Attempt, 1, "summarise", store.StepReview, `{"summary":"maybe"}`)
	require.NoError(f.t, f.st.Finish(f.ctx, l, store.Outcome{Status: store.AwaitingReview, Record: &pending, Step: "summarise",
		Review: &store.Review{Step: "summarise", Index: 1, Reason: "confidence 0.4 is below 0.5", Proposed: pending.Output}}))
	f.tick()
}

// joinFails claims a parent its children queued again and dead-letters it
// at publish, as a join that needs every branch does.
func (f *treeFixture) joinFails(id string, failed ...string) {
	f.t.Helper()
	l := f.lease(id, parentPipeline)
	rec := f.record(id, l.Attempt, forkAtIndex, forkAt, store.StepFailed, "")
	rec.Error, rec.Class = fmt.Sprintf(`step "publish" failed (permanent) after 1 attempt: permanent: %s failed`, plural(len(failed), "branch", "branches")), retry.ClassPermanent
	for _, c := range failed {
		rec.Error += "; " + c + " at summarise (contract)"
	}
	require.NoError(f.t, f.st.Finish(f.ctx, l, store.Outcome{Status: store.DeadLettered, Record: &rec, Step: forkAt, Error: rec.Error, Class: rec.Class}))
	f.tick()
}

func (f *treeFixture) get(id string) *store.RunDetail {
	f.t.Helper()
	d, err := f.st.GetRun(f.ctx, id)
	require.NoError(f.t, err)
	return d
}

// forest is the fixture's store:
//
//	run-p     dead-lettered at publish: 4 of 5 branches succeeded, run-p.1.3 dead-lettered
//	run-w     waiting at publish: 1 succeeded, 1 dead-lettered (its error holds ESC sequences), 1 in review, 1 queued, 1 waiting for a slot (limit 1)
//	run-many  dead-lettered at publish: all 8 branches dead-lettered
//	run-solo  a top-level run dead-lettered at parse, no branches
func forest(t *testing.T) *treeFixture {
	f := newTreeFixture(t)
	p := f.parent("run-p", 5, 0)
	for i, k := range p {
		if i == 3 {
			f.fail(k, "/summary: required")
			continue
		}
		f.succeed(k)
	}
	f.joinFails("run-p", p[3].ID)

	many := f.parent("run-many", 8, 0)
	var ids []string
	for _, k := range many {
		f.fail(k, "/summary: required")
		ids = append(ids, k.ID)
	}
	f.joinFails("run-many", ids...)

	_, _, err := f.st.Enqueue(f.ctx, store.NewRun{ID: "run-solo", Pipeline: parentPipeline, Input: json.RawMessage(`{}`), KeepPayloads: true})
	require.NoError(t, err)
	f.tick()
	l := f.lease("run-solo", parentPipeline)
	require.NoError(t, f.st.Finish(f.ctx, l, store.Outcome{Status: store.DeadLettered, Step: "parse", Error: "no posts", Class: retry.ClassPermanent}))
	f.tick()

	// Last, so that no claim above takes its queued branch.
	w := f.parent("run-w", 5, 1)
	f.succeed(w[0])
	f.fail(w[1], "/summary: required\x1b[2J\x1b[31mgotcha")
	f.review(w[2])
	return f
}
