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

// A store written just before schedules (schema 5) opens at the latest
// schema with its runs intact and no schedules, and takes one.
func TestRunsReadAfterSchedulesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	old := now.Add(-time.Hour).UnixNano()
	const before = 5
	var stmts []string
	for _, m := range migrations[:before] {
		stmts = append(stmts, m.SQL)
	}
	stmts = append(stmts, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID), fmt.Sprintf("PRAGMA user_version = %d", before),
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, input_hash, input_size, idem_key, created_at, updated_at)
			VALUES ('run-a', 'report', 'queued', 1, 'h', 2, 'schedule:weekly:2026-11-23T08:00:00Z', %d, %d)`, old, old),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-a', 1, 'submitted', '{}', 'queued', %d)`, old))
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
	assert.Equal(t, "schedule:weekly:2026-11-23T08:00:00Z", d.Run.IdempotencyKey)
	all, err := s.Schedules(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, all)
	next := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	sc, err := s.PutSchedule(ctx, store.Schedule{Name: "weekly", Pipeline: "report", Spec: "0 9 * * MON", TimeZone: "Europe/Berlin", Missed: store.MissedOne, Next: next})
	require.NoError(t, err)
	assert.True(t, sc.Next.Equal(next))
}
