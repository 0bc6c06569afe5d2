package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// A store written at schema 3, before cancellations and lookups, opens at
// the latest schema with its runs intact: they read as runs nobody
// cancelled, are found by external id and key (the new indexes cover the
// rows already there), and a held one can be cancelled.
func TestSchema3RecordsReadAfterMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at, exp := now.Add(-time.Minute).UnixNano(), now.Add(time.Hour).UnixNano()
	stmts := []string{
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 3",
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id, lease_owner, lease_token, lease_expires, created_at, updated_at)
			VALUES ('run-a', 'leads', 'running', 1, 'k-1', 'webhook', 'lead-77', 'w', 'tok', %d, %d, %d)`, exp, at, at),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-a', 1, 'submitted', '{"n":1}', 'running', %d)`, at),
	}
	for _, m := range migrations[:3] {
		_, err := db.Exec(m.SQL)
		require.NoError(t, err, m.Name)
	}
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err := Open(path, Config{Clock: &manualClock{t: now}})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, latestVersion, s.SchemaVersion())
	ctx := context.Background()
	d, err := s.GetRun(ctx, "run-a")
	require.NoError(t, err)
	assert.Nil(t, d.Run.Cancel)
	for _, f := range []store.RunFilter{{ExternalID: "lead-77"}, {IdempotencyKey: "k-1"}} {
		page, err := s.ListRuns(ctx, f)
		require.NoError(t, err)
		require.Len(t, page.Runs, 1, "%+v", f)
		assert.Equal(t, "run-a", page.Runs[0].ID)
	}

	l := store.Lease{RunID: "run-a", Token: "tok", Attempt: 1}
	r, err := s.Cancel(ctx, store.CancelRequest{RunID: "run-a", By: "ops"})
	require.NoError(t, err)
	assert.Equal(t, store.Running, r.Status)
	lost, err := s.Heartbeat(ctx, []store.Lease{l}, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"run-a"}, lost)
	require.NoError(t, s.Release(ctx, []store.Lease{l}))
	d, err = s.GetRun(ctx, "run-a")
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, d.Run.Status)
	assert.Equal(t, "cancelled by ops", d.Run.Error)
}

// A run nobody cancels never writes the cancel column, and a replay
// clears it: the row of a run in flight stays as narrow as before.
func TestCancelColumnStaysNull(t *testing.T) {
	s := openTemp(t, Config{Synchronous: "NORMAL"})
	ctx := context.Background()
	require.NoError(t, s.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", Steps: []store.StepDef{{Name: "parse"}}}))
	withCancel := func() (n int) {
		require.NoError(t, s.db.QueryRow("SELECT count(*) FROM runs WHERE cancel IS NOT NULL").Scan(&n))
		return n
	}
	for i, end := range []store.Status{store.Succeeded, store.DeadLettered} {
		_, _, err := s.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%d", i), Pipeline: "leads", Input: []byte(`{}`), KeepPayloads: true})
		require.NoError(t, err)
		c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, c, 1)
		_, err = s.Heartbeat(ctx, []store.Lease{c[0].Lease}, time.Minute)
		require.NoError(t, err)
		require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded}))
		require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: end}))
	}
	assert.Zero(t, withCancel())

	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-c", Pipeline: "leads", Input: []byte(`{}`), KeepPayloads: true})
	require.NoError(t, err)
	_, err = s.Cancel(ctx, store.CancelRequest{RunID: "run-c", By: "ops"})
	require.NoError(t, err)
	assert.Equal(t, 1, withCancel(), "a cancelled run records its cancellation")
	_, err = s.Replay(ctx, store.ReplayRequest{RunID: "run-c"})
	require.NoError(t, err)
	assert.Zero(t, withCancel(), "the replay clears it")
}

// A marked run whose worker died ends cancelled at the next claim of its
// pipeline even while the pipeline is paused and the claim takes nothing,
// as memstore does: the pause holds back work, not a cancellation.
func TestClaimCancelsExpiredMarkedRunOfPausedPipeline(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	s := openTemp(t, Config{Clock: clock, Synchronous: "NORMAL"})
	ctx := context.Background()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: []byte(`{}`), ClaimFor: "w", Lease: time.Minute})
	require.NoError(t, err)
	_, err = s.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops"})
	require.NoError(t, err)
	require.NoError(t, s.SetPause(ctx, store.Pause{Pipeline: "leads", Reason: "outage"}))
	clock.add(2 * time.Minute)

	got, err := s.Claim(ctx, store.ClaimRequest{Worker: "w2", Pipelines: []string{"leads"}, Limit: 5, Lease: time.Minute})
	require.NoError(t, err)
	assert.Empty(t, got)
	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, d.Run.Status)
	assert.Equal(t, "cancelled by ops", d.Run.Error)
}
