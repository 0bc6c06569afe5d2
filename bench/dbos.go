package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The DBOS workload: a workflow of three durable steps, each passing the
// item on (DBOS records the workflow's start, each step's output and the
// workflow's outcome). Workflows are started directly (dbos.RunWorkflow,
// then GetResult) by a fixed number of goroutines: the concurrency.

const dbosSchema = "bench_dbos"

func dbosWorkflow(ctx dbos.Context, it Item) (Item, error) {
	for i, name := range []string{"one", "two", "three"} {
		var err error
		it, err = dbos.RunAsStep(ctx, func(context.Context) (Item, error) {
			it.N++
			return it, nil
		}, dbos.WithStepName(name))
		if err != nil {
			return it, fmt.Errorf("step %d: %w", i, err)
		}
	}
	return it, nil
}

func dbosThroughput(ctx context.Context, c config) ([]result, error) {
	if err := dropSchema(ctx, c.dsn, dbosSchema); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, withParam(c.dsn, "pool_max_conns", strconv.Itoa(c.dbosPool)))
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	dctx, err := dbos.NewContext(ctx, dbos.Config{
		AppName:            "plumb-bench",
		SystemDBPool:       pool,
		DatabaseSchema:     dbosSchema,
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		ApplicationVersion: "bench",
	})
	if err != nil {
		return nil, fmt.Errorf("dbos: %w", err)
	}
	dbos.RegisterWorkflow(dctx, dbosWorkflow)
	if err := dbos.Launch(dctx); err != nil {
		return nil, fmt.Errorf("dbos: launch: %w", err)
	}
	defer dbos.Shutdown(dctx, 5*time.Second)

	// Warm up the pool and the statement caches.
	if _, err := dbosRun(dctx, 8, 2*time.Second); err != nil {
		return nil, err
	}
	var out []result
	for _, conc := range c.dbosConcurrency {
		cpu0 := sampleCPU()
		n, err := dbosRun(dctx, conc, c.dbosDuration)
		if err != nil {
			return out, err
		}
		use := since(cpu0)
		r := result{system: "DBOS", unit: "workflows", n: n, time: c.dbosDuration, checkpoints: 3 * n,
			config: fmt.Sprintf("%d workflows in flight (RunWorkflow + GetResult), pool %d", conc, c.dbosPool)}
		r.cpu, r.cpuUnit = use.describe(n, r.unit), use.perUnit(n)
		out = append(out, r)
	}
	return out, nil
}

// dbosRun runs workflows from conc goroutines for d and returns how many
// completed within it.
func dbosRun(dctx dbos.Context, conc int, d time.Duration) (int, error) {
	var done atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				h, err := dbos.RunWorkflow(dctx, dbosWorkflow, Item{N: g*1_000_000 + i, Note: "a small payload"})
				if err == nil {
					_, err = h.GetResult()
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if time.Now().Before(deadline) {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, fmt.Errorf("dbos: %w", err)
	}
	return int(done.Load()), nil
}
