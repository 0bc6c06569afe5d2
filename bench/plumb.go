package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The Plumb workload: a pipeline of three steps that each change one field
// of the lead (benchfixture.Lead, about 1 KB of JSON). Every step's output
// is checkpointed durably (the third one's with the run's outcome, in the
// same write) and checked against its contract (the JSON Schema of Lead,
// step.New's default), as in production.

const (
	plumbSchema   = "bench_plumb"
	plumbPipeline = "bench"
)

// The three steps, shared by every system so that they do the same work.
func qualify(l benchfixture.Lead) benchfixture.Lead   { l.Score++; return l }
func promote(l benchfixture.Lead) benchfixture.Lead   { l.Stage = "qualified"; return l }
func contacted(l benchfixture.Lead) benchfixture.Lead { l.Score++; return l }

var leadSteps = []struct {
	name string
	f    func(benchfixture.Lead) benchfixture.Lead
}{{"qualify", qualify}, {"promote", promote}, {"contacted", contacted}}

// wantLead is what the three steps make of lead n.
func wantLead(n int) benchfixture.Lead { return contacted(promote(qualify(benchfixture.NewLead(n)))) }

// checkLead reports a result that is not what the steps make of lead n.
func checkLead(got benchfixture.Lead, n int) error {
	want := wantLead(n)
	if got.ID != want.ID || got.Score != want.Score || got.Stage != want.Stage || !got.Received.Equal(want.Received) {
		return fmt.Errorf("lead %d came back as id %s, score %d, stage %s", n, got.ID, got.Score, got.Stage)
	}
	return nil
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// plumbPipe binds the pipeline to a runtime on s.
func plumbPipe(s store.Store) *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead] {
	if _, ok := s.(store.Handoff); !ok {
		// Both SQL stores hand runs off at submit; a store that does not
		// here is a wrapper, and Plumb would be measured without it.
		panic(fmt.Sprintf("bench: %T does not implement store.Handoff", s))
	}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: s, Logger: quietLogger()})
	st := func(i int) *step.Step[benchfixture.Lead, benchfixture.Lead] {
		f := leadSteps[i].f
		return step.New(leadSteps[i].name, func(_ context.Context, l benchfixture.Lead) (benchfixture.Lead, error) { return f(l), nil }, step.Config{})
	}
	p := pipeline.New(rt, plumbPipeline, st(0), pipeline.Policy{Outage: pipeline.NoOutage})
	p = pipeline.Then(p, st(1))
	return pipeline.Then(p, st(2))
}

// plumbStore is a fresh, empty store of one kind, and a way to count what
// it holds. The pipeline is given the store itself (Store), never the
// wrapper: a wrapper would hide the interfaces a store may add to
// store.Store (store.Handoff, the hand-off at submit), and Plumb would be
// measured without them.
type plumbStore struct {
	store.Store
	kind  string // "sqlite", "pg"
	count func(ctx context.Context) (runs, steps int, err error)
	close func()
}

// openPlumb opens a fresh store: on PostgreSQL its schema dropped and
// created again, on SQLite a new file in a new directory under
// -sqlite-dir, with sqlitestore's default synchronous=FULL.
func openPlumb(ctx context.Context, c config, kind string) (*plumbStore, error) {
	// countQ counts the succeeded runs and their succeeded step records.
	countQ := func(prefix string) string {
		return fmt.Sprintf("SELECT (SELECT count(*) FROM %[1]sruns WHERE status = 'succeeded'), "+
			"(SELECT count(*) FROM (SELECT DISTINCT run_id, idx FROM %[1]ssteps WHERE status = 'succeeded') AS s)", prefix)
	}
	switch kind {
	case "pg":
		if err := dropSchema(ctx, c.dsn, plumbSchema); err != nil {
			return nil, err
		}
		s, err := pgstore.Open(ctx, withParam(c.dsn, "pool_max_conns", "16"), pgstore.Config{Schema: plumbSchema})
		if err != nil {
			return nil, err
		}
		count := func(ctx context.Context) (runs, steps int, err error) {
			err = s.Pool().QueryRow(ctx, countQ(plumbSchema+".")).Scan(&runs, &steps)
			return runs, steps, err
		}
		return &plumbStore{Store: s, kind: kind, count: count, close: func() { _ = s.Close() }}, nil
	case "sqlite":
		dir, err := os.MkdirTemp(c.sqliteDir, "plumb-bench-")
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, "plumb.db")
		s, err := sqlitestore.Open(path, sqlitestore.Config{Logger: quietLogger()})
		if err != nil {
			return nil, err
		}
		count := func(ctx context.Context) (runs, steps int, err error) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				return 0, 0, err
			}
			defer db.Close()
			err = db.QueryRowContext(ctx, countQ("")).Scan(&runs, &steps)
			return runs, steps, err
		}
		return &plumbStore{Store: s, kind: kind, count: count, close: func() { _ = s.Close(); _ = os.RemoveAll(dir) }}, nil
	}
	return nil, fmt.Errorf("unknown store %q", kind)
}

