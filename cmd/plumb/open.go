package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// target is the store the command works on: a SQLite file or a PostgreSQL
// DSN, from the flags or the environment.
type target struct {
	db, dsn string
	// schema holds a PostgreSQL store's tables.
	schema string
	// viaFlag says the address came from a flag: hints that print a
	// command to run repeat it then, and leave it out when the
	// environment supplies it.
	viaFlag bool
}

// defaultDB is the file the examples write when given no -db.
const defaultDB = "plumb.db"

// resolveTarget picks the store: a flag first, then the environment, then
// ./plumb.db. Two addresses at the same level are ambiguous: an error, not
// a guess, since reading the wrong store at 2 a.m. costs more than typing.
func resolveTarget(db, dsn string, env func(string) string) (target, error) {
	switch {
	case db != "" && dsn != "":
		return target{}, usagef("give --db or --dsn, not both")
	case dsn != "":
		return target{dsn: dsn, viaFlag: true}, nil
	case db != "":
		return target{db: db, viaFlag: true}, nil
	}
	edb, edsn := env("PLUMB_DB"), env("PLUMB_DSN")
	switch {
	case edb != "" && edsn != "":
		return target{}, usagef("both $PLUMB_DB and $PLUMB_DSN are set; pick one with --db or --dsn")
	case edsn != "":
		return target{dsn: edsn}, nil
	case edb != "":
		return target{db: edb}, nil
	}
	return target{db: defaultDB}, nil
}

// prefix is the command that reaches the same store, for hints.
func (t target) prefix() string {
	switch {
	case !t.viaFlag:
		return "plumb"
	case t.dsn != "":
		// The DSN may hold a password: never echo it.
		p := `plumb --dsn "$PLUMB_DSN"`
		if t.schema != pgstore.DefaultSchema {
			p += " --schema " + shellQuote(t.schema)
		}
		return p
	}
	return "plumb --db " + shellQuote(t.db)
}

// handle is an open store and what the CLI reports about it.
type handle struct {
	store.Store
	// where names the store in messages.
	where string
	// before is the schema version found before opening (-1: the store
	// did not exist); version is the one after.
	before, version int
}

// openStore opens the target's store. Only migrate may create one: a read
// command given a wrong path must say so, not create an empty store there
// and report that nothing is wrong.
func openStore(ctx context.Context, t target, create bool, notes io.Writer) (*handle, error) {
	if t.dsn != "" {
		return openPostgres(ctx, t.dsn, t.schema, create)
	}
	return openSQLite(t.db, create, notes)
}

func openSQLite(path string, create bool, notes io.Writer) (*handle, error) {
	before, err := probeSQLite(path, create)
	if err != nil {
		return nil, err
	}
	s, err := sqlitestore.Open(path, sqlitestore.Config{})
	if err != nil {
		if errors.Is(err, store.ErrNotAStore) {
			return nil, unreachable(err)
		}
		return nil, unreachable(fmt.Errorf("open the store at %s: %w", path, err))
	}
	h := &handle{Store: s, where: path, before: before, version: s.SchemaVersion()}
	if !create && before > 0 && h.version != before {
		// Open migrates as every process using the store does; say so,
		// since a read command changed the file.
		fmt.Fprintf(notes, "plumb: upgraded the schema of %s from version %d to %d\n", path, before, h.version)
	}
	return h, nil
}

var sqliteMagic = "SQLite format 3\x00"

// probeSQLite checks that path holds a Plumb store before sqlitestore.Open
// would create or migrate one, and returns its schema version (-1 when
// there is no store yet and create allows one). It reads the version
// through SQLite, not from the file's header: with a worker running, the
// header may be stale and the truth in the write-ahead log.
func probeSQLite(path string, create bool) (int, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		return -1, nil
	case errors.Is(err, fs.ErrNotExist):
		return 0, unreachable(fmt.Errorf("no Plumb store at %s; check --db (or $PLUMB_DB), or create one with plumb migrate", path))
	case err != nil:
		return 0, unreachable(fmt.Errorf("cannot read the store at %s: %w", path, err))
	case fi.IsDir():
		return 0, unreachable(fmt.Errorf("%s is a directory, not a Plumb store; check --db", path))
	}
	head := make([]byte, len(sqliteMagic))
	f, err := os.Open(path)
	if err != nil {
		return 0, unreachable(fmt.Errorf("cannot read the store at %s: %w", path, err))
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	_, walErr := os.Stat(path + "-wal")
	switch {
	case n == 0 && walErr != nil && create:
		return -1, nil
	case n == 0 && walErr != nil:
		return 0, unreachable(fmt.Errorf("%s is an empty file, not a Plumb store; check --db, or create a store there with plumb migrate", path))
	case string(head[:n]) != sqliteMagic:
		return 0, nil // sqlitestore.Open refuses it, saying what it is
	}
	return readVersion(path, create)
}

// readVersion reads the store's marker and version on a read-only
// connection, which can neither create nor change anything.
func readVersion(path string, create bool) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, unreachable(err)
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?mode=ro&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return 0, unreachable(fmt.Errorf("open the store at %s: %w", path, err))
	}
	defer db.Close()
	var app, version, tables int64
	err = db.QueryRow("PRAGMA application_id").Scan(&app)
	if err == nil {
		err = db.QueryRow("PRAGMA user_version").Scan(&version)
	}
	if err == nil {
		err = db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')").Scan(&tables)
	}
	switch {
	case err != nil:
		return 0, nil // corrupt or locked oddly: Open says which
	case app == sqlitestore.ApplicationID:
		return int(version), nil
	case app == 0 && tables == 0 && create:
		return -1, nil
	case app == 0 && tables == 0:
		return 0, unreachable(fmt.Errorf("%s is an empty SQLite database, not a Plumb store; check --db, or create a store there with plumb migrate", path))
	}
	return 0, nil // another application's: Open refuses it, saying whose
}
