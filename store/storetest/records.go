package storetest

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// RecordSizeRuns is the workload of a store's BenchmarkRecordSize: n runs
// of a three-step pipeline that carries the ~1 KB benchfixture.Lead on,
// each step changing a field, with contracts on as in production. The runs
// are submitted by 32 clients, then executed by one worker of 64 slots; it
// returns once all n have succeeded, and the store then holds what n
// succeeded runs take on disk.
func RecordSizeRuns(tb testing.TB, st store.Store, n int) {
	tb.Helper()
	var last atomic.Int64
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	sc := step.Config{Retry: retry.Never}
	qualify := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		l.Stage = "qualified"
		return l, nil
	}
	score := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) { l.Score += 5; return l, nil }
	contact := func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
		last.Add(1)
		l.Stage = "contacted"
		return l, nil
	}
	p := pipeline.New(rt, "leads", step.New("qualify", qualify, sc), pipeline.Policy{Outage: pipeline.NoOutage})
	p = pipeline.Then(p, step.New("score", score, sc))
	leads := pipeline.Then(p, step.New("contact", contact, sc))
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				if _, err := leads.Submit(ctx, benchfixture.NewLead(i), pipeline.SubmitOptions{}); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(wctx, pipeline.WorkerConfig{Concurrency: 64, Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	for last.Load() < int64(n) {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		stats, err := st.Stats(ctx, "leads", time.Nanosecond)
		require.NoError(tb, err)
		if len(stats) == 1 && stats[0].ByStatus[store.Succeeded] >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	require.NoError(tb, <-done)
}

// OlderRecords is what a SQL store's test of rows an older Plumb wrote
// needs from the store's own SQL; OlderRecordsReadBesidePackedOnes does
// the rest.
type OlderRecords struct {
	// Store is a fresh store.
	Store store.Store
	// InsertV1 writes run-1's record of step 1 ("score") as an older
	// Plumb did: input and output as bare JSON, attempts in format 1
	// (attemptsV1), finished at finished; and counts it in the run's
	// records where the store keeps that count.
	InsertV1 func(input, output json.RawMessage, attemptsV1 []byte, finished time.Time)
	// OnDisk returns run-1's step records as stored, in write order:
	// index, output column, and the attempts blob.
	OnDisk func() []DiskRecord
	// RunOutput returns run-1's output column as stored.
	RunOutput func() []byte
	// DeadLetter sets run-1's status to dead_lettered, as a failed run
	// would have left it.
	DeadLetter func()
}

// DiskRecord is a step record's columns as a store keeps them.
type DiskRecord struct {
	Index    int
	Output   []byte
	Attempts []byte
}

func leadJSON(t *testing.T, n int, edit func(*benchfixture.Lead)) json.RawMessage {
	t.Helper()
	l := benchfixture.NewLead(n)
	if edit != nil {
		edit(&l)
	}
	b, err := json.Marshal(l)
	require.NoError(t, err)
	return b
}

// OlderRecordsReadBesidePackedOnes checks that rows an older Plumb wrote
// (payloads as bare JSON, attempts in format 1) read beside the packed
// ones this one writes, in a timeline and in a claim's checkpoints; that
// a run so written goes on; that what this Plumb writes is packed
// (outputs against their attempt's input, attempts in format 2); and that
// a replay with a patch keeps the run's input.
func OlderRecordsReadBesidePackedOnes(t *testing.T, o OlderRecords) {
	ctx := context.Background()
	s := o.Store
	in := leadJSON(t, 1, nil)
	outs := []json.RawMessage{
		leadJSON(t, 1, func(l *benchfixture.Lead) { l.Stage = "qualified" }),
		leadJSON(t, 1, func(l *benchfixture.Lead) { l.Stage, l.Score = "qualified", 90 }),
		leadJSON(t, 1, func(l *benchfixture.Lead) { l.Stage, l.Score = "contacted", 90 }),
	}
	now := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	att := []store.AttemptRecord{{Step: "qualify", Number: 1, Start: now, Duration: time.Millisecond, Raw: "the model's answer"}}
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: in, KeepPayloads: true})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "qualify", Status: store.StepSucceeded,
		Output: outs[0], Attempts: att, StartedAt: now, FinishedAt: now}))

	// The second record as an older Plumb wrote it.
	v1, err := storekit.EncodeAttemptsV1(att)
	require.NoError(t, err)
	o.InsertV1(outs[0], outs[1], v1, now)

	// A worker that resumes the run gets both checkpoints back.
	require.NoError(t, s.Release(ctx, []store.Lease{c[0].Lease}))
	c, err = s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.Len(t, c[0].Checkpoints, 2)
	assert.JSONEq(t, string(outs[0]), string(c[0].Checkpoints[0].Output))
	assert.Equal(t, string(outs[1]), string(c[0].Checkpoints[1].Output))
	assert.Equal(t, string(in), string(c[0].Run.Input))
	last := store.StepRecord{Index: 2, Step: "contact", Status: store.StepSucceeded, Input: outs[1], Output: outs[2],
		Attempts: att, StartedAt: now, FinishedAt: now}
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: outs[2]}))

	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, string(in), string(d.Run.Input))
	assert.Equal(t, string(outs[2]), string(d.Run.Output))
	require.Len(t, d.Steps, 3)
	for i, rec := range d.Steps {
		assert.Equal(t, string(outs[i]), string(rec.Output), "record %d", i)
		assert.Equal(t, att, rec.Attempts, "record %d", i)
	}
	assert.Nil(t, d.Steps[0].Input)
	assert.Equal(t, string(outs[0]), string(d.Steps[1].Input))
	assert.Equal(t, string(outs[1]), string(d.Steps[2].Input))

	// What is on disk: the new records and the output packed against the
	// run's input, the older record as it was.
	for _, rec := range o.OnDisk() {
		if rec.Index == 1 {
			assert.Equal(t, string(outs[1]), string(rec.Output))
			assert.Equal(t, byte('{'), rec.Attempts[0])
			continue
		}
		assert.Equal(t, storekit.PayloadPackedDict, rec.Output[0], "record %d", rec.Index)
		assert.Less(t, len(rec.Output), 80, "record %d", rec.Index)
		assert.Equal(t, byte(2), rec.Attempts[0], "record %d: attempts format 2", rec.Index)
	}
	assert.Equal(t, storekit.PayloadPackedDict, o.RunOutput()[0])

	// A replay from the middle step with a patched input: the patch is the
	// first step's output, recorded as patched in the new attempt.
	o.DeadLetter()
	patched := leadJSON(t, 2, nil)
	_, err = s.Replay(ctx, store.ReplayRequest{RunID: "run-1", From: "score", Input: patched})
	require.NoError(t, err)
	d, err = s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, string(in), string(d.Attempts[0].Input))
	assert.Equal(t, string(in), string(d.Attempts[1].Input), "the run keeps its input: the patch is the output before \"score\"")
	require.Len(t, d.Steps, 4)
	for i := range 3 {
		assert.Equal(t, string(outs[i]), string(d.Steps[i].Output), "attempt 1 record %d", i)
	}
	assert.Equal(t, store.StepPatched, d.Steps[3].Status)
	assert.Equal(t, string(patched), string(d.Steps[3].Output))
}

// ScrubbedRecordsHashTheJSON checks that a run that keeps no payloads
// ends with none, its hashes and sizes those of the JSON, not of its
// packed form. s is a fresh store.
func ScrubbedRecordsHashTheJSON(t *testing.T, s store.Store) {
	ctx := context.Background()
	in, out := leadJSON(t, 3, nil), leadJSON(t, 3, func(l *benchfixture.Lead) { l.Stage = "won" })
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: in})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "a", Status: store.StepSucceeded, Output: out}))
	last := store.StepRecord{Index: 1, Step: "b", Status: store.StepSucceeded, Output: out}
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Succeeded, Record: &last, Output: out}))
	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Nil(t, d.Run.Input)
	assert.Nil(t, d.Run.Output)
	assert.Equal(t, store.Hash(in), d.Run.InputHash)
	for _, rec := range d.Steps {
		assert.Nil(t, rec.Output)
		assert.Equal(t, store.Hash(out), rec.OutputHash)
		assert.Equal(t, len(out), rec.OutputSize)
	}
}
