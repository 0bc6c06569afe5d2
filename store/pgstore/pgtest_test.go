package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store/pgstore"
)

// dsnEnv names the database the tests use. .ci/postgres.sh starts a server
// and prints it: eval "$(bash .ci/postgres.sh)".
const dsnEnv = "PLUMB_TEST_POSTGRES_DSN"

// testDSN returns the test database's DSN. Without one the test is
// skipped, loudly; on CI (CI=true) a missing DSN fails the test instead,
// so that a misconfigured pipeline cannot pass by skipping everything.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn != "" {
		return dsn
	}
	const msg = dsnEnv + ` is not set: the PostgreSQL store's tests need a server. Start one with: eval "$(bash .ci/postgres.sh)"`
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing database is a failure, not a skip)")
	}
	t.Skip("SKIPPED, NOT RUN: " + msg)
	return ""
}

var (
	adminOnce sync.Once
	adminPool *pgxpool.Pool
	adminErr  error
)

// admin returns a pool for the tests' own housekeeping (schemas, checks).
func admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testDSN(t)
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		adminPool, adminErr = pgxpool.New(ctx, withParam(dsn, "application_name", "plumb-test-admin"))
		if adminErr == nil {
			adminErr = adminPool.Ping(ctx)
		}
	})
	require.NoError(t, adminErr, "connect to %s", dsnEnv)
	return adminPool
}

var nonName = regexp.MustCompile(`[^a-z0-9_]+`)

// freshSchema returns a new schema name unique to the test, dropped when
// the test ends: each test has a store of its own.
func freshSchema(t testing.TB) string {
	t.Helper()
	pool := admin(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := nonName.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	schema := "t_" + name + "_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// openStore opens a store in a fresh schema, closed when the test ends.
func openStore(t testing.TB, cfg pgstore.Config) *pgstore.Store {
	t.Helper()
	return openStoreDSN(t, testDSN(t), cfg)
}

// openStoreDSN opens a store on dsn (the test database with other
// settings), in a fresh schema unless cfg names one.
func openStoreDSN(t testing.TB, dsn string, cfg pgstore.Config) *pgstore.Store {
	t.Helper()
	if cfg.Schema == "" {
		cfg.Schema = freshSchema(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, dsn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// appName returns an application_name unique to this test, for the
// backends that terminateBackends cuts.
func appName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// terminateBackends cuts every connection of the application name, as a
// server restart or a network failure would, and returns how many.
func terminateBackends(t testing.TB, app string) int {
	t.Helper()
	var n int
	err := admin(t).QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity a, pg_terminate_backend(a.pid) t WHERE a.application_name = $1 AND t", app).Scan(&n)
	require.NoError(t, err)
	return n
}

// withParam sets a query parameter of a postgres:// DSN.
func withParam(dsn, key, value string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " " + key + "=" + value // key=value form
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
