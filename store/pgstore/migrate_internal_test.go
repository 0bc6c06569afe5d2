package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// A schema written at version 2, before runs and step records named their
// traces, migrates to the latest version with its records intact: they
// read as "no trace recorded" and "nothing replaced", and its runs learn
// their trace from the next write that carries one.
func TestSchema2RecordsReadAfterMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema2_", 2,
		`INSERT INTO runs (id, pipeline, status, attempt, input, input_hash, input_size, created_at, updated_at, records)
			VALUES ('run-old', 'leads', 'queued', 1, '{}', 'h', 2, '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', 1)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`,
		`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, output, started_at, finished_at)
			VALUES ('run-old', 'leads', 1, 0, 'parse', 'succeeded', '{"a":1}', '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z')`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion, v)
	d, err := s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Empty(t, d.Run.TraceID)
	assert.Empty(t, d.Run.SpanID)
	assert.Zero(t, d.Run.InputReplaced)
	require.Len(t, d.Steps, 1)
	assert.JSONEq(t, `{"a":1}`, string(d.Steps[0].Output))
	assert.Empty(t, d.Steps[0].TraceID)

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
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

// A schema written at version 3, before branch runs, migrates with its
// runs intact: they read as top-level runs that spent nothing, and such a
// run can fork (the wider status constraint admits waiting).
func TestSchema3RunsReadAfterBranchMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema3_", 3,
		`INSERT INTO runs (id, pipeline, status, attempt, input, input_hash, input_size, created_at, updated_at)
			VALUES ('run-old', 'leads', 'queued', 1, '{}', 'h', 2, '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z')`,
		`INSERT INTO runs (id, pipeline, status, attempt, created_at, updated_at, finished_at)
			VALUES ('run-done', 'leads', 'succeeded', 1, '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z')`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	d, err := s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Nil(t, d.Run.Parent)
	assert.True(t, d.Run.Spent.IsZero())
	assert.True(t, d.Run.Budget.IsZero())
	page, err := s.ListRuns(ctx, store.RunFilter{TopLevel: true})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 2)
	st, err := s.Stats(ctx, "leads", 0)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Zero(t, st[0].Branches)

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	kid := store.NewRun{ID: store.BranchID("run-old", 1, 0), Pipeline: "sub", Input: []byte(`{}`),
		Parent: &store.Parent{RunID: "run-old", Step: "split", Index: 1}}
	require.NoError(t, s.Fork(ctx, c[0].Lease, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
		Children: []store.NewRun{kid}}))
	d, err = s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Equal(t, store.Waiting, d.Run.Status)
	st, err = s.Stats(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, st, 2)
	assert.Equal(t, 1, st[0].ByStatus[store.Waiting])
	assert.Equal(t, 1, st[1].Branches)
}

