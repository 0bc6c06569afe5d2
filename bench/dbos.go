package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	_ "github.com/dbos-inc/dbos-transact-golang/dbos/driver/sqlite" // DBOS's SQLite system database
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plumb-dev/plumb/internal/benchfixture"
)

// The DBOS workload: a workflow of the same three steps as Plumb's
// pipeline, each a dbos.RunAsStep (DBOS records the workflow's start and
// input, each step's output and the workflow's outcome). Workflows run in
// this process, started with dbos.RunWorkflow and waited for with
// GetResult, as DBOS is normally driven.

const dbosSchema = "bench_dbos"

func dbosWorkflow(ctx dbos.Context, l benchfixture.Lead) (benchfixture.Lead, error) {
	for _, s := range leadSteps {
		in := l
		var err error
		l, err = dbos.RunAsStep(ctx, func(context.Context) (benchfixture.Lead, error) { return s.f(in), nil }, dbos.WithStepName(s.name))
		if err != nil {
			return l, fmt.Errorf("step %s: %w", s.name, err)
		}
	}
	return l, nil
}

// startDBOS launches DBOS on a fresh system database: on PostgreSQL its
// schema dropped first, on a pool of c.dbosPool connections; on SQLite a
// new file under c.sqliteDir (DBOS sets journal_mode=WAL and
// synchronous=NORMAL on it; with -dbos-sqlite-full, the benchmark opens
// the same pool at synchronous=FULL and hands it to DBOS).
func startDBOS(ctx context.Context, c config, kind string) (dbos.Context, func(), error) {
	cfg := dbos.Config{
		AppName:            "plumb-bench",
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		ApplicationVersion: "bench",
	}
	var cleanup func()
	switch kind {
	case "pg":
		if err := dropSchema(ctx, c.dsn, dbosSchema); err != nil {
			return nil, nil, err
		}
		pool, err := pgxpool.New(ctx, withParam(c.dsn, "pool_max_conns", itoa(c.dbosPool)))
		if err != nil {
			return nil, nil, err
		}
		cfg.SystemDBPool, cfg.DatabaseSchema, cleanup = pool, dbosSchema, pool.Close
	case "sqlite":
		dir, err := os.MkdirTemp(c.sqliteDir, "dbos-bench-")
		if err != nil {
			return nil, nil, err
		}
		path := filepath.Join(dir, "dbos.db")
		cfg.DatabaseURL, cleanup = "sqlite:"+path, func() { _ = os.RemoveAll(dir) }
		if c.dbosSQLiteFull {
			// DBOS's own pool, as OpenSQLitePool makes it, but at FULL.
			db, err := sql.Open("sqlite", path+"?_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=foreign_keys(ON)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
			if err != nil {
				return nil, nil, err
			}
			db.SetMaxOpenConns(8)
			db.SetMaxIdleConns(4)
			cfg.DatabaseURL, cfg.SQLiteSystemDB = "", db
			cleanup = func() { _ = db.Close(); _ = os.RemoveAll(dir) }
		}
	default:
		return nil, nil, fmt.Errorf("unknown store %q", kind)
	}
	dctx, err := dbos.NewContext(ctx, cfg)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dbos on %s: %w", kind, err)
	}
	dbos.RegisterWorkflow(dctx, dbosWorkflow)
	if err := dbos.Launch(dctx); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("dbos on %s: launch: %w", kind, err)
	}
	return dctx, func() { dbos.Shutdown(dctx, 5*time.Second); cleanup() }, nil
}

// dbosOne runs the workflow on lead n and checks its result.
func dbosOne(dctx dbos.Context) func(context.Context, int) error {
	return func(_ context.Context, n int) error {
		h, err := dbos.RunWorkflow(dctx, dbosWorkflow, benchfixture.NewLead(n))
		if err != nil {
			return fmt.Errorf("dbos: %w", err)
		}
		out, err := h.GetResult()
		if err != nil {
			return fmt.Errorf("dbos: %w", err)
		}
		return checkLead(out, n)
	}
}

func dbosClosed(ctx context.Context, c config, kind string, conc int) (sample, error) {
	dctx, stop, err := startDBOS(ctx, c, kind)
	if err != nil {
		return sample{}, err
	}
	defer stop()
	m, err := closedLoop(ctx, conc, c.warmup, c.duration, dbosOne(dctx))
	return sample{rate: m.rate(), cpu: m.cpu}, err
}

func dbosLatency(ctx context.Context, c config, kind string) (sample, error) {
	dctx, stop, err := startDBOS(ctx, c, kind)
	if err != nil {
		return sample{}, err
	}
	defer stop()
	lat, err := latencyLoop(ctx, c.latencyRuns, dbosOne(dctx))
	return sample{lat: lat}, err
}
