package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// The reliability tests run a three-step pipeline whose steps leave a
// side effect in a table of their own, in the same database: one row per
// execution of a step, with a unique token, the process, and the snapshot
// the execution started in. Each step's output carries its token, so the
// checkpoint names the execution it came from. The store's steps table
// gets a column with the id of the transaction that wrote each record;
// pg_visible_in_snapshot then tells, exactly, whether a step started after
// its checkpoint had committed.

const workloadPipeline = "effects"

type item struct {
	N int `json:"n"`
}

type mark struct {
	Run   string `json:"run"`
	Step  int    `json:"step"`
	Token string `json:"token"`
	N     int    `json:"n"`
}

type workload struct {
	effects *pgxpool.Pool
	schema  string // quoted
	work    time.Duration
}

// prepareWorkload adds the effects table and the xid column to a store's
// schema.
func prepareWorkload(t testing.TB, s *pgstore.Store) {
	t.Helper()
	sc := pgx.Identifier{s.Schema()}.Sanitize()
	_, err := admin(t).Exec(context.Background(), fmt.Sprintf(`
		ALTER TABLE %[1]s.steps ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
		CREATE TABLE %[1]s.effects (
			token  text PRIMARY KEY,
			run_id text NOT NULL,
			step   integer NOT NULL,
			pid    integer NOT NULL,
			snap   pg_snapshot NOT NULL DEFAULT pg_current_snapshot(),
			at     timestamptz NOT NULL DEFAULT clock_timestamp()
		)`, sc))
	require.NoError(t, err)
}

func (w *workload) pipeline(s store.Store, log *slog.Logger) *pipeline.Pipeline[item, mark] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: s, Logger: log})
	one := step.New("one", func(ctx context.Context, in item) (mark, error) { return w.effect(ctx, 0, in.N) }, step.Config{})
	next := func(i int) func(ctx context.Context, in mark) (mark, error) {
		return func(ctx context.Context, in mark) (mark, error) { return w.effect(ctx, i, in.N) }
	}
	p2 := pipeline.Then(pipeline.New(rt, workloadPipeline, one, pipeline.Policy{Outage: pipeline.NoOutage}), step.New("two", next(1), step.Config{}))
	return pipeline.Then(p2, step.New("three", next(2), step.Config{}))
}

