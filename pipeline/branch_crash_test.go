package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
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
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// The fan-out crash test: parents each fan out into children whose middle
// step has a side effect, under a limit, while worker processes are
// killed with SIGKILL; no child may be lost or finish twice, and every
// parent must join all its children in order.
const (
	crashParents  = 8
	crashChildren = 40
	crashLimit    = 8
)

// openCrashStore opens the store a fan-out crash test names: "sqlite:<file>"
// or "postgres:<schema>" on PLUMB_TEST_POSTGRES_DSN.
func openCrashStore(spec string) (store.Store, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "sqlite":
		return sqlitestore.Open(arg, sqlitestore.Config{})
	case "postgres":
		return pgstore.Open(context.Background(), os.Getenv("PLUMB_TEST_POSTGRES_DSN"),
			pgstore.Config{Schema: arg, Logger: slog.New(slog.DiscardHandler)})
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

// fanCrashPipeline is the parent ("fanparent": split, fan-out over
// "fanchild", sum) with its child's side effect logged to log.
func fanCrashPipeline(st store.Store, log *os.File, worker string) *pipeline.Pipeline[Item, int] {
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
		fmt.Fprintf(log, "effect %s %s\n", ri.RunID, worker)
		time.Sleep(10 * time.Millisecond) // kills land mid-step
		return it, nil
	}
	child := pipeline.New(rt, "fanchild", step.New("one", pass, sc), pol)
	child = pipeline.Then(child, step.New("act", act, sc))
	child = pipeline.Then(child, step.New("three", pass, sc))

	split := step.New("split", func(_ context.Context, it Item) ([]Item, error) {
		out := make([]Item, crashChildren)
		for i := range out {
			out[i] = Item{N: it.N*1000 + i*10, Note: it.Note}
		}
		return out, nil
	}, sc)
	parent := pipeline.New(rt, "fanparent", split, pol)
	fan := pipeline.FanOut(parent, "fan", child, pipeline.FanOutOptions{Limit: crashLimit})
	return pipeline.Then(fan, step.New("sum", func(ctx context.Context, items []Item) (int, error) {
		// The join's input must hold every child's output, in order.
		for i, it := range items {
			if want := (items[0].N/1000)*1000 + i*10 + 2; it.N != want {
				fmt.Fprintf(log, "VIOLATION %s item %d is %d, want %d\n", step.RunInfoFrom(ctx).RunID, i, it.N, want)
			}
		}
		return len(items), nil
	}, sc))
}

// crashWorkerProcess is a worker process of a crash test: it works the
// runtime build makes on spec's store, logging effects to logPath, until
// nothing is live, or until killed.
func crashWorkerProcess(spec, logPath, id string, concurrency int, build func(st store.Store, log *os.File, id string) *pipeline.Runtime) error {
	st, err := openCrashStore(spec)
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	rt := build(st, log, id)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for range time.Tick(50 * time.Millisecond) {
			if n, err := liveRuns(st); err == nil && n == 0 {
				cancel()
				return
			}
		}
	}()
	return rt.Work(ctx, pipeline.WorkerConfig{ID: id, Concurrency: concurrency, Lease: time.Second, Poll: 20 * time.Millisecond, PruneEvery: -1})
}

// fanWorkerProcess is a worker process of the fan-out crash test.
func fanWorkerProcess(spec, logPath, id string) error {
	return crashWorkerProcess(spec, logPath, id, 8, func(st store.Store, log *os.File, id string) *pipeline.Runtime {
		return fanCrashPipeline(st, log, id).Runtime()
	})
}

