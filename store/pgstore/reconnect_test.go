package pgstore_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// restartEnv opts in to restarting the PostgreSQL server mid-test with
// .ci/postgres.sh restart (pg_ctl restart -m fast). It is opt-in because
// it cuts every client of the server, other packages' tests included.
const restartEnv = "PLUMB_TEST_POSTGRES_RESTART"

// A write whose connection dies while it waits returns an error at once,
// not when its context ends, and the next write succeeds on a new
// connection.
func TestDeadConnectionFailsTheWriteNotHangs(t *testing.T) {
	app := appName("plumb-cut")
	s := openStoreDSN(t, withParam(testDSN(t), "application_name", app), pgstore.Config{})
	ctx := context.Background()
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads"})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)

	// Another session holds the run's row, so the checkpoint waits.
	blocker, err := admin(t).Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	_, err = blocker.Exec(ctx, "SELECT 1 FROM "+pgx.Identifier{s.Schema(), "runs"}.Sanitize()+" WHERE id = 'run-1' FOR UPDATE")
	require.NoError(t, err)

	rec := store.StepRecord{Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{}`)}
	done := make(chan error, 1)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() { done <- s.Checkpoint(wctx, c[0].Lease, rec) }()
	require.Eventually(t, func() bool { // the checkpoint waits for the row
		var waiting bool
		err := admin(t).QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock')", app).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 20*time.Millisecond)
	start := time.Now()
	require.Positive(t, terminateBackends(t, app))
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Less(t, time.Since(start), 5*time.Second)
		t.Logf("the cut write failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(10 * time.Second):
		t.Fatal("the write hangs on a dead connection")
	}
	require.NoError(t, blocker.Rollback(ctx))
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, rec), "the next write uses a new connection")
	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Len(t, d.Steps, 1, "the cut write did not commit")
}

// Workers keep going while every connection they have is cut, several
// times (pg_terminate_backend: what a restart, a failover or a network
// failure does to them), and, with PLUMB_TEST_POSTGRES_RESTART=1, while
// the server restarts. Every run still ends exactly once.
func TestWorkersSurviveConnectionCuts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 600 runs through two workers")
	}
	const runs = 600
	app := appName("plumb-workers")
	dsn := withParam(testDSN(t), "application_name", app)
	log, quiet := newQuietLogger()
	first := openStoreDSN(t, dsn, pgstore.Config{Logger: log})
	prepareWorkload(t, first)
	schema := pgx.Identifier{first.Schema()}.Sanitize()
	// The side effects go through the tests' own pool, which the cuts
	// spare (a restart does not; effect retries).
	w := &workload{effects: admin(t), schema: schema, work: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range []*pgstore.Store{first, openStoreDSN(t, dsn, pgstore.Config{Schema: first.Schema(), Logger: log})} {
		wk, err := w.pipeline(s, log).Runtime().NewWorker(pipeline.WorkerConfig{ID: "w" + string(rune('0'+i)), Concurrency: 6,
			Lease: 2 * time.Second, Poll: 200 * time.Millisecond, ShutdownGrace: 3 * time.Second, PruneEvery: -1})
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, wk.Run(ctx))
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	start := time.Now()
	require.NoError(t, submit(w.pipeline(first, log), runs))

	cuts, cut := 0, 0
	for _, at := range []int{runs / 5, 2 * runs / 5, 3 * runs / 5} {
		waitSucceeded(t, schema, at, 30*time.Second)
		cut += terminateBackends(t, app)
		cuts++
	}
	restarted := false
	if os.Getenv(restartEnv) == "1" {
		waitSucceeded(t, schema, 4*runs/5, 30*time.Second)
		script, err := filepath.Abs(filepath.Join("..", "..", ".ci", "postgres.sh"))
		require.NoError(t, err)
		out, err := exec.Command("bash", script, "restart").CombinedOutput()
		require.NoError(t, err, "restart the server: %s", out)
		restarted = true
	}
	waitSucceeded(t, schema, runs, 60*time.Second)
	elapsed := time.Since(start)
	cancel()
	wg.Wait()

	o := verifyExactlyOnce(t, schema, runs)
	t.Logf("%d runs in %s by 2 workers; %d cuts killed %d connections; server restarted: %v; "+
		"%d step executions, %d repeats (executions whose lease was lost while the store was unreachable), "+
		"0 executions after a committed checkpoint, %d checkpoints written twice (a retried write whose commit was not acknowledged); "+
		"warnings: %s", runs, elapsed.Round(time.Millisecond), cuts, cut, restarted,
		o.Executions, o.Repeats, o.DuplicateRecords, quiet.summary())
}
