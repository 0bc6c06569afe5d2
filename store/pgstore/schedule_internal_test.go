package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// A schema written just before schedules (version 6) migrates with its
// runs intact and no schedules, and takes one.
func TestRunsReadAfterSchedulesMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema6_", 6,
		`INSERT INTO runs (id, pipeline, status, attempt, idem_key, input, created_at, updated_at, keep_payloads)
			VALUES ('run-old', 'report', 'queued', 1, 'schedule:weekly:2026-11-23T08:00:00Z', '{}', '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', true)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`)

	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion, v)
	d, err := s.GetRun(ctx, "run-old")
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
