package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storekit"
)

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

// Rows an older Plumb wrote (payloads as bare JSON, attempts in format 1)
// read beside the packed ones this one writes, in a timeline and in a
// claim's checkpoints, and a run so written goes on.
func TestOlderRecordsReadBesidePackedOnes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plumb.db")
	s := open(t, path, sqlitestore.Config{Synchronous: "NORMAL"})
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
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	v1, err := storekit.EncodeAttemptsV1(att)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, input, output, output_hash, output_size,
		attempts, started_at, finished_at) VALUES ('run-1', 'leads', 1, 1, 'score', 'succeeded', ?, ?, '', 0, ?, ?, ?)`,
		[]byte(outs[0]), []byte(outs[1]), v1, now.UnixNano(), now.UnixNano())
	require.NoError(t, err)

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
	rows, err := db.Query("SELECT idx, output, length(output), attempts FROM steps WHERE run_id = 'run-1' ORDER BY seq")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var idx, n int
		var out, blob []byte
		require.NoError(t, rows.Scan(&idx, &out, &n, &blob))
		if idx == 1 {
			assert.Equal(t, string(outs[1]), string(out))
			assert.Equal(t, byte('{'), blob[0])
			continue
		}
		assert.Equal(t, storekit.PayloadPackedDict, out[0], "record %d", idx)
		assert.Less(t, n, 80, "record %d", idx)
		assert.Equal(t, byte(2), blob[0], "record %d: attempts format 2", idx)
	}
	require.NoError(t, rows.Err())
	var runOut []byte
	require.NoError(t, db.QueryRow("SELECT output FROM runs WHERE id = 'run-1'").Scan(&runOut))
	assert.Equal(t, storekit.PayloadPackedDict, runOut[0])

	// A replay from the middle step with a patched input: the patch is the
	// first step's output, recorded as patched in the new attempt.
	_, err = db.Exec("UPDATE runs SET status = 'dead_lettered' WHERE id = 'run-1'")
	require.NoError(t, err)
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

// A run that keeps no payloads ends with none, hashes and sizes those of
// the JSON, not of its packed form.
func TestScrubbedRecordsHashTheJSON(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Synchronous: "NORMAL"})
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