// verify checks that n runs succeeded, each with a durable record of its
// three steps.
func (s *plumbStore) verify(ctx context.Context, n int) error {
	runs, steps, err := s.count(ctx)
	if err != nil {
		return err
	}
	if runs != n || steps != 3*n {
		return fmt.Errorf("plumb on %s: %d runs succeeded with %d step records, want %d and %d", s.kind, runs, steps, n, 3*n)
	}
	return nil
}

// plumbInProcess is a fresh store with a worker running in this process,
// as a web service that submits and waits would run it.
type plumbInProcess struct {
	s    *plumbStore
	p    *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead]
	stop func() error
}

func startPlumb(ctx context.Context, c config, kind string, concurrency int) (*plumbInProcess, error) {
	s, err := openPlumb(ctx, c, kind)
	if err != nil {
		return nil, err
	}
	p := plumbPipe(s.Store)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(wctx, pipeline.WorkerConfig{ID: "bench", Concurrency: concurrency, PruneEvery: -1})
	}()
	stop := func() error {
		cancel()
		err := <-done
		s.close()
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return err
	}
	return &plumbInProcess{s: s, p: p, stop: stop}, nil
}

// one submits lead n, waits for the run's end and checks its output.
func (pp *plumbInProcess) one(ctx context.Context, n int) error {
	out, err := pp.p.SubmitAndWait(ctx, benchfixture.NewLead(n), pipeline.SubmitOptions{})
	if err != nil {
		return err
	}
	return checkLead(out, n)
}

// plumbClosed measures Plumb's closed loop on one store at concurrency c.
func plumbClosed(ctx context.Context, c config, kind string, conc int, label string) (sample, error) {
	pp, err := startPlumb(ctx, c, kind, max(conc, 8))
	if err != nil {
		return sample{}, err
	}
	stopProfile := startProfile(c, label)
	m, err := closedLoop(ctx, conc, c.warmup, c.duration, pp.one)
	stopProfile()
	if err == nil {
		err = pp.s.verify(ctx, m.total)
	}
	if serr := pp.stop(); err == nil {
		err = serr
	}
	return sample{rate: m.rate(), cpu: m.cpu}, err
}

// plumbLatency measures Submit to succeeded, one run at a time.
func plumbLatency(ctx context.Context, c config, kind string, label string) (sample, error) {
	pp, err := startPlumb(ctx, c, kind, 8)
	if err != nil {
		return sample{}, err
	}
	stopProfile := startProfile(c, label)
	lat, err := latencyLoop(ctx, c.latencyRuns, pp.one)
	stopProfile()
	if err == nil {
		err = pp.s.verify(ctx, latencyWarmup+c.latencyRuns)
	}
	if serr := pp.stop(); err == nil {
		err = serr
	}
	return sample{lat: lat}, err
}

func dropSchema(ctx context.Context, dsn, schema string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

func analyze(ctx context.Context, dsn string, tables ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+t); err != nil {
			return err
		}
	}
	return nil
}

// submitAll submits leads 1..n from 32 goroutines.
func submitAll(ctx context.Context, p *pipeline.Pipeline[benchfixture.Lead, benchfixture.Lead], n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				if _, err := p.Submit(ctx, benchfixture.NewLead(int(i)), pipeline.SubmitOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// plumbBacklog drains c.backlogRuns pre-enqueued runs (not timed) with
// procs worker processes sharing total runs in flight. The clock runs from
// "go" to the last run's finish time as the store recorded it.
func plumbBacklog(ctx context.Context, c config, procs, total int, label string) (sample, error) {
	conc := max(1, total/procs)
	s, err := openPlumb(ctx, c, "pg")
	if err != nil {
		return sample{}, err
	}
	defer s.close()
	if err := submitAll(ctx, plumbPipe(s.Store), c.backlogRuns); err != nil {
		return sample{}, err
	}
	if err := analyze(ctx, c.dsn, plumbSchema+".runs", plumbSchema+".attempts"); err != nil {
		return sample{}, err
	}
	workers, err := startWorkers(ctx, c, procs, conc, label)
	if err != nil {
		return sample{}, err
	}
	defer stopWorkers(workers)
	t0, cpu0 := time.Now(), sampleCPU()
	for _, w := range workers {
		if err := w.send("go"); err != nil {
			return sample{}, err
		}
	}
	pool := s.Store.(*pgstore.Store).Pool()
	end, err := waitPlumb(ctx, pool, c.backlogRuns, 5*time.Minute)
	if err != nil {
		return sample{}, err
	}
	use := since(cpu0)
	stopWorkers(workers)
	d := end.Sub(t0)
	return sample{rate: float64(3*c.backlogRuns) / d.Seconds(), cpu: use.perUnit(c.backlogRuns)}, s.verify(ctx, c.backlogRuns)
}

// waitPlumb waits until n runs have succeeded and returns the last one's
// finish time.
func waitPlumb(ctx context.Context, pool *pgxpool.Pool, n int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	q := "SELECT count(*), max(finished_at) FROM " + plumbSchema + ".runs WHERE status = 'succeeded'"
	for {
		var done int
		var last *time.Time
		if err := pool.QueryRow(ctx, q).Scan(&done, &last); err != nil {
			return time.Time{}, err
		}
		if done >= n {
			return *last, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("plumb: %d of %d runs succeeded after %s", done, n, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
