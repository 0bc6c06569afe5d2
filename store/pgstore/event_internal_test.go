package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// A schema written at version 5, before runs could wait for events,
// migrates to the latest version with its runs intact, and a run of it
// waits for an event and takes one; a wait goes with its run.
func TestSchema5RunsWaitForEventsAfterMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema5_", 5,
		`INSERT INTO runs (id, pipeline, status, attempt, input, input_hash, input_size, created_at, updated_at, records)
			VALUES ('run-old', 'leads', 'queued', 1, '{}', 'h', 2, '2026-11-27T02:17:00Z', '2026-11-27T02:17:00Z', 0)`,
		`INSERT INTO attempts (run_id, attempt, reason, status, started_at) VALUES ('run-old', 1, 'submitted', 'queued', '2026-11-27T02:17:00Z')`)
	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion, v)
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
	c, err = s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1, "the event made the run due")

	_, err = s.pool.Exec(ctx, "DELETE FROM "+s.q.schema+".runs WHERE id = 'run-old'")
	require.NoError(t, err)
	var n int
	require.NoError(t, s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.q.schema+".waits").Scan(&n))
	assert.Zero(t, n)
}

// A schema written at version 8, before refused deliveries were kept as
// events, migrates with its kept event intact: it reads as not refused,
// and a refused one is kept beside it.
func TestSchema8EventsReadAfterRefusedMigration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, schema := oldSchema(ctx, t, "t_schema8_", 8,
		`INSERT INTO events (source, id, name, key, payload, received_at, expires_at)
			VALUES ('stripe', 'evt_old', 'payment', 'invoice:1', '{"amount":1}', now(), now() + interval '1 hour')`)
	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	v, err := s.SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, LatestVersion, v)
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
