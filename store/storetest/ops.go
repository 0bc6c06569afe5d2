package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

func ids(runs []store.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

func testListRuns(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	a1 := h.enqueue(pipeA)
	b1 := h.enqueue(pipeB)
	a2 := h.enqueue(pipeA)
	// a2 is claimed first (oldest of pipeA left after a1? no: a1 is oldest).
	c := h.claim("w1", 1, pipeA)
	require.Equal(t, a1.ID, c[0].Run.ID)
	h.deadLetter(c[0])
	h.clock.Advance(time.Hour)
	a3 := h.enqueue(pipeA)

	list := func(f store.RunFilter) []string {
		runsPage, err := h.s.ListRuns(h.ctx, f)
		runs := runsPage.Runs
		require.NoError(t, err)
		return ids(runs)
	}
	assert.Equal(t, []string{a3.ID, a2.ID, b1.ID, a1.ID}, list(store.RunFilter{}), "newest first")
	assert.Equal(t, []string{a3.ID, a2.ID, a1.ID}, list(store.RunFilter{Pipeline: pipeA}))
	assert.Equal(t, []string{a1.ID}, list(store.RunFilter{Status: []store.Status{store.DeadLettered}}))
	assert.Equal(t, []string{a3.ID, a2.ID, b1.ID}, list(store.RunFilter{Status: []store.Status{store.Queued}}))
	assert.Equal(t, []string{a3.ID, a2.ID, a1.ID}, list(store.RunFilter{Pipeline: pipeA, Status: []store.Status{store.Queued, store.DeadLettered}}))
	assert.Equal(t, []string{a1.ID}, list(store.RunFilter{Step: "classify"}))
	assert.Equal(t, []string{a1.ID}, list(store.RunFilter{Class: retry.ClassContract}))
	assert.Empty(t, list(store.RunFilter{Class: retry.ClassTransient}))
	assert.Equal(t, []string{a3.ID}, list(store.RunFilter{Since: Start.Add(30 * time.Minute)}))
	assert.Equal(t, []string{a2.ID, b1.ID, a1.ID}, list(store.RunFilter{Until: Start.Add(30 * time.Minute)}))
	assert.Equal(t, []string{a3.ID, a2.ID}, list(store.RunFilter{Limit: 2}))
	assert.Equal(t, []string{b1.ID, a1.ID}, list(store.RunFilter{Limit: 2, Before: a2.ID}), "paging")
}

func testPause(t *testing.T, h *harness) {
	for i := 0; i < 3; i++ {
		h.enqueue(pipeA)
	}
	other := h.enqueue(pipeB)
	p, err := h.s.GetPause(h.ctx, pipeA)
	require.NoError(t, err)
	assert.Nil(t, p)

	require.NoError(t, h.s.SetPause(h.ctx, store.Pause{Pipeline: pipeA, Reason: "classify failing 60% of 20", By: "breaker:classify"}))
	p, err = h.s.GetPause(h.ctx, pipeA)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, "classify failing 60% of 20", p.Reason)
	assert.Equal(t, "breaker:classify", p.By)
	assert.True(t, p.Since.Equal(h.clock.Now()))

	got := h.claim("w1", 10)
	require.Len(t, got, 1, "a paused pipeline's runs are not claimed; others are")
	assert.Equal(t, other.ID, got[0].Run.ID)

	p.ProbeAfter = h.clock.Now().Add(time.Minute)
	require.NoError(t, h.s.SetPause(h.ctx, *p))
	assert.Empty(t, h.claim("w1", 10, pipeA), "no probe before the cool-down")
	h.clock.Advance(time.Minute)
	probe := h.claim("w1", 10, pipeA)
	require.Len(t, probe, 1, "exactly one probe after the cool-down")
	assert.Empty(t, h.claim("w2", 10, pipeA), "only one probe")
	p, err = h.s.GetPause(h.ctx, pipeA)
	require.NoError(t, err)
	assert.Equal(t, probe[0].Run.ID, p.ProbeRun)

	was, err := h.s.ClearPause(h.ctx, store.Resume{Pipeline: pipeA, By: "ana@example.com", Reason: "model back"})
	require.NoError(t, err)
	assert.True(t, was)
	was, err = h.s.ClearPause(h.ctx, store.Resume{Pipeline: pipeA, By: "ana@example.com", Reason: "again"})
	require.NoError(t, err)
	assert.False(t, was)
	assert.Len(t, h.claim("w1", 10, pipeA), 2, "intake resumes")
}

