package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

func TestAWrongStoreIsSaidPlainly(t *testing.T) {
	dir := t.TempDir()
	c := cli{dir: dir}
	write := func(name string, b []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	write("empty.db", nil)
	write("notes.txt", []byte("shopping list\n"))
	other, err := sql.Open("sqlite", filepath.Join(dir, "other.db"))
	require.NoError(t, err)
	_, err = other.Exec("CREATE TABLE invoices (id INTEGER)")
	require.NoError(t, err)
	require.NoError(t, other.Close())
	blankSQLite(t, filepath.Join(dir, "blank.db"))

	for _, tc := range []struct{ db, says string }{
		{"missing.db", "no Plumb store at missing.db; check --db"},
		{"empty.db", "empty.db is an empty file, not a Plumb store"},
		{"notes.txt", "not an SQLite database"},
		{"other.db", "tables of another application (invoices)"},
		{"blank.db", "blank.db is an empty SQLite database, not a Plumb store"},
		{".", "is a directory, not a Plumb store"},
	} {
		r := c.run(t, "--db", tc.db, "runs", "list")
		assert.Equal(t, exitUnreachable, r.code, "%s\n%s", tc.db, r)
		assert.Contains(t, r.stderr, tc.says, tc.db)
	}
	_, err = os.Stat(filepath.Join(dir, "missing.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a read command creates no store")
	fi, err := os.Stat(filepath.Join(dir, "empty.db"))
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "nor fills an empty file")

	r := c.run(t, "--dsn", "postgres://plumb:secret@localhost:1/plumb", "status")
	assert.Equal(t, exitUnreachable, r.code, r.String())
	assert.NotContains(t, r.stderr, "secret")
}

func TestMigrateCreatesAndReportsTheSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	c := cli{dir: dir}
	r := c.run(t, "--db", "new/plumb.db", "migrate")
	require.Equal(t, 0, r.code, r.String())
	assert.Regexp(t, `^new/plumb.db: created a Plumb store, schema version [1-9]\d*\n$`, r.stdout)
	r = c.run(t, "--db", "new/plumb.db", "migrate")
	assert.Regexp(t, `schema version [1-9]\d*, up to date\n$`, r.stdout)
	type migrated struct {
		Version  int  `json:"schema_version"`
		Previous *int `json:"previous_version"`
		Created  bool `json:"created"`
	}
	m := decode[migrated](t, c.run(t, "--db", "new/plumb.db", "migrate", "--json"))
	assert.Positive(t, m.Version)
	require.NotNil(t, m.Previous)
	assert.Equal(t, m.Version, *m.Previous)
	assert.False(t, m.Created)

	blankSQLite(t, filepath.Join(dir, "blank.db"))
	r = c.run(t, "--db", "blank.db", "migrate")
	require.Equal(t, 0, r.code, r.String())
	assert.Contains(t, r.stdout, "created a Plumb store", "an empty SQLite database becomes one")
	r = c.run(t, "--db", "blank.db", "runs", "list", "--json")
	require.Equal(t, 0, r.code, r.String())
	assert.Equal(t, "[]\n", r.stdout)
}

func TestTheStoreComesFromAFlagOrTheEnvironment(t *testing.T) {
	f := newFixture(t, nil)
	f.run("ada", adaText)
	env := cli{dir: f.dir, env: []string{"PLUMB_DB=plumb.db"}}
	r := env.run(t, "runs", "list", "--json")
	require.Equal(t, 0, r.code, r.String())
	assert.Len(t, decode[[]store.Run](t, r), 1)
	r = env.run(t, "deadletters", "list")
	assert.Equal(t, 0, r.code, r.String())

	r = cli{dir: f.dir, env: []string{"PLUMB_DB=elsewhere.db"}}.run(t, "--db", "plumb.db", "runs", "list")
	assert.Equal(t, 0, r.code, "the flag wins over the environment\n%s", r)
	r = cli{dir: f.dir, env: []string{"PLUMB_DB=plumb.db", "PLUMB_DSN=postgres://x"}}.run(t, "runs", "list")
	assert.Equal(t, exitUsage, r.code, r.String())
	r = f.plumb("--dsn", "postgres://x", "runs", "list")
	assert.Equal(t, exitUsage, r.code, "both flags\n%s", r)
	r = cli{dir: f.dir}.run(t, "runs", "list")
	assert.Equal(t, 0, r.code, "./plumb.db by default\n%s", r)
}

func TestUsageErrorsAndHelp(t *testing.T) {
	f := newFixture(t, nil)
	for _, args := range [][]string{
		{"bogus"},
		{"runs", "lst"},
		{"runs", "list", "--bogus"},
		{"runs", "list", "--class", "flaky"},
		{"runs", "list", "--status", "dead"},
		{"runs", "list", "--since", "yesterday"},
		{"runs", "list", "--limit", "0"},
		{"runs", "show"},
		{"status", "--window", "0s"},
	} {
		r := f.plumb(args...)
		assert.Equal(t, exitUsage, r.code, "%v\n%s", args, r)
		assert.Contains(t, r.stderr, "--help' for usage.", args)
	}
	r := f.ok("--help")
	assert.Contains(t, r.stdout, "Exit codes:")
	assert.Contains(t, r.stdout, "4  not found")
	r = f.plumb("runs", "show", "nope")
	assert.Equal(t, exitNotFound, r.code, r.String())
}

func TestRunsList(t *testing.T) {
	f := newFixture(t, nil)
	f.run("ada", adaText)
	f.run("babbage", noEmailText)
	f.run("unsure", unsureText)
	all := decode[[]store.Run](t, f.ok("runs", "list", "--json"))
	assert.Len(t, all, 3)
	dead := decode[[]store.Run](t, f.ok("runs", "list", "--status", "dead-lettered", "--since", "1h", "--json"))
	require.Len(t, dead, 1)
	assert.Equal(t, "babbage", dead[0].ID)
	assert.Empty(t, decode[[]store.Run](t, f.ok("runs", "list", "--step", "draft", "--json")))
	assert.Len(t, decode[[]store.Run](t, f.ok("runs", "list", "--class", "permanent", "--pipeline", pipelineName, "--json")), 1)

	r := f.ok("runs", "list", "--limit", "1")
	assert.Contains(t, r.stdout, "ID ")
	assert.Contains(t, r.stderr, "--before")
	assert.Contains(t, f.ok("runs", "list", "--status", "cancelled").stdout, "No runs match.")
}

// blankSQLite makes an SQLite database with no tables: a real header and
// nothing else.
func blankSQLite(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE t (x); DROP TABLE t")
	require.NoError(t, err)
	require.NoError(t, db.Close())
}