// liveRuns counts the runs of both pipelines not yet ended.
func liveRuns(st store.Store) (int, error) {
	stats, err := st.Stats(context.Background(), "", 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range stats {
		n += s.ByStatus[store.Queued] + s.ByStatus[store.Running] + s.ByStatus[store.Waiting]
	}
	return n, nil
}

// TestFanOutCrashSafety kills worker processes with SIGKILL in the middle
// of fan-outs, on SQLite and on PostgreSQL: no child is lost, none
// finishes twice, no finished step runs again, and every parent joins its
// children in order.
func TestFanOutCrashSafety(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			spec := "sqlite:" + filepath.Join(dir, "plumb.db")
			if kind == "postgres" {
				_, schema := pgSchema(t, "plumb_fancrash_")
				spec = "postgres:" + schema
			}
			logPath := filepath.Join(dir, "effects.log")
			st, err := openCrashStore(spec)
			require.NoError(t, err)
			defer st.Close()
			p := fanCrashPipeline(st, nil, "submitter")
			var parents []string
			for i := 0; i < crashParents; i++ {
				id, err := p.Submit(context.Background(), Item{N: i, Note: "article"}, pipeline.SubmitOptions{})
				require.NoError(t, err)
				parents = append(parents, id)
			}
			rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 2))
			kills := 0
			for round := 0; round < 6; round++ {
				// Two processes at a time, both killed while work remains.
				a := startFanWorker(t, spec, logPath, fmt.Sprintf("a%d", round))
				b := startFanWorker(t, spec, logPath, fmt.Sprintf("b%d", round))
				time.Sleep(time.Duration(80+rng.IntN(200)) * time.Millisecond)
				n, err := liveRuns(st)
				require.NoError(t, err)
				require.NoError(t, a.Process.Signal(syscall.SIGKILL))
				_ = a.Wait()
				require.NoError(t, b.Process.Signal(syscall.SIGKILL))
				_ = b.Wait()
				if n == 0 {
					break // the work is done: later kills would land on nothing
				}
				kills += 2
			}
			require.GreaterOrEqual(t, kills, 4, "at least two rounds of kills must land while work remains")
			last := startFanWorker(t, spec, logPath, "last")
			done := make(chan error, 1)
			go func() { done <- last.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(3 * time.Minute):
				_ = last.Process.Kill()
				t.Fatal("the last worker did not finish the fan-outs")
			}
			dups := checkFanOutcome(t, st, logPath, parents)
			t.Logf("%s: %d kills mid-work; %d child side effects repeated by a step killed before its checkpoint (allowed: at-least-once before the checkpoint, never after)", kind, kills, dups)
		})
	}
}

func startFanWorker(t *testing.T, spec, log, id string) *exec.Cmd {
	return startCrashWorker(t, "PLUMB_FANOUT_STORE", spec, log, id)
}

// startCrashWorker starts a worker process of the crash test whose store
// variable (storeEnv) TestMain dispatches on.
func startCrashWorker(t *testing.T, storeEnv, spec, log, id string) *exec.Cmd {
	cmd := childproc.Command()
	cmd.Env = append(os.Environ(), storeEnv+"="+spec, "PLUMB_WORKER_LOG="+log, "PLUMB_WORKER_ID="+id)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	return cmd
}

// checkFanOutcome verifies every parent succeeded with all its children
// joined, every child succeeded once with one final step record, and no
// finished step ran again.
func checkFanOutcome(t *testing.T, st store.Store, logPath string, parents []string) (duplicates int) {
	ctx := context.Background()
	var children []string
	for _, id := range parents {
		d, err := st.GetRun(ctx, id)
		require.NoError(t, err, "parent %s lost", id)
		require.Equal(t, store.Succeeded, d.Run.Status, "parent %s: %s at %s", id, d.Run.Error, d.Run.Step)
		assert.JSONEq(t, fmt.Sprint(crashChildren), string(d.Run.Output), "parent %s joined every child", id)
		kids, err := st.Branches(ctx, store.BranchQuery{Parent: id})
		require.NoError(t, err)
		require.Len(t, kids, crashChildren, "parent %s: no child lost, none made twice", id)
		for i, k := range kids {
			assert.Equal(t, i, k.Branch)
			assert.Equal(t, store.BranchID(id, 1, i), k.RunID)
			children = append(children, k.RunID)
		}
	}
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "fanchild", Limit: 10 * crashParents * crashChildren})
	require.NoError(t, err)
	assert.Len(t, page.Runs, crashParents*crashChildren, "exactly the children forked exist")
	return checkRuns(t, st, logPath, children, "child")
}
