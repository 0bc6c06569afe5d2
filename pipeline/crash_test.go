package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// TestMain turns the test binary into a worker process when the crash and
// multi-process tests ask for one.
func TestMain(m *testing.M) {
	if db := os.Getenv("PLUMB_WORKER_DB"); db != "" {
		if err := workerProcess(db, os.Getenv("PLUMB_WORKER_LOG"), os.Getenv("PLUMB_WORKER_ID")); err != nil {
			fmt.Fprintln(os.Stderr, "worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv("PLUMB_FANOUT_STORE"); spec != "" {
		if err := fanWorkerProcess(spec, os.Getenv("PLUMB_WORKER_LOG"), os.Getenv("PLUMB_WORKER_ID")); err != nil {
			fmt.Fprintln(os.Stderr, "fan-out worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if db := os.Getenv("PLUMB_TYPED_DB"); db != "" {
		if err := typedChild(db); err != nil {
			fmt.Fprintln(os.Stderr, "typed hand-off worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if spec := os.Getenv("PLUMB_AWAIT_STORE"); spec != "" {
		if err := awaitWorkerProcess(spec, os.Getenv("PLUMB_WORKER_LOG"), os.Getenv("PLUMB_WORKER_ID")); err != nil {
			fmt.Fprintln(os.Stderr, "await worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sideEffectPipeline is a 3-step pipeline whose middle step has a side
// effect: it appends a line to log, and first checks in the store that its
// own checkpoint is not there yet (a finished step must never run again).
func sideEffectPipeline(st *sqlitestore.Store, log *os.File, worker string) *pipeline.Pipeline[Item, Item] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	sc := step.Config{Retry: retry.Never}
	pass := func(_ context.Context, it Item) (Item, error) { it.N++; return it, nil }
	act := func(ctx context.Context, it Item) (Item, error) {
		ri := step.RunInfoFrom(ctx)
		d, err := st.GetRun(ctx, ri.RunID)
		if err != nil {
			return it, err
		}
		for _, s := range d.Steps {
			if s.Step == "act" && s.Status == store.StepSucceeded {
				fmt.Fprintf(log, "VIOLATION %s act ran after its checkpoint\n", ri.RunID)
			}
		}
		// One write per effect, so a kill leaves whole lines.
		fmt.Fprintf(log, "effect %s %s\n", ri.RunID, worker)
		time.Sleep(5 * time.Millisecond) // a call to somewhere slow: kills land mid-step

		it.Note = "sent"
		return it, nil
	}
	p := pipeline.New(rt, "crashy", step.New("one", pass, sc), pol)
	p = pipeline.Then(p, step.New("act", act, sc))
	return pipeline.Then(p, step.New("three", pass, sc))
}

// workerProcess runs a worker until killed (or until nothing is left).
func workerProcess(db, logPath, id string) error {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	if err != nil {
		return err
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	p := sideEffectPipeline(st, log, id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Stop once every run has ended, so the last worker exits by itself.
		for range time.Tick(50 * time.Millisecond) {
			stats, err := st.Stats(context.Background(), "crashy", 0)
			if err == nil && len(stats) == 1 && stats[0].ByStatus[store.Queued]+stats[0].ByStatus[store.Running] == 0 {
				cancel()
				return
			}
		}
	}()
	lease, err := time.ParseDuration(os.Getenv("PLUMB_WORKER_LEASE"))
	if err != nil {
		return err
	}
	return p.Runtime().Work(ctx, pipeline.WorkerConfig{ID: id, Concurrency: 8, Lease: lease, Poll: 20 * time.Millisecond, PruneEvery: -1})
}

func startWorker(t *testing.T, db, log, id string, lease time.Duration) *exec.Cmd {
	cmd := childproc.Command()
	cmd.Env = append(os.Environ(), "PLUMB_WORKER_DB="+db, "PLUMB_WORKER_LOG="+log, "PLUMB_WORKER_ID="+id, "PLUMB_WORKER_LEASE="+lease.String())
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

func submitItems(t *testing.T, db string, n int) []string {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	p := sideEffectPipeline(st, nil, "submitter")
	ids := make([]string, n)
	for i := range ids {
		ids[i], err = p.Submit(context.Background(), Item{N: i, Note: "new"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
	}
	return ids
}

// checkOutcome verifies every run ended exactly once, nothing was lost, no
// finished step ran again, and the file is sound.
func checkOutcome(t *testing.T, db, log string, ids []string) (duplicates int) {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.IntegrityCheck(context.Background()), "PRAGMA integrity_check")
	return checkRuns(t, st, log, ids, "run")
}

// checkRuns verifies that every run succeeded with one record of its last
// step ("three"), that the side-effect log names no violation, and that
// every run's side effect happened; it returns how many were repeated.
func checkRuns(t *testing.T, st store.Store, log string, ids []string, what string) (duplicates int) {
	for _, id := range ids {
		d, err := st.GetRun(context.Background(), id)
		require.NoError(t, err, "%s %s lost", what, id)
		require.Equal(t, store.Succeeded, d.Run.Status, "%s %s", what, id)
		assert.Equal(t, 1, d.Run.Attempt, "%s %s ran in one attempt", what, id)
		finals := 0
		for _, s := range d.Steps {
			if s.Step == "three" {
				finals++
			}
		}
		assert.Equal(t, 1, finals, "%s %s finished once", what, id)
	}
	f, err := os.Open(log)
	require.NoError(t, err)
	defer f.Close()
	effects := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		require.False(t, strings.HasPrefix(line, "VIOLATION"), line)
		if fields := strings.Fields(line); len(fields) == 3 {
			effects[fields[1]]++
		}
	}
	for _, id := range ids {
		require.GreaterOrEqual(t, effects[id], 1, "%s %s's side effect never happened", what, id)
		duplicates += effects[id] - 1
	}
	return duplicates
}

// TestCrashSafety kills a worker process with SIGKILL at random moments,
// at least five times, while it works through 500 runs.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	db, log := filepath.Join(dir, "plumb.db"), filepath.Join(dir, "effects.log")
	ids := submitItems(t, db, 500)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for ; kills < 6; kills++ {
		// Short leases, so the killed worker's runs are reclaimed quickly.
		w := startWorker(t, db, log, fmt.Sprintf("w%d", kills), time.Second)
		time.Sleep(time.Duration(30+rng.IntN(120)) * time.Millisecond)
		require.Positive(t, unfinished(t, db), "the kill must land while work remains")
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
	}
	last := startWorker(t, db, log, "last", time.Second)
	done := make(chan error, 1)
	go func() { done <- last.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(2 * time.Minute):
		_ = last.Process.Kill()
		t.Fatal("the last worker did not finish the queue")
	}
	dups := checkOutcome(t, db, log, ids)
	t.Logf("%d kills; %d side effects repeated by a step killed before its checkpoint was written (allowed: at-least-once before the checkpoint, never after)", kills, dups)
}

func unfinished(t *testing.T, db string) int {
	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	stats, err := st.Stats(context.Background(), "crashy", 0)
	require.NoError(t, err)
	return stats[0].ByStatus[store.Queued] + stats[0].ByStatus[store.Running]
}

// TestConcurrentWorkersOnOneFile runs 8 workers in this process and 2
// processes on one SQLite file: every run is executed once, by one worker.
func TestConcurrentWorkersOnOneFile(t *testing.T) {
	dir := t.TempDir()
	db, log := filepath.Join(dir, "plumb.db"), filepath.Join(dir, "effects.log")
	ids := submitItems(t, db, 300)
	// Leases long enough never to expire here: then a repeated side effect
	// could only mean a run claimed twice while its lease was live.
	procs := []*exec.Cmd{startWorker(t, db, log, "proc-a", time.Minute), startWorker(t, db, log, "proc-b", time.Minute)}

	st, err := sqlitestore.Open(db, sqlitestore.Config{})
	require.NoError(t, err)
	lf, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	defer lf.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		p := sideEffectPipeline(st, lf, fmt.Sprintf("local-%d", i))
		go func() {
			errs <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Concurrency: 4, Lease: time.Minute, Poll: 10 * time.Millisecond, PruneEvery: -1})
		}()
	}
	for _, pr := range procs {
		require.NoError(t, pr.Wait())
	}
	require.Eventually(t, func() bool {
		stats, err := st.Stats(context.Background(), "crashy", 0)
		return err == nil && stats[0].ByStatus[store.Succeeded] == len(ids)
	}, time.Minute, 20*time.Millisecond)
	cancel()
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
	require.NoError(t, st.Close())
	assert.Zero(t, checkOutcome(t, db, log, ids), "with no crash, no side effect is repeated: no run was claimed twice")
	by := map[string]bool{}
	data, _ := os.ReadFile(log)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 {
			by[f[2]] = true
		}
	}
	t.Logf("workers that did work: %d", len(by))
}
