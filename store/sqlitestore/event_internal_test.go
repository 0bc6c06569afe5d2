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

// A store written at schema 4, before runs could wait for events, opens
// at the latest schema with its runs intact, and a run of it waits for an
// event and takes one.
func TestSchema4RunsWaitForEventsAfterMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC).UnixNano()
	stmts := []string{}
	for _, m := range migrations[:4] {
		stmts = append(stmts, m.SQL)
	}
	stmts = append(stmts,
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 4",
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, input_hash, input_size, trace_id, created_at, updated_at)
			VALUES ('run-old', 'leads', 'queued', 1, 'h', 2, '', %d, %d)`, now, now),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-old', 1, 'submitted', '{}', 'queued', %d)`, now))
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err := Open(path, Config{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, latestVersion, s.SchemaVersion())
	ctx := context.Background()
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	res, err := s.Await(ctx, c[0].Lease, store.Await{
		Record: store.StepRecord{Index: 0, Step: "pay", Status: store.StepAwaiting},
		Name:   "payment", Key: "invoice:1", Deadline: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	assert.True(t, res.Waiting())
	d, err := s.SendEvent(ctx, store.NewEvent{Name: "payment", Key: "invoice:1", Source: "test", ID: "e1"})
	require.NoError(t, err)
	assert.Equal(t, "run-old", d.Woke)

	// A wait goes with its run.
	_, err = s.db.ExecContext(ctx, "DELETE FROM runs WHERE id = 'run-old'")
	require.NoError(t, err)
	var n int
	require.NoError(t, s.db.QueryRowContext(ctx, "SELECT count(*) FROM waits").Scan(&n))
	assert.Zero(t, n)
}

// A store written at schema 7, before refused deliveries were kept as
// events, opens at the latest schema with its kept event intact: it reads
// as not refused, a wait takes it, and a refused one is kept beside it.
func TestSchema7EventsReadAfterRefusedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Now()
	stmts := []string{}
	for _, m := range migrations[:7] {
		stmts = append(stmts, m.SQL)
	}
	stmts = append(stmts,
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 7",
		fmt.Sprintf(`INSERT INTO events (source, id, name, key, payload, received_at, expires_at)
			VALUES ('stripe', 'evt_old', 'payment', 'invoice:1', '{"amount":1}', %d, %d)`, now.UnixNano(), now.Add(time.Hour).UnixNano()))
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err := Open(path, Config{})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, latestVersion, s.SchemaVersion())
	ctx := context.Background()
	l, err := s.Events(ctx, store.EventFilter{})
	require.NoError(t, err)
	require.Len(t, l.Events, 1)
	assert.False(t, l.Events[0].IsRefused())
	_, err = s.SendEvent(ctx, store.NewEvent{Name: "payment", Key: "invoice:2", Source: "stripe", ID: "evt_bad", Refused: "/amount: required"})
	require.NoError(t, err)
	l, err = s.Events(ctx, store.EventFilter{Refused: true})
	require.NoError(t, err)
	require.Len(t, l.Events, 1)
	assert.Equal(t, "evt_bad", l.Events[0].ID)
}
