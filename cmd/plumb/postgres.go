package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// openPostgres opens the PostgreSQL store at dsn, in schema. A read
// command never migrates (SkipMigrate): a DSN pointing at the wrong
// database must fail, not create the store's tables there. Only migrate
// (create set) creates or upgrades the schema.
func openPostgres(ctx context.Context, dsn, schema string, create bool) (*handle, error) {
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return nil, unreachable(fmt.Errorf("the --dsn does not parse; want postgres://user:password@host:5432/database or key=value pairs: %w", err))
	}
	where := describeDSN(dsn, schema)
	cfg := pgstore.Config{Schema: schema, SkipMigrate: true, Logger: slog.New(slog.DiscardHandler)}
	s, err := pgstore.Open(ctx, dsn, cfg)
	if err == nil {
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			_ = s.Close()
			return nil, unreachable(err)
		}
		return &handle{Store: s, where: where, before: v, version: v}, nil
	}
	var ce *pgconn.ConnectError
	if errors.Is(err, store.ErrNotAStore) || errors.As(err, &ce) {
		return nil, unreachable(err)
	}
	if !create {
		// The schema is missing or older than this plumb: only migrate
		// changes it.
		return nil, &exitError{code: exitUnreachable, err: err,
			detail: fmt.Sprintf("  plumb migrate creates the store in %s, or upgrades its schema\n", where)}
	}
	cfg.SkipMigrate = false // Open migrates
	if s, err = pgstore.Open(ctx, dsn, cfg); err != nil {
		return nil, unreachable(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		_ = s.Close()
		return nil, unreachable(err)
	}
	return &handle{Store: s, where: where, before: unknownVersion, version: v}, nil
}

// unknownVersion is the version before a PostgreSQL migration: pgstore
// migrates inside Open, so the CLI cannot read it first.
const unknownVersion = -2

// describeDSN names the database without its password.
func describeDSN(dsn, schema string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "the --dsn database"
	}
	host := c.Host
	if host != "" && host[0] != '/' {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return fmt.Sprintf("postgres://%s@%s/%s (schema %s)", c.User, host, c.Database, schema)
}