func testDeadLetterSink(t *testing.T, h *harness) {
	sink := deadletter.Store(h.s)
	l := &deadletter.Letter{
		Pipeline: pipeA, RunID: "inproc-1", Step: "classify",
		Trigger: step.Trigger{Source: "cron"},
		Input:   json.RawMessage(`{"name":"Ada"}`), LastOutput: `{"label":"HOT"}`,
		Class: retry.ClassContract, Error: "contract violated: /label: enum",
		Attempts:  []step.Attempt{{Step: "classify", Number: 1, Start: Start, Error: "contract violated", Class: retry.ClassContract, Raw: `{"label":"HOT"}`}},
		StartedAt: Start, FailedAt: Start.Add(time.Second), NeedsHuman: true,
	}
	require.NoError(t, sink.Send(h.ctx, l))
	d := h.get("inproc-1")
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "classify", d.Run.Step)
	assert.Equal(t, retry.ClassContract, d.Run.Class)
	assert.JSONEq(t, `{"name":"Ada"}`, string(d.Run.Input))
	assert.Equal(t, "cron", d.Run.Trigger.Source)
	require.NotEmpty(t, d.Steps)
	last := d.Steps[len(d.Steps)-1]
	require.Len(t, last.Attempts, 1)
	assert.Equal(t, `{"label":"HOT"}`, last.Attempts[0].Raw, "raw answers are kept")

	require.NoError(t, sink.Send(h.ctx, l), "a letter for a run already recorded changes nothing")
	runsPage, err := h.s.ListRuns(h.ctx, store.RunFilter{})
	runs := runsPage.Runs
	require.NoError(t, err)
	assert.Len(t, runs, 1)

	r := h.enqueue(pipeA)
	c := h.claimOne("w1")
	h.deadLetter(c)
	l2 := *l
	l2.RunID = r.ID
	require.NoError(t, sink.Send(h.ctx, &l2))
	assert.Len(t, h.get(r.ID).Steps, 2, "the store's own record stays canonical")
}

func testPipelines(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	b := store.PipelineDef{Name: pipeB, Steps: []store.StepDef{{Name: "draft"}}, ExpectEvery: 2 * time.Hour}
	require.NoError(t, h.s.RegisterPipeline(h.ctx, b))
	got, err := h.s.Pipeline(h.ctx, pipeA)
	require.NoError(t, err)
	require.Len(t, got.Steps, 3)
	assert.Equal(t, "classify", got.Steps[1].Name)
	assert.JSONEq(t, string(def.Steps[1].OutputSchema), string(got.Steps[1].OutputSchema))
	assert.True(t, got.KeepPayloads)
	assert.Equal(t, 1, got.Index("classify"))

	b.Steps = append(b.Steps, store.StepDef{Name: "publish"})
	require.NoError(t, h.s.RegisterPipeline(h.ctx, b), "registering again updates the definition")
	all, err := h.s.Pipelines(h.ctx)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, pipeA, all[0].Name)
	assert.Len(t, all[1].Steps, 2)
	assert.Equal(t, 2*time.Hour, all[1].ExpectEvery)
}

