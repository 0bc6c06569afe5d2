package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// workerEnv, when set, makes the test binary a worker process of the
// multi-process test instead of running tests: its value is a workerSpec.
const workerEnv = "PLUMB_PGSTORE_WORKER"

type workerSpec struct {
	DSN         string        `json:"dsn"`
	Schema      string        `json:"schema"`
	ID          string        `json:"id"`
	Concurrency int           `json:"concurrency"`
	Lease       time.Duration `json:"lease"`
	Work        time.Duration `json:"work"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		os.Exit(workerMain(spec))
	}
	os.Exit(m.Run())
}

// workerMain runs a pipeline.Worker on the workload until SIGTERM, then
// shuts it down gracefully.
func workerMain(raw string) int {
	var spec workerSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "worker: bad spec:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", spec.ID)
	s, err := pgstore.Open(ctx, spec.DSN, pgstore.Config{Schema: spec.Schema, Logger: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer s.Close()
	effects, err := pgxpool.New(ctx, spec.DSN)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer effects.Close()
	w := &workload{effects: effects, schema: pgx.Identifier{spec.Schema}.Sanitize(), work: spec.Work}
	wk, err := w.pipeline(s, log).Runtime().NewWorker(pipeline.WorkerConfig{ID: spec.ID, Concurrency: spec.Concurrency, Lease: spec.Lease,
		Poll: 200 * time.Millisecond, ShutdownGrace: 3 * time.Second, PruneEvery: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	if err := wk.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}