// effect records one execution of step i of the context's run, then works
// for a moment. The insert is retried (idempotently, by token) while the
// database is unreachable, so that a cut connection does not fail the run.
func (w *workload) effect(ctx context.Context, i, n int) (mark, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	m := mark{Run: step.RunInfoFrom(ctx).RunID, Step: i, Token: hex.EncodeToString(b[:]), N: n}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := w.effects.Exec(ctx, "INSERT INTO "+w.schema+".effects (token, run_id, step, pid) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
			m.Token, m.Run, i, os.Getpid())
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return m, errors.Join(ctx.Err(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(w.work)
	return m, nil
}

// submit enqueues n runs run-0000 … with four submitters.
func submit(p *pipeline.Pipeline[item, mark], n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 4 {
				if _, err := p.Submit(context.Background(), item{N: i}, pipeline.SubmitOptions{RunID: fmt.Sprintf("run-%04d", i)}); err != nil {
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

// countSucceeded counts the store's succeeded runs.
func countSucceeded(t testing.TB, schema string) int {
	t.Helper()
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := admin(t).QueryRow(ctx, "SELECT count(*) FROM "+schema+".runs WHERE status = 'succeeded'").Scan(&n)
	if err != nil {
		t.Logf("count succeeded runs: %v", err)
		return -1
	}
	return n
}

// waitSucceeded waits until at least n runs have succeeded.
func waitSucceeded(t testing.TB, schema string, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got := countSucceeded(t, schema)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			rows, _ := admin(t).Query(context.Background(), "SELECT status || ': ' || count(*) FROM "+schema+".runs GROUP BY status")
			byStatus, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Fatalf("after %s, %d runs succeeded, want %d (%s)", limit, got, n, strings.Join(byStatus, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outcome is what verifyExactlyOnce found.
type outcome struct {
	Runs, Executions, Repeats int
	// RepeatsByPID counts the executions that never reached a checkpoint,
	// by process.
	RepeatsByPID map[int]int
	// DuplicateRecords counts checkpoints written twice by one execution
	// (a write retried after its acknowledgement was lost).
	DuplicateRecords int
}

// verifyExactlyOnce checks that every one of n runs succeeded once, that no
// step ran after its checkpoint committed, and that every checkpoint came
// from an execution that left its side effect; it reports the repeats.
func verifyExactlyOnce(t testing.TB, schema string, n int) outcome {
	t.Helper()
	ctx := context.Background()
	db := admin(t)
	one := func(q string) int {
		t.Helper()
		var v int
		require.NoError(t, db.QueryRow(ctx, strings.ReplaceAll(q, "{s}", schema)).Scan(&v), q)
		return v
	}
	var o outcome
	o.Runs = one("SELECT count(*) FROM {s}.runs")
	assert.Equal(t, n, o.Runs, "no run lost, none added")
	assert.Equal(t, n, one("SELECT count(*) FROM {s}.runs WHERE status = 'succeeded' AND attempt = 1"), "every run succeeded, in its first attempt")
	assert.Equal(t, 0, one(`SELECT count(*) FROM (SELECT run_id FROM {s}.steps WHERE idx = 2 AND status = 'succeeded'
		GROUP BY run_id HAVING count(*) <> 1) x`), "every run finished exactly once")
	assert.Equal(t, 3*n, one("SELECT count(DISTINCT (run_id, idx)) FROM {s}.steps WHERE status = 'succeeded'"), "every step has its checkpoint")
	// The heart of it: no execution of a step started once its checkpoint
	// had committed.
	assert.Equal(t, 0, one(`SELECT count(*) FROM {s}.effects e JOIN {s}.steps s
		ON s.run_id = e.run_id AND s.idx = e.step AND s.status = 'succeeded'
		WHERE pg_visible_in_snapshot(s.xid, e.snap)`), "no step ran again after its checkpoint committed")
	assert.Equal(t, 0, one(`SELECT count(*) FROM {s}.steps s WHERE s.status = 'succeeded' AND NOT EXISTS
		(SELECT FROM {s}.effects e WHERE e.token = convert_from(s.output, 'UTF8')::jsonb->>'token')`),
		"every checkpoint comes from an execution that left its side effect")
	o.Executions = one("SELECT count(*) FROM {s}.effects")
	o.DuplicateRecords = one(`SELECT count(*) - count(DISTINCT (run_id, idx)) FROM {s}.steps WHERE status = 'succeeded'`)
	rows, err := db.Query(ctx, strings.ReplaceAll(`SELECT e.pid, count(*) FROM {s}.effects e WHERE NOT EXISTS (
		SELECT FROM {s}.steps s WHERE s.run_id = e.run_id AND s.idx = e.step AND s.status = 'succeeded'
			AND convert_from(s.output, 'UTF8')::jsonb->>'token' = e.token) GROUP BY e.pid`, "{s}", schema))
	require.NoError(t, err)
	o.RepeatsByPID = map[int]int{}
	var pid, c int
	_, err = pgx.ForEachRow(rows, []any{&pid, &c}, func() error {
		o.RepeatsByPID[pid] = c
		o.Repeats += c
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, o.Executions, 3*n+o.Repeats, "each step ran once, plus the repeats")
	return o
}

// quietLogger keeps the warnings of the runs (store writes retried, leases
// lost) out of the test output but counts them.
type quietLogger struct {
	mu    sync.Mutex
	count map[string]int
}

func newQuietLogger() (*slog.Logger, *quietLogger) {
	q := &quietLogger{count: map[string]int{}}
	return slog.New(&countingHandler{q: q}), q
}

func (q *quietLogger) summary() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var parts []string
	for msg, n := range q.count {
		parts = append(parts, fmt.Sprintf("%d× %q", n, msg))
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

type countingHandler struct{ q *quietLogger }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.q.mu.Lock()
		h.q.count[r.Message]++
		h.q.mu.Unlock()
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