func testStats(t *testing.T, h *harness) {
	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	// One dead letter replayed to success an hour later: a recovery.
	r := h.enqueue(pipeA)
	h.deadLetter(h.claimOne("w1"))
	h.clock.Advance(time.Hour)
	_, err := h.s.Replay(h.ctx, store.ReplayRequest{RunID: r.ID})
	require.NoError(t, err)
	c := h.claimOne("w1")
	h.checkpoint(c.Lease, 1, "classify", `{"label":"hot"}`)
	last := rec(2, "draft", store.StepSucceeded, `"Hi"`)
	require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: json.RawMessage(`"Hi"`)}))
	// One awaiting review, one deferred, one queued.
	h.awaitReview(`{"label":"warm"}`)
	reviewOpened := h.clock.Now()
	d := h.enqueue(pipeA)
	cd := h.claimOne("w1")
	require.Equal(t, d.ID, cd.Run.ID)
	require.NoError(t, h.s.Finish(h.ctx, cd.Lease, store.Outcome{Status: store.Queued, NotBefore: h.clock.Now().Add(time.Hour)}))
	h.enqueue(pipeA)

	stats, err := h.s.Stats(h.ctx, pipeA, 0)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	s := stats[0]
	assert.Equal(t, pipeA, s.Pipeline)
	assert.Equal(t, 1, s.ByStatus[store.Succeeded])
	assert.Equal(t, 1, s.ByStatus[store.AwaitingReview])
	assert.Equal(t, 2, s.ByStatus[store.Queued])
	assert.Equal(t, 1, s.Deferred)
	assert.True(t, s.OldestReview.Equal(reviewOpened), "oldest review %s, want %s", s.OldestReview, reviewOpened)
	assert.Equal(t, 1, s.Recoveries)
	assert.Equal(t, time.Hour, s.MeanRecovery, "from the dead letter to the successful replay")
	byStep := map[string]store.StepStats{}
	for _, st := range s.Steps {
		byStep[st.Step] = st
	}
	assert.Equal(t, 1, byStep["classify"].Failed)
	assert.Equal(t, 1, byStep["classify"].Succeeded)
	assert.InDelta(t, 0.5, byStep["classify"].Rate, 1e-9)
	assert.Equal(t, 0, byStep["parse"].Failed)

	all, err := h.s.Stats(h.ctx, "", 0)
	require.NoError(t, err)
	assert.Len(t, all, 1)

	// A window counts only the step outcomes that ended within it.
	h.clock.Advance(2 * time.Hour)
	windowed, err := h.s.Stats(h.ctx, pipeA, time.Hour)
	require.NoError(t, err)
	require.Len(t, windowed, 1)
	for _, st := range windowed[0].Steps {
		assert.Zero(t, st.Succeeded+st.Failed, "step %s: nothing ended in the last hour", st.Step)
	}
	assert.Equal(t, 1, windowed[0].ByStatus[store.Succeeded], "run counts are not windowed")
}

func testPrune(t *testing.T, h *harness) {
	finish := func(status store.Status) store.Run {
		r := h.enqueue(pipeA, func(nr *store.NewRun) { nr.IdempotencyKey = fmt.Sprint("k", h.n+1) })
		c := h.claimOne("w1")
		require.NoError(t, h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: status, Step: "parse", Error: "x", Class: retry.ClassPermanent}))
		return r
	}
	old := finish(store.Succeeded)
	oldDead := finish(store.DeadLettered)
	h.awaitReview(`{"label":"warm"}`)
	h.clock.Advance(15 * 24 * time.Hour)
	recent := []store.Run{finish(store.Succeeded), finish(store.Succeeded), finish(store.Succeeded)}

	n, err := h.s.Prune(h.ctx, store.Retention{MaxRuns: 2})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the 15-day-old success goes by age, the oldest recent one by count")
	_, err = h.s.GetRun(h.ctx, old.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = h.s.GetRun(h.ctx, recent[0].ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	h.get(recent[1].ID)
	h.get(recent[2].ID)
	h.get(oldDead.ID)
	reviewsPage, err := h.s.ListRuns(h.ctx, store.RunFilter{Status: []store.Status{store.AwaitingReview}})
	reviews := reviewsPage.Runs
	require.NoError(t, err)
	assert.Len(t, reviews, 1, "runs awaiting review are kept until resolved")
}

func testConcurrentClaims(t *testing.T, h *harness) {
	const runs, workers = 200, 8
	for i := 0; i < runs; i++ {
		h.enqueue(pipeA)
	}
	var mu sync.Mutex
	claimedBy := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			name := fmt.Sprintf("w%d", w)
			for {
				got, err := h.s.Claim(h.ctx, store.ClaimRequest{Worker: name, Limit: 3, Lease: time.Hour})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				for _, c := range got {
					mu.Lock()
					claimedBy[c.Run.ID]++
					mu.Unlock()
					if err := h.s.Checkpoint(h.ctx, c.Lease, rec(0, "parse", store.StepSucceeded, `{}`)); err != nil {
						errs <- err
						return
					}
					if err := h.s.Finish(h.ctx, c.Lease, store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`1`)}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, claimedBy, runs)
	for id, n := range claimedBy {
		assert.Equal(t, 1, n, "run %s claimed %d times while its lease was live", id, n)
	}
	donePage, err := h.s.ListRuns(h.ctx, store.RunFilter{Status: []store.Status{store.Succeeded}, Limit: runs + 1})
	done := donePage.Runs
	require.NoError(t, err)
	assert.Len(t, done, runs)
}

func testConcurrentIdempotency(t *testing.T, h *harness) {
	const n = 16
	var wg sync.WaitGroup
	results := make(chan store.Run, n)
	created := make(chan bool, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, c, err := h.s.Enqueue(h.ctx, store.NewRun{ID: fmt.Sprintf("idem-%02d", i), Pipeline: pipeA, Input: json.RawMessage(`{}`), IdempotencyKey: "same"})
			if assert.NoError(t, err) {
				results <- r
				created <- c
			}
		}(i)
	}
	wg.Wait()
	close(results)
	close(created)
	first := ""
	for r := range results {
		if first == "" {
			first = r.ID
		}
		assert.Equal(t, first, r.ID, "every submit with one key sees one run")
	}
	count := 0
	for c := range created {
		if c {
			count++
		}
	}
	assert.Equal(t, 1, count)
}

