package pgstore_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

func TestMigrateConcurrently(t *testing.T) {
	dsn := testDSN(t)
	schema := freshSchema(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*pgstore.Store, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A pool each: as many processes starting at once.
			pool, err := pgxpool.New(context.Background(), dsn)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(pool.Close)
			<-start
			stores[i], errs[i] = pgstore.New(pool, pgstore.Config{Schema: schema})
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "store %d", i)
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ctx := context.Background()
	v, err := stores[0].SchemaVersion(ctx)
	require.NoError(t, err)
	assert.Equal(t, pgstore.LatestVersion, v)
	var rows int
	require.NoError(t, admin(t).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "plumb_migrations"}.Sanitize()).Scan(&rows))
	assert.Equal(t, pgstore.LatestVersion, rows, "each migration applied once")

	// Every store works on the one schema.
	_, created, err := stores[1].Enqueue(ctx, store.NewRun{ID: "r1", Pipeline: "p"})
	require.NoError(t, err)
	assert.True(t, created)
	d, err := stores[3].GetRun(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, store.Queued, d.Run.Status)
}

func TestMigrateRefusesANewerSchema(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	_, err := admin(t).Exec(ctx, "INSERT INTO "+pgx.Identifier{s.Schema(), "plumb_migrations"}.Sanitize()+
		" (version, name) VALUES (999, '0999_future.sql')")
	require.NoError(t, err)
	_, err = pgstore.Open(ctx, testDSN(t), pgstore.Config{Schema: s.Schema()})
	require.ErrorIs(t, err, store.ErrNotAStore)
	assert.Contains(t, err.Error(), "schema version 999, written by a newer Plumb")
	assert.Contains(t, err.Error(), "upgrade Plumb")
	assert.ErrorIs(t, s.Migrate(ctx), store.ErrNotAStore, "Migrate refuses it too")
}

func TestMigrateRefusesAnotherApplicationsSchema(t *testing.T) {
	schema := freshSchema(t)
	ctx := context.Background()
	_, err := admin(t).Exec(ctx, fmt.Sprintf("CREATE SCHEMA %[1]s; CREATE TABLE %[1]s.runs (id int)", pgx.Identifier{schema}.Sanitize()))
	require.NoError(t, err)
	_, err = pgstore.Open(ctx, testDSN(t), pgstore.Config{Schema: schema})
	require.ErrorIs(t, err, store.ErrNotAStore)
	assert.Contains(t, err.Error(), "another application")
}

func TestSkipMigrateNeedsACurrentSchema(t *testing.T) {
	schema := freshSchema(t)
	ctx := context.Background()
	_, err := pgstore.Open(ctx, testDSN(t), pgstore.Config{Schema: schema, SkipMigrate: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "call Migrate")

	s := openStore(t, pgstore.Config{Schema: schema})
	again, err := pgstore.Open(ctx, testDSN(t), pgstore.Config{Schema: s.Schema(), SkipMigrate: true})
	require.NoError(t, err)
	require.NoError(t, again.Close())
}

// Open fails fast and says what to check, naming the server but never the
// password.
func TestOpenErrors(t *testing.T) {
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	host := u.Hostname()
	withPort := func(port string) string {
		c := *u
		c.Host = host + ":" + port
		return c.String()
	}
	const secret = "not-the-password-4711"
	wrongPass := *u
	wrongPass.User = url.UserPassword(u.User.Username(), secret)
	noDB := *u
	noDB.Path = "/no_such_database_4711"
	cases := []struct {
		name, dsn string
		want      []string
	}{
		{"unparsable", "postgres://" + u.User.Username() + ":" + secret + "@" + host + ":notaport/x", []string{"does not parse"}},
		{"wrong port", withPort("1"), []string{host + ":1", "nothing accepts connections", "listens on that address and port"}},
		{"wrong password", wrongPass.String(), []string{u.Host, "check the user name and password"}},
		{"missing database", noDB.String(), []string{"no_such_database_4711", "does not exist"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			start := time.Now()
			s, err := pgstore.Open(ctx, tc.dsn, pgstore.Config{})
			if s != nil {
				_ = s.Close()
			}
			require.Error(t, err)
			assert.Less(t, time.Since(start), 5*time.Second, "fails fast")
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), secret, "the error never shows the password")
			if u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) > 3 {
					assert.NotContains(t, err.Error(), ":"+p+"@")
				}
			}
			t.Log(err)
		})
	}
}
