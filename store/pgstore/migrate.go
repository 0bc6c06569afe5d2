package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/internal/sqlfiles"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations are the embedded files NNNN_name.sql in version order; the
// schema version is the number of the last one applied, recorded with
// each in the plumb_migrations table.
var migrations = sqlfiles.MustLoad(migrationFS, "migrations", "pgstore")

// LatestVersion is the schema version this package writes.
var LatestVersion = migrations[len(migrations)-1].Version

// versionTable marks a schema as a Plumb store and records its migrations.
const versionTable = "plumb_migrations"

// ourTables are the tables the migrations create: a schema that has one of
// them but no versionTable belongs to something else.
var ourTables = []string{"runs", "attempts", "steps", "pipelines", "pauses", "joins"}

// migrationLock is the advisory lock key that serialises the migrations of
// one schema across processes.
func migrationLock(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("plumb.migrate:" + schema))
	return int64(h.Sum64())
}

// SchemaVersion returns the version of the store's schema in the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.leave()
	v, err := s.readVersion(ctx, s.pool)
	if err != nil {
		return 0, s.wrap("read the schema version", err)
	}
	return v, nil
}

type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readVersion returns the schema version, 0 when the schema or the version
// table does not exist.
func (s *Store) readVersion(ctx context.Context, q queryRower) (int, error) {
	var v int
	err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+s.q.schema+"."+versionTable).Scan(&v)
	if code := pgCode(err); code == codeUndefinedTable || code == "3F000" { // 3F000: no such schema
		return 0, nil
	}
	return v, err
}

func (s *Store) newerError(v int) error {
	return fmt.Errorf("pgstore: %s: the store has schema version %d, written by a newer Plumb; this one knows up to %d: upgrade Plumb to use it: %w",
		s.where, v, LatestVersion, store.ErrNotAStore)
}

// checkVersion refuses a schema that is not current, for SkipMigrate.
func (s *Store) checkVersion(ctx context.Context) error {
	v, err := s.readVersion(ctx, s.pool)
	switch {
	case err != nil && isConnectFailure(err):
		return connectError("check the schema of", s.pool.Config(), err)
	case err != nil:
		return s.wrap("read the schema version", err)
	case v > LatestVersion:
		return s.newerError(v)
	case v < LatestVersion:
		return fmt.Errorf("pgstore: %s: the schema is at version %d, this Plumb needs %d; call Migrate (Config.SkipMigrate is set)", s.where, v, LatestVersion)
	}
	return nil
}

// Migrate brings the schema up to date: it creates the schema and its
// tables on first use and applies the migrations a database lacks, in one
// transaction under an advisory lock, so that of several processes
// starting at once one migrates and the others wait and find it done. A
// schema of a newer Plumb, or one holding tables of another application,
// is refused with an error wrapping store.ErrNotAStore.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	// Most starts find the schema current: check without the lock.
	v, err := s.readVersion(ctx, s.pool)
	switch {
	case err != nil && isConnectFailure(err):
		return connectError("migrate", s.pool.Config(), err)
	case err != nil:
		return s.wrap("read the schema version", err)
	case v > LatestVersion:
		return s.newerError(v)
	case v == LatestVersion:
		return nil
	}
	err = s.tx(ctx, func(tx pgx.Tx) error { return s.migrateLocked(ctx, tx) })
	if err != nil && !errors.Is(err, store.ErrNotAStore) {
		if code := pgCode(err); code == codeInsufficientPrivs {
			return fmt.Errorf("pgstore: migrate %s: the role lacks a privilege the migration needs (CREATE on the database for a new schema, or on the schema): grant it, or have an owner run Migrate once: %w", s.where, err)
		}
		return s.wrap("migrate", err)
	}
	return err
}

func (s *Store) migrateLocked(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock(s.cfg.Schema)); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", s.cfg.Schema).Scan(&exists); err != nil {
		return err
	}
	// CREATE SCHEMA IF NOT EXISTS would need the CREATE privilege even
	// when the schema exists.
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+s.q.schema); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+s.q.schema); err != nil {
		return err
	}
	var marked bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", s.q.schema+"."+versionTable).Scan(&marked); err != nil {
		return err
	}
	if !marked {
		var found []string
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}') FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = ANY($2)`,
			s.cfg.Schema, ourTables).Scan(&found); err != nil {
			return err
		}
		if len(found) > 0 {
			return fmt.Errorf("pgstore: %s: the schema holds tables named like the store's (%s) but no %s table: it belongs to another application; give Plumb a schema of its own (Config.Schema): %w",
				s.where, strings.Join(found, ", "), versionTable, store.ErrNotAStore)
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE "+versionTable+
			" (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"); err != nil {
			return err
		}
	}
	v, err := s.readVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v > LatestVersion {
		return s.newerError(v)
	}
	for _, m := range migrations[v:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.q.schema+"."+versionTable+" (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return err
		}
	}
	return nil
}