func testClosed(t *testing.T, h *harness) {
	h.enqueue(pipeA)
	require.NoError(t, h.s.Close())
	*h.closed = true
	_, err := h.s.GetRun(h.ctx, "run-0001")
	assert.ErrorIs(t, err, store.ErrClosed)
	_, _, err = h.s.Enqueue(h.ctx, store.NewRun{ID: "x", Pipeline: pipeA})
	assert.ErrorIs(t, err, store.ErrClosed)
}

func testImport(t *testing.T, h *harness) {
	d := store.RunDetail{
		Run: store.Run{ID: "imported-1", Pipeline: pipeA, Status: store.DeadLettered, Attempt: 1, Input: json.RawMessage(`{"n":7}`),
			Step: "classify", Error: "boom", Class: retry.ClassPermanent, KeepPayloads: true,
			CreatedAt: Start, UpdatedAt: Start.Add(time.Second), FinishedAt: Start.Add(time.Second)},
		Attempts: []store.RunAttempt{{Attempt: 1, Reason: "submitted", Input: json.RawMessage(`{"n":7}`), Status: store.DeadLettered,
			Step: "classify", StartedAt: Start, FinishedAt: Start.Add(time.Second)}},
		Steps: []store.StepRecord{{RunID: "imported-1", RunAttempt: 1, Index: 1, Step: "classify", Status: store.StepFailed,
			Error: "boom", Class: retry.ClassPermanent, StartedAt: Start, FinishedAt: Start.Add(time.Second)}},
	}
	created, err := h.s.Import(h.ctx, d)
	require.NoError(t, err)
	assert.True(t, created)
	got := h.get("imported-1")
	assert.Equal(t, store.DeadLettered, got.Run.Status)
	assert.JSONEq(t, `{"n":7}`, string(got.Run.Input))
	require.Len(t, got.Steps, 1)
	assert.Equal(t, "boom", got.Steps[0].Error)
	require.Len(t, got.Attempts, 1)

	d.Run.Error = "changed"
	created, err = h.s.Import(h.ctx, d)
	require.NoError(t, err)
	assert.False(t, created, "an existing run is canonical")
	assert.Equal(t, "boom", h.get("imported-1").Run.Error)

	bad := d
	bad.Run.ID, bad.Run.Status = "imported-2", store.Status("exploded")
	_, err = h.s.Import(h.ctx, bad)
	assert.ErrorIs(t, err, store.ErrConflict)
	bad.Run.Status, bad.Run.Pipeline = store.DeadLettered, ""
	_, err = h.s.Import(h.ctx, bad)
	assert.ErrorIs(t, err, store.ErrConflict)

	require.NoError(t, h.s.RegisterPipeline(h.ctx, def))
	_, err = h.s.Replay(h.ctx, store.ReplayRequest{RunID: "imported-1", From: "parse"})
	require.NoError(t, err, "an imported run can be replayed")
}
