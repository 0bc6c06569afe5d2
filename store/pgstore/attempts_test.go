package pgstore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storekit"
)

// TestAttemptsOfEveryFormatRead: a step record written in format 0 (the
// bare array of attempts), format 1 or format 2 reads as storekit decodes it, and a
// new record is written in the current format.
func TestAttemptsOfEveryFormatRead(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	s := openStore(t, pgstore.Config{Schema: schema})
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: json.RawMessage(`{"name":"Ada"}`), KeepPayloads: true})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "classify", Status: store.StepSucceeded,
		Attempts: []store.AttemptRecord{{Step: "classify", Number: 1}}}))

	pool, steps := admin(t), pgx.Identifier{schema, "steps"}.Sanitize()
	var written []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT attempts FROM "+steps+" WHERE run_id = 'run-1'").Scan(&written))
	assert.Equal(t, "\x02\x01\x02\bclassify\x01\x00", string(written), "format 2")

	for _, name := range []string{"attempts-v0.json", "attempts-v1.json", "attempts-v2.bin"} {
		blob, err := os.ReadFile(filepath.Join("..", "storekit", "testdata", name))
		require.NoError(t, err)
		want, err := storekit.DecodeAttempts(blob)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		_, err = pool.Exec(ctx, "UPDATE "+steps+" SET attempts = $1 WHERE run_id = 'run-1'", blob)
		require.NoError(t, err)
		d, err := s.GetRun(ctx, "run-1")
		require.NoError(t, err)
		require.Len(t, d.Steps, 1)
		assert.Equal(t, want, d.Steps[0].Attempts, name)
	}

	_, err = pool.Exec(ctx, "UPDATE "+steps+" SET attempts = $1 WHERE run_id = 'run-1'", []byte(`{"v":99,"attempts":[]}`))
	require.NoError(t, err)
	_, err = s.GetRun(ctx, "run-1")
	assert.ErrorContains(t, err, "format 99", "a newer format is refused, not misread")
}

// TestAttemptRowWrittenOnceAnAttempt: an attempt's row, with the run's
// input in it, is written when the attempt starts and not rewritten by
// the claim, checkpoints or the end (under MVCC each rewrite would leave
// a dead copy of the input); GetRun reads the current attempt's outcome
// from the run. The next attempt's start writes the outcome into the
// ended attempt's row, where a recovery's time is read from.
func TestAttemptRowWrittenOnceAnAttempt(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	s := openStore(t, pgstore.Config{Schema: schema})
	pool, attempts := admin(t), pgx.Identifier{schema, "attempts"}.Sanitize()
	version := func(attempt int) (xmin string, status string, finished *time.Time) {
		t.Helper()
		require.NoError(t, pool.QueryRow(ctx, "SELECT xmin::text, status, finished_at FROM "+attempts+
			" WHERE run_id = 'run-1' AND attempt = $1", attempt).Scan(&xmin, &status, &finished))
		return xmin, status, finished
	}
	run := func(o store.Outcome) {
		t.Helper()
		c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, c, 1)
		require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded,
			Output: json.RawMessage(`{"name":"Ada","parsed":true}`)}))
		d, err := s.GetRun(ctx, "run-1")
		require.NoError(t, err)
		assert.Equal(t, store.Running, d.Attempts[len(d.Attempts)-1].Status, "a running attempt reads as running")
		require.NoError(t, s.Finish(ctx, c[0].Lease, o))
	}
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: json.RawMessage(`{"name":"Ada"}`), KeepPayloads: true})
	require.NoError(t, err)
	written, _, _ := version(1)

	run(store.Outcome{Status: store.DeadLettered, Record: &store.StepRecord{Index: 1, Step: "draft", Status: store.StepFailed,
		Error: "no reply"}, Step: "draft", Error: "no reply", Class: retry.ClassPermanent})
	xmin, status, finished := version(1)
	assert.Equal(t, written, xmin, "the claim, the checkpoint and the dead letter left the attempt's row as written")
	assert.Equal(t, "queued", status)
	assert.Nil(t, finished)
	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	require.Len(t, d.Attempts, 1)
	a := d.Attempts[0]
	assert.Equal(t, store.DeadLettered, a.Status, "the current attempt's outcome is the run's")
	assert.Equal(t, "draft", a.Step)
	assert.Equal(t, "no reply", a.Error)
	assert.Equal(t, retry.ClassPermanent, a.Class)
	assert.Equal(t, d.Run.FinishedAt, a.FinishedAt)
	assert.JSONEq(t, `{"name":"Ada"}`, string(a.Input))

	_, err = s.Replay(ctx, store.ReplayRequest{RunID: "run-1", From: "draft"})
	require.NoError(t, err)
	_, status, finished = version(1)
	assert.Equal(t, "dead_lettered", status, "the replay closed the ended attempt's row")
	require.NotNil(t, finished)
	assert.WithinDuration(t, d.Run.FinishedAt, *finished, time.Microsecond)

	run(store.Outcome{Status: store.Succeeded, Output: json.RawMessage(`{"sent":true}`)})
	d, err = s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, store.DeadLettered, d.Attempts[0].Status)
	assert.Equal(t, store.Succeeded, d.Attempts[1].Status)
	stats, err := s.Stats(ctx, "leads", time.Hour)
	require.NoError(t, err)
	require.Len(t, stats, 1)
	assert.Equal(t, 1, stats[0].Recoveries, "the recovery reads the dead letter's time from the closed attempt")
}
