package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/plumb-dev/plumb/internal/benchfixture"
)

// The River workload: a job that writes the same three checkpoints as the
// other systems, as three UPDATEs (each its own commit) of a row of its own
// holding the step reached and its output, then completes (River's
// completer marks it completed, batched). The jobs are inserted before the
// clock starts, as River's own benchmark (riverbench) does, and the client
// uses riverbench's fetch settings.

const riverSchema = "bench_river"

// checkpointArgs is a job's arguments: the lead it carries through the
// three steps, and the row its checkpoints go to.
type checkpointArgs struct {
	Num  int               `json:"num"`
	Lead benchfixture.Lead `json:"lead"`
}

func (checkpointArgs) Kind() string { return "bench_checkpoints" }

type checkpointWorker struct {
	river.WorkerDefaults[checkpointArgs]
	pool *pgxpool.Pool
}

const riverCheckpointSQL = "UPDATE " + riverSchema + ".checkpoints SET step = $2, output = $3, updated_at = now() WHERE id = $1"

func (w *checkpointWorker) Work(ctx context.Context, j *river.Job[checkpointArgs]) error {
	l := j.Args.Lead
	for i, s := range leadSteps {
		l = s.f(l)
		out, err := json.Marshal(l)
		if err != nil {
			return err
		}
		if _, err := w.pool.Exec(ctx, riverCheckpointSQL, j.Args.Num, i+1, out); err != nil {
			return err
		}
	}
	return nil
}

// riverBacklog drains c.backlogRuns pre-inserted jobs (not timed) with
// MaxWorkers maxWorkers; the clock runs from Start to the last
// JobCompleted event.
func riverBacklog(ctx context.Context, c config, maxWorkers int) (sample, error) {
	var r sample
	n := c.backlogRuns
	if err := dropSchema(ctx, c.dsn, riverSchema); err != nil {
		return r, err
	}
	pool, err := pgxpool.New(ctx, withParam(c.dsn, "pool_max_conns", itoa(c.riverPool)))
	if err != nil {
		return r, err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+riverSchema+`;
		CREATE TABLE `+riverSchema+`.checkpoints (id bigint PRIMARY KEY, step integer NOT NULL DEFAULT 0, output bytea, updated_at timestamptz);
		INSERT INTO `+riverSchema+`.checkpoints (id) SELECT generate_series(1, `+itoa(n)+`)`); err != nil {
		return r, err
	}
	driver := riverpgxv5.New(pool)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: riverSchema, Logger: quiet})
	if err != nil {
		return r, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return r, fmt.Errorf("river: migrate: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &checkpointWorker{pool: pool})
	client, err := river.NewClient(driver, &river.Config{
		FetchCooldown:     2 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		Logger:            quiet,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Schema:            riverSchema,
		Workers:           workers,
	})
	if err != nil {
		return r, err
	}
	const batch = 5000
	for from := 1; from <= n; from += batch {
		var params []river.InsertManyParams
		for i := from; i < min(from+batch, n+1); i++ {
			params = append(params, river.InsertManyParams{Args: checkpointArgs{Num: i, Lead: benchfixture.NewLead(i)}})
		}
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return r, fmt.Errorf("river: insert: %w", err)
		}
	}
	if err := analyze(ctx, c.dsn, riverSchema+".river_job", riverSchema+".checkpoints"); err != nil {
		return r, err
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: n + 1000,
		Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled}})
	defer cancel()
	t0, cpu0 := time.Now(), sampleCPU()
	if err := client.Start(ctx); err != nil {
		return r, err
	}
	defer func() { _ = client.Stop(context.Background()) }()
	limit := time.After(5 * time.Minute)
	for done := 0; done < n; {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				return r, fmt.Errorf("river: job %d: %s", ev.Job.ID, ev.Kind)
			}
			done++
		case <-limit:
			return r, fmt.Errorf("river: %d of %d jobs completed after 5 minutes", done, n)
		}
	}
	d := time.Since(t0)
	r.rate, r.cpu = float64(3*n)/d.Seconds(), since(cpu0).perUnit(n)
	var steps int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+riverSchema+".checkpoints WHERE step = 3").Scan(&steps); err != nil {
		return r, err
	}
	if steps != n {
		return r, fmt.Errorf("river: %d jobs wrote their third checkpoint, want %d", steps, n)
	}
	return r, nil
}
