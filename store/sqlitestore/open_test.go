package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func open(t *testing.T, path string, cfg sqlitestore.Config) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func enqueue(t *testing.T, s store.Store, id string) store.Run {
	t.Helper()
	r, created, err := s.Enqueue(context.Background(), store.NewRun{ID: id, Pipeline: "leads", Input: json.RawMessage(`{"name":"Ada"}`), KeepPayloads: true})
	require.NoError(t, err)
	require.True(t, created)
	return r
}

// execRaw runs statements on path with a plain SQLite handle, closed
// before it returns so that the file is settled.
func execRaw(t *testing.T, path, stmts string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(stmts)
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// latestVersion is the schema version of the migrations shipped: one a
// file, numbered without gaps (the loader refuses them).
func latestVersion(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return len(files)
}

func TestOpenCreatesFileAndDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "plumb.db")
	s := open(t, path, sqlitestore.Config{})
	assert.Equal(t, path, s.Path())
	assert.Equal(t, latestVersion(t), s.SchemaVersion())
	_, err := os.Stat(path)
	require.NoError(t, err)
	require.NoError(t, s.IntegrityCheck(context.Background()))

	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var app, version int64
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA application_id").Scan(&app))
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&version))
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, int64(sqlitestore.ApplicationID), app, "the file is marked as a Plumb store")
	assert.Equal(t, int64(latestVersion(t)), version)
	assert.Equal(t, "wal", mode)
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	s, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(t, err)
	enqueue(t, s, "run-1")
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Close(), store.ErrClosed)
	_, err = s.GetRun(context.Background(), "run-1")
	assert.ErrorIs(t, err, store.ErrClosed)

	again := open(t, path, sqlitestore.Config{})
	assert.Equal(t, latestVersion(t), again.SchemaVersion(), "migrating again changes nothing")
	d, err := again.GetRun(context.Background(), "run-1")
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"Ada"}`, string(d.Run.Input))
}

// TestConcurrentOpenOfANewFile opens one new file from several stores at
// once, as two processes starting together would: one migrates, the others
// find it done.
func TestConcurrentOpenOfANewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	const n = 4
	stores := make([]*sqlitestore.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = sqlitestore.Open(path, sqlitestore.Config{})
		}()
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	enqueue(t, stores[0], "run-1")
	_, err := stores[n-1].GetRun(context.Background(), "run-1")
	require.NoError(t, err, "every store sees the one file")
}

func TestOpenRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"not SQLite", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("name,email\nAda,ada@example.com\n", 200)), 0o644))
		}, "not an SQLite database"},
		{"tables of another application", func(t *testing.T, path string) {
			execRaw(t, path, "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
		}, "tables of another application (customers)"},
		{"another application's id", func(t *testing.T, path string) {
			execRaw(t, path, "PRAGMA application_id = 42")
		}, "application_id 0x2a"},
		{"a newer schema", func(t *testing.T, path string) {
			s, err := sqlitestore.Open(path, sqlitestore.Config{})
			require.NoError(t, err)
			require.NoError(t, s.Close())
			execRaw(t, path, "PRAGMA user_version = 99")
		}, "schema version 99, written by a newer Plumb"},
		{"corrupt", func(t *testing.T, path string) {
			s, err := sqlitestore.Open(path, sqlitestore.Config{})
			require.NoError(t, err)
			enqueue(t, s, "run-1")
			require.NoError(t, s.Close())
			corrupt(t, path)
		}, "corrupt"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plumb.db")
			c.setup(t, path)
			before, err := os.ReadFile(path)
			require.NoError(t, err)
			s, err := sqlitestore.Open(path, sqlitestore.Config{})
			if s != nil {
				_ = s.Close()
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, store.ErrNotAStore)
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.Contains(t, err.Error(), c.want)
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "a refused file is left as it was")
		})
	}
}

// corrupt overwrites the schema table's page (the rest of page 1) with
// garbage, keeping the header intact.
func corrupt(t *testing.T, path string) {
	t.Helper()
	for _, side := range []string{"-wal", "-shm"} {
		_ = os.Remove(path + side)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt([]byte(strings.Repeat("\xde\xad\xbe\xef", 64)), 100)
	require.NoError(t, err)
}

func TestIntegrityCheckReportsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	s, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(t, err)
	for i := range 300 {
		enqueue(t, s, fmt.Sprintf("run-%03d-%s", i, strings.Repeat("x", 100)))
	}
	require.NoError(t, s.Close())
	for _, side := range []string{"-wal", "-shm"} {
		_ = os.Remove(path + side)
	}
	// Damage a page in the middle of the file, past the schema.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("\x00\xff", 2048)), (st.Size()/4096/2)*4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	s, err = sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(t, err, "Open reads the schema, not every page")
	defer s.Close()
	err = s.IntegrityCheck(context.Background())
	require.Error(t, err)
	assert.ErrorIs(t, err, store.ErrNotAStore)
}

func TestNewWithCallersHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()

	s, err := sqlitestore.New(db, sqlitestore.Config{})
	require.NoError(t, err)
	assert.Equal(t, path, s.Path())
	enqueue(t, s, "run-1")
	require.NoError(t, s.Close())

	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode, "New sets WAL")
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM runs").Scan(&n), "Close leaves the caller's handle open")
	assert.Equal(t, 1, n)

	again, err := sqlitestore.New(db, sqlitestore.Config{})
	require.NoError(t, err)
	defer again.Close()
	_, err = again.GetRun(context.Background(), "run-1")
	require.NoError(t, err)
}

func TestNewRefuses(t *testing.T) {
	mem, err := sql.Open("sqlite", ":memory:")
	require.NoError(t, err)
	defer mem.Close()
	_, err = sqlitestore.New(mem, sqlitestore.Config{})
	assert.ErrorContains(t, err, "in memory")

	one, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plumb.db"))
	require.NoError(t, err)
	defer one.Close()
	one.SetMaxOpenConns(1)
	_, err = sqlitestore.New(one, sqlitestore.Config{})
	assert.ErrorContains(t, err, "one connection")

	_, err = sqlitestore.Open(filepath.Join(t.TempDir(), "x.db"), sqlitestore.Config{Synchronous: "OFF"})
	assert.ErrorContains(t, err, "FULL or NORMAL")
	_, err = sqlitestore.Open(":memory:", sqlitestore.Config{})
	assert.ErrorContains(t, err, "want the path of a file")
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for range 2 {
		v, err := sqlitestore.Migrate(context.Background(), db)
		require.NoError(t, err)
		assert.Equal(t, latestVersion(t), v)
	}
	s := open(t, path, sqlitestore.Config{})
	assert.Equal(t, latestVersion(t), s.SchemaVersion())

	foreign := filepath.Join(t.TempDir(), "other.db")
	execRaw(t, foreign, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")
	other, err := sql.Open("sqlite", foreign)
	require.NoError(t, err)
	defer other.Close()
	_, err = sqlitestore.Migrate(context.Background(), other)
	assert.ErrorIs(t, err, store.ErrNotAStore)
}
