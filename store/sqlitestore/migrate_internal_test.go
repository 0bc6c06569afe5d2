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

// A store written at schema 1, before runs and step records named their
// traces, opens at the latest schema with its records intact: they read as
// "no trace recorded" and "nothing replaced", and its runs learn their
// trace from the next write that carries one.
func TestSchema1RecordsReadAfterMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC).UnixNano()
	for _, stmt := range []string{
		migrations[0].SQL,
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 1",
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, input_hash, input_size, trace_id, created_at, updated_at)
			VALUES ('run-old', 'leads', 'queued', 1, 'h', 2, '', %d, %d)`, now, now),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-old', 1, 'submitted', '{}', 'queued', %d)`, now),
		fmt.Sprintf(`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, output, started_at, finished_at)
			VALUES ('run-old', 'leads', 1, 0, 'parse', 'succeeded', '{"a":1}', %d, %d)`, now, now),
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err := Open(path, Config{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, latestVersion, s.SchemaVersion())
	ctx := context.Background()
	d, err := s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Empty(t, d.Run.TraceID)
	assert.Empty(t, d.Run.SpanID)
	assert.Zero(t, d.Run.InputReplaced)
	require.Len(t, d.Steps, 1)
	assert.JSONEq(t, `{"a":1}`, string(d.Steps[0].Output))
	assert.Empty(t, d.Steps[0].TraceID)

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.Len(t, c[0].Checkpoints, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 1, Step: "classify", Status: store.StepSucceeded,
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331"}))
	d, err = s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", d.Run.TraceID)
	assert.Equal(t, "b7ad6b7169203331", d.Run.SpanID)
}

// A store written at schema 2, before branch runs, opens at the latest
// schema with its runs intact: they read as top-level runs that spent
// nothing and have no budget, are listed as top-level, are pruned as
// before, and a run of it can fork.
func TestSchema2RecordsReadAfterMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	old := now.Add(-30 * 24 * time.Hour).UnixNano()
	for _, stmt := range []string{
		migrations[0].SQL,
		migrations[1].SQL,
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 2",
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, input_hash, input_size, created_at, updated_at)
			VALUES ('run-a', 'leads', 'queued', 1, 'h', 7, %d, %d)`, old, old),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-a', 1, 'submitted', '{"n":1}', 'queued', %d)`, old),
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, output, created_at, updated_at, finished_at)
			VALUES ('run-b', 'leads', 'succeeded', 1, '"done"', %d, %d, %d)`, old, old, old),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, status, started_at, finished_at)
			VALUES ('run-b', 1, 'submitted', 'succeeded', %d, %d)`, old, old),
	} {
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
	assert.Nil(t, d.Run.Parent)
	assert.Zero(t, d.Run.Spent)
	assert.Zero(t, d.Run.Budget)
	assert.JSONEq(t, `{"n":1}`, string(d.Run.Input))
	page, err := s.ListRuns(ctx, store.RunFilter{TopLevel: true})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 2)
	st, err := s.Stats(ctx, "leads", 0)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Zero(t, st[0].Branches)

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	kids := children("run-a", 1)
	require.NoError(t, s.Fork(ctx, c[0].Lease, store.Fork{Record: store.StepRecord{Index: forkIdx, Step: forkAt, Status: store.StepWaiting}, Children: kids}))
	bs, err := s.Branches(ctx, store.BranchQuery{Parent: "run-a"})
	require.NoError(t, err)
	require.Len(t, bs, 1)
	assert.Equal(t, store.Queued, bs[0].Status)

	n, err := s.Prune(ctx, store.Retention{})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the old succeeded run is pruned as before")
}
