package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// postgresDSN returns the test server's DSN. Without one the test is
// skipped, loudly; on CI (CI=true) a missing server is a failure, so that
// the PostgreSQL path cannot silently stop being tested.
func postgresDSN(t *testing.T) string {
	dsn := os.Getenv("PLUMB_TEST_POSTGRES_DSN")
	if dsn != "" {
		return dsn
	}
	const how = `PLUMB_TEST_POSTGRES_DSN is not set: start a server with eval "$(bash .ci/postgres.sh)"`
	if os.Getenv("CI") == "true" {
		t.Fatal(how + " (CI=true: the PostgreSQL tests must run)")
	}
	t.Skip("SKIPPED: the CLI's PostgreSQL tests did not run. " + how)
	return ""
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	c, dsn, schema := postgresCLI(t)

	r := c.run(t, "status")
	require.Equal(t, exitUnreachable, r.code, "a read command creates no schema\n%s", r)
	assert.Contains(t, r.stderr, "plumb migrate creates the store in postgres://")
	assert.NotContains(t, r.stderr+r.stdout, dsn)
	if pc, err := pgconn.ParseConfig(dsn); err == nil && pc.Password != "" {
		assert.NotContains(t, r.stderr+r.stdout, ":"+pc.Password+"@", "the password is never echoed")
	}
	r = c.run(t, "migrate")
	require.Equal(t, 0, r.code, r.String())
	assert.Contains(t, r.stdout, fmt.Sprintf("(schema %s): created or upgraded the store's schema, now version %d", schema, pgstore.LatestVersion))

	st, err := pgstore.Open(ctx, dsn, pgstore.Config{Schema: schema, SkipMigrate: true, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	f := fixtureOn(t, c.dir, st, nil, "--dsn", dsn, "--schema", schema)
	f.run("pg-ada", adaText)
	f.run("pg-babbage", noEmailText)
	f.run("pg-unsure", unsureText)

	assert.Len(t, decode[[]store.Run](t, f.ok("runs", "list", "--json")), 3)
	assert.Contains(t, f.ok("runs", "show", "pg-ada").stdout, "by draft-plain (fallback)")
	l := decode[letterList](t, f.ok("deadletters", "list", "--json"))
	require.Len(t, l.Groups, 1)
	assert.Equal(t, []string{"pg-babbage"}, l.Groups[0].RunIDs)
	show := f.ok("deadletters", "show", "pg-babbage").stdout
	assert.Contains(t, show, `plumb --dsn "$PLUMB_DSN" --schema `+schema+" replay pg-babbage", "the hint never echoes the DSN")

	f.ok("replay", "pg-babbage", "--set", "/text=Charles Babbage <charles@example.com>")
	f.ok("review", "approve", "pg-unsure", "--as", "ana@example.com")
	f.drain()
	assert.Equal(t, store.Succeeded, f.get("pg-babbage").Run.Status)
	assert.Equal(t, store.Succeeded, f.get("pg-unsure").Run.Status)

	f.ok("pause", pipelineName, "--reason", "maintenance")
	p, err := st.GetPause(ctx, pipelineName)
	require.NoError(t, err)
	require.NotNil(t, p)
	assert.Equal(t, "maintenance", p.Reason)
	rep := decode[statusReport](t, f.ok("status", "--json"))
	require.Len(t, rep.Pipelines, 1)
	assert.Equal(t, 1, rep.Pipelines[0].Recoveries)
	assert.NotNil(t, rep.Pipelines[0].Paused)
	f.ok("resume", pipelineName)
	p, err = st.GetPause(ctx, pipelineName)
	require.NoError(t, err)
	assert.Nil(t, p)

	assert.Equal(t, exitNotFound, f.plumb("runs", "show", "nope").code)
}

// postgresCLI makes a fresh schema on the test server, dropped when the
// test ends, and the CLI that reaches it through the environment.
func postgresCLI(t *testing.T) (c cli, dsn, schema string) {
	dsn = postgresDSN(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema = "plumb_cli_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			_ = conn.Close(ctx)
		}
	})
	return cli{dir: t.TempDir(), env: []string{"PLUMB_DSN=" + dsn, "PLUMB_SCHEMA=" + schema}}, dsn, schema
}

// newPostgresFixture is newFixture on a fresh PostgreSQL schema: for what
// differs there (the store's wake-ups come by LISTEN/NOTIFY).
func newPostgresFixture(t *testing.T) *fixture {
	c, dsn, schema := postgresCLI(t)
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return fixtureOn(t, c.dir, st, nil, "--dsn", dsn, "--schema", schema)
}
