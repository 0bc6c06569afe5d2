package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/internal/sqlfiles"
)

// ApplicationID marks a Plumb store in the SQLite header (PRAGMA
// application_id): "Plmb". The schema version is PRAGMA user_version. Both
// are written in the transaction that migrates the schema, so a file has
// either both and the tables, or neither.
const ApplicationID = 0x506c6d62

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations are the embedded files NNNN_name.sql, in version order; the
// schema version is the number of the last one applied.
var migrations = sqlfiles.MustLoad(migrationFS, "migrations", "sqlitestore")

// latestVersion is the version of the schema this package writes.
var latestVersion = migrations[len(migrations)-1].Version

var sqliteMagic = []byte("SQLite format 3\x00")

// checkHeader refuses an existing file that is not an SQLite database,
// before SQLite is given a chance to write to it.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, len(sqliteMagic))
	n, err := io.ReadFull(f, head)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil // an empty file: a new store
	}
	if !bytes.Equal(head[:n], sqliteMagic) {
		return notSQLite(path)
	}
	return nil
}

func notSQLite(path string) error {
	return fmt.Errorf("sqlitestore: open %s: the file is not an SQLite database; give Open the path of a Plumb store or of a file that does not exist yet: %w", path, store.ErrNotAStore)
}

// classify turns SQLite's "not a database" and "corrupt" errors into
// errors wrapping store.ErrNotAStore that say what to do. Callers add
// what failed and the path.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("the file is not an SQLite database (%w); give Plumb the path of a Plumb store or of a file that does not exist yet: %w", err, store.ErrNotAStore)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("the database is corrupt (%w); restore it from a backup, or recover what is left with the sqlite3 shell's .recover into a new file: %w", err, store.ErrNotAStore)
	}
	return err
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// inspect reads the file's marker and version, and refuses a database of
// another application or of a newer Plumb. It writes nothing.
func inspect(ctx context.Context, q querier, path string) (version int, err error) {
	var app, ver int64
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	rows, err := q.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
		}
		tables = append(tables, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	switch {
	case app == ApplicationID && ver > int64(latestVersion):
		return 0, fmt.Errorf("sqlitestore: open %s: the store has schema version %d, written by a newer Plumb; this one knows up to %d: upgrade Plumb to open it: %w",
			path, ver, latestVersion, store.ErrNotAStore)
	case app == ApplicationID:
		return int(ver), nil
	case app != 0:
		return 0, fmt.Errorf("sqlitestore: open %s: the database belongs to another application (application_id %#x); give Plumb a file of its own: %w", path, app, store.ErrNotAStore)
	case len(tables) > 0:
		if len(tables) > 5 {
			tables = append(tables[:5], "…")
		}
		return 0, fmt.Errorf("sqlitestore: open %s: the database holds tables of another application (%s) and no Plumb marker; give Plumb a file of its own: %w",
			path, strings.Join(tables, ", "), store.ErrNotAStore)
	}
	return 0, nil // empty: a new store
}

// Migrate brings the schema of the database behind db (opened with the
// modernc.org/sqlite driver on a file) up to date, as Open and New do, and
// returns its version. Open and New call it themselves; it is for tools
// that prepare a store ahead of its first use. Like them, it refuses a
// database that is not a Plumb store, and writes nothing to it.
func Migrate(ctx context.Context, db *sql.DB) (version int, err error) {
	path, err := mainFile(db, "migrate")
	if err != nil {
		return 0, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: migrate %s: %w", path, classify(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", DefaultBusyTimeout.Milliseconds())); err != nil {
		return 0, fmt.Errorf("sqlitestore: migrate %s: %w", path, classify(err))
	}
	return prepareSchema(ctx, conn, path, DefaultBusyRetryFor)
}

// prepareSchema refuses a file that is not (or not yet) a Plumb store,
// before anything is written to it; then it switches the file to WAL and
// applies the migrations it lacks.
func prepareSchema(ctx context.Context, conn *sql.Conn, path string, retryFor time.Duration) (int, error) {
	if err := inspectSnapshot(ctx, conn, path); err != nil {
		return 0, err
	}
	if err := enableWAL(ctx, conn, path, retryFor); err != nil {
		return 0, err
	}
	return migrate(ctx, conn, path, retryFor)
}

// inspectSnapshot inspects the file in one read transaction: another
// process may be migrating it, and the marker and the tables must be read
// from the same state.
func inspectSnapshot(ctx context.Context, conn *sql.Conn, path string) error {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	_, err := inspect(ctx, conn, path)
	_, _ = conn.ExecContext(ctx, "ROLLBACK")
	return err
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// enableWAL switches the file to WAL, which lets readers run beside the
// writer. Two processes opening a new file at once may find it locked for
// the switch; they wait and try again.
func enableWAL(ctx context.Context, conn *sql.Conn, path string, retryFor time.Duration) error {
	deadline := time.Now().Add(retryFor)
	for {
		var mode string
		err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("sqlitestore: open %s: journal_mode is %q, not wal: a store needs a file on a file system that supports WAL", path, mode)
		case isBusy(err) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
		default:
			return fmt.Errorf("sqlitestore: open %s: enable WAL: %w", path, classify(err))
		}
	}
}

// migrate applies the migrations the file lacks, all in one IMMEDIATE
// transaction that first reads the version again: of two processes opening
// a new file at once, one migrates and the other finds it done.
func migrate(ctx context.Context, conn *sql.Conn, path string, retryFor time.Duration) (int, error) {
	deadline := time.Now().Add(retryFor)
	for {
		_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		if err == nil {
			break
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return 0, fmt.Errorf("sqlitestore: open %s: begin migration: %w", path, classify(err))
		}
		time.Sleep(10 * time.Millisecond)
	}
	v, err := migrateLocked(ctx, conn, path)
	if err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return 0, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return 0, fmt.Errorf("sqlitestore: open %s: commit migration: %w", path, classify(err))
	}
	return v, nil
}

func migrateLocked(ctx context.Context, conn *sql.Conn, path string) (int, error) {
	v, err := inspect(ctx, conn, path)
	if err != nil {
		return 0, err
	}
	for _, m := range migrations[v:] {
		if _, err := conn.ExecContext(ctx, m.SQL); err != nil {
			return 0, fmt.Errorf("sqlitestore: open %s: migration %s: %w", path, m.Name, classify(err))
		}
	}
	if v == latestVersion {
		return v, nil
	}
	for _, p := range []string{
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		fmt.Sprintf("PRAGMA user_version = %d", latestVersion),
	} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return 0, fmt.Errorf("sqlitestore: open %s: %s: %w", path, p, classify(err))
		}
	}
	return latestVersion, nil
}