// A schema written at version 4, before cancellation, migrates with its
// runs intact: they read as runs nobody cancelled, a running one can be
// marked and ends cancelled at its worker's next write, and the new
// lookups find the runs written before.
func TestSchema4RunsReadAfterCancelMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema4_", 4,
		`INSERT INTO runs (id, pipeline, status, attempt, idem_key, trigger_ext_id, input, created_at, updated_at, keep_payloads)
			VALUES ('run-old', 'leads', 'queued', 1, 'k-old', 'lead-1', '{}', '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', true)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	d, err := s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Nil(t, d.Run.Cancel)
	for _, f := range []store.RunFilter{{ExternalID: "lead-1"}, {IdempotencyKey: "k-old"}} {
		page, err := s.ListRuns(ctx, f)
		require.NoError(t, err)
		require.Len(t, page.Runs, 1, "%+v", f)
	}
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	r, err := s.Cancel(ctx, store.CancelRequest{RunID: "run-old", By: "ops"})
	require.NoError(t, err)
	require.NotNil(t, r.Cancel)
	err = s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded})
	require.ErrorIs(t, err, store.ErrCancelled)
	d, err = s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, d.Run.Status)
	assert.Equal(t, "cancelled by ops", d.Run.Error)
}

// testDSN is the server PLUMB_TEST_POSTGRES_DSN names; without one the
// test is skipped, loudly, and under CI=true it fails.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PLUMB_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PLUMB_TEST_POSTGRES_DSN is not set (CI=true: a missing database is a failure, not a skip)")
		}
		t.Skip("SKIPPED, NOT RUN: PLUMB_TEST_POSTGRES_DSN is not set")
	}
	return dsn
}

// oldSchema writes a schema of its own as the first version migrations
// left it, with rows (SQL statements run in it), and drops it when the test ends.
func oldSchema(ctx context.Context, t *testing.T, prefix string, version int, rows ...string) (dsn, schema string) {
	t.Helper()
	dsn = testDSN(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	stmts := []string{"CREATE SCHEMA " + schema, "SET LOCAL search_path TO " + schema,
		"CREATE TABLE " + versionTable + " (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"}
	for _, m := range migrations[:version] {
		stmts = append(stmts, m.SQL, fmt.Sprintf("INSERT INTO %s (version, name) VALUES (%d, '%s')", versionTable, m.Version, m.Name))
	}
	for _, stmt := range append(stmts, rows...) {
		_, err := tx.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, tx.Commit(ctx))
	return dsn, schema
}

// A schema written at version 5, before versions, migrates with its runs
// intact: they and their attempts read as unversioned, a run without an
// attempt row too, the wider status constraint admits a held run, and a
// replay moves it to the registered definition's version.
func TestSchema5RunsReadAfterVersionMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema5_", 5,
		`INSERT INTO runs (id, pipeline, status, attempt, input, created_at, updated_at, keep_payloads)
			VALUES ('run-old', 'leads', 'queued', 1, '{}', '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', true)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`,
		`INSERT INTO runs (id, pipeline, status, attempt, created_at, updated_at, finished_at)
			VALUES ('run-bare', 'leads', 'succeeded', 1, '2026-11-27T02:16:00Z', '2026-11-27T02:16:00Z', '2026-11-27T02:16:00Z')`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	d, err := s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.True(t, d.Run.Version.IsZero())
	require.Len(t, d.Attempts, 1)
	assert.True(t, d.Attempts[0].Version.IsZero())
	page, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 2)
	for _, r := range page.Runs {
		assert.True(t, r.Version.IsZero(), r.ID)
	}

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	assert.True(t, c[0].Run.Version.IsZero())
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Held, Step: "parse", Error: "breaks the new contract"}))
	d, err = s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Equal(t, store.Held, d.Run.Status)

	v2 := store.Version{Fingerprint: "fedcba9876543210", Label: "v2"}
	require.NoError(t, s.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", Steps: []store.StepDef{{Name: "parse"}}, Version: v2}))
	r, err := s.Replay(ctx, store.ReplayRequest{RunID: "run-old", From: "parse"})
	require.NoError(t, err)
	assert.Equal(t, v2, r.Version)
	d, err = s.GetRun(ctx, "run-old")
	require.NoError(t, err)
	assert.Equal(t, v2, d.Run.Version)
	require.Len(t, d.Attempts, 2)
	assert.True(t, d.Attempts[0].Version.IsZero())
	assert.Equal(t, v2, d.Attempts[1].Version)
	assert.Contains(t, d.Attempts[1].Reason, "moved from unversioned to v2 (fedcba9876543210)")
}

// A schema written at version 10, when a run's current input was on its
// runs row, migrates with its inputs in their attempts' rows: a queued
// run's, a replayed run's (its earlier attempt keeps its own), and a run
// that had no attempt row gets one; the runs row keeps no input, and the
// claim, GetRun and a replay read them back.
func TestSchema10InputsReadAfterAttemptInputMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema10_", 10,
		`INSERT INTO runs (id, pipeline, status, attempt, input, input_hash, input_size, created_at, updated_at, keep_payloads)
			VALUES ('run-queued', 'leads', 'queued', 1, '{"n":1}', 'h1', 7, '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', true)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-queued', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`,
		`INSERT INTO runs (id, pipeline, status, attempt, input, input_hash, input_size, created_at, updated_at, finished_at, keep_payloads)
			VALUES ('run-replayed', 'leads', 'dead_lettered', 2, '{"n":3}', 'h3', 7, '2026-11-27T02:16:00Z', '2026-11-27T02:18:00Z', '2026-11-27T02:18:00Z', true)`,
		`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at) VALUES ('run-replayed', 1, 'submitted', '{"n":2}', 'succeeded', '2026-11-27T02:16:00Z')`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-replayed', 2, 'replay', 'dead_lettered', '2026-11-27T02:17:30Z')`,
		`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, output, started_at, finished_at)
			VALUES ('run-replayed', 'leads', 2, 0, 'parse', 'succeeded', '{"a":1}', '2026-11-27T02:18:00Z', '2026-11-27T02:18:00Z')`,
		`INSERT INTO runs (id, pipeline, status, attempt, input, created_at, updated_at, finished_at, keep_payloads)
			VALUES ('run-bare', 'leads', 'succeeded', 1, '{"n":4}', '2026-11-27T02:15:00Z', '2026-11-27T02:15:00Z', '2026-11-27T02:15:00Z', true)`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion, v)
	var cols int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'runs' AND column_name = 'input'`, schema).Scan(&cols))
	assert.Zero(t, cols, "runs keeps no input")

	d, err := s.GetRun(ctx, "run-replayed")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":3}`, string(d.Run.Input))
	require.Len(t, d.Attempts, 2)
	assert.JSONEq(t, `{"n":2}`, string(d.Attempts[0].Input))
	assert.JSONEq(t, `{"n":3}`, string(d.Attempts[1].Input))
	d, err = s.GetRun(ctx, "run-bare")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":4}`, string(d.Run.Input))
	require.Len(t, d.Attempts, 1)
	page, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 3)

	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	assert.Equal(t, "run-queued", c[0].Run.ID)
	assert.JSONEq(t, `{"n":1}`, string(c[0].Run.Input))
	require.NoError(t, s.Finish(ctx, c[0].Lease, store.Outcome{Status: store.Succeeded, Output: []byte(`{"done":true}`)}))
	d, err = s.GetRun(ctx, "run-queued")
	require.NoError(t, err)
	assert.Equal(t, store.Succeeded, d.Run.Status)
	assert.JSONEq(t, `{"n":1}`, string(d.Run.Input))
	assert.JSONEq(t, `{"done":true}`, string(d.Run.Output))

	require.NoError(t, s.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", Steps: []store.StepDef{{Name: "parse"}}}))
	_, err = s.Replay(ctx, store.ReplayRequest{RunID: "run-replayed", From: "parse", Input: []byte(`{"n":5}`)})
	require.NoError(t, err)
	d, err = s.GetRun(ctx, "run-replayed")
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":5}`, string(d.Run.Input))
	require.Len(t, d.Attempts, 3)
	assert.JSONEq(t, `{"n":2}`, string(d.Attempts[0].Input))
	assert.JSONEq(t, `{"n":3}`, string(d.Attempts[1].Input))
	assert.JSONEq(t, `{"n":5}`, string(d.Attempts[2].Input))
}
