package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// The await crash test: runs wait for events in a worker process that is
// killed with SIGKILL; the events arrive while no worker runs; another
// worker process resumes every run, and each takes its own event and
// does its side effect exactly once.
const awaitCrashRuns = 24

// awaitCrashPipeline is "awaitcrash": one, the await step "signal" (the
// event "signal" with key "k:<n>"), then act, whose side effect is logged
// to log (nil: none).
func awaitCrashPipeline(st store.Store, log *os.File, worker string) *pipeline.Pipeline[Item, Item] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	sc := step.Config{Retry: retry.Never}
	one := pipeline.New(rt, "awaitcrash", step.New("one", func(_ context.Context, it Item) (Item, error) { it.N++; return it, nil }, sc),
		pipeline.Policy{Outage: pipeline.NoOutage})
	waited := pipeline.Await(one, "signal", func(it Item) string { return fmt.Sprint("k:", it.N) }, pipeline.AwaitOptions{Within: time.Hour},
		func(it Item, ev Item) (Item, error) { it.Note = ev.Note; return it, nil },
		func(it Item) (Item, error) { it.Note = "deadline"; return it, nil })
	return pipeline.Then(waited, step.New("act", func(ctx context.Context, it Item) (Item, error) {
		if log != nil {
			fmt.Fprintf(log, "effect %s %s %s\n", step.RunInfoFrom(ctx).RunID, it.Note, worker)
		}
		return it, nil
	}, sc))
}

// awaitWorkerProcess is a worker process of the await crash test.
func awaitWorkerProcess(spec, logPath, id string) error {
	return crashWorkerProcess(spec, logPath, id, 4, func(st store.Store, log *os.File, id string) *pipeline.Runtime {
		return awaitCrashPipeline(st, log, id).Runtime()
	})
}

func startAwaitWorker(t *testing.T, spec, log, id string) *exec.Cmd {
	return startCrashWorker(t, "PLUMB_AWAIT_STORE", spec, log, id)
}

// TestAwaitSurvivesAKilledWorker: on SQLite and PostgreSQL, half the
// runs find their events kept and go through; the other half wait in a
// worker process that is then SIGKILLed; their events arrive with no
// worker running; a new worker process resumes them all, each exactly
// once, with its own event.
func TestAwaitSurvivesAKilledWorker(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			spec := "sqlite:" + filepath.Join(dir, "plumb.db")
			if kind == "postgres" {
				_, schema := pgSchema(t, "plumb_awaitcrash_")
				spec = "postgres:" + schema
			}
			logPath := filepath.Join(dir, "effects.log")
			st, err := openCrashStore(spec)
			require.NoError(t, err)
			defer st.Close()
			ctx := context.Background()
			p := awaitCrashPipeline(st, nil, "submitter")
			rt := p.Runtime()
			ids := make([]string, awaitCrashRuns)
			for i := range ids {
				if i%2 == 0 {
					_, err := rt.SendEvent(ctx, "signal", fmt.Sprint("k:", i+1), Item{Note: fmt.Sprint("early-", i)}, pipeline.EventOptions{})
					require.NoError(t, err)
				}
				ids[i], err = p.Submit(ctx, Item{N: i}, pipeline.SubmitOptions{})
				require.NoError(t, err)
			}

			a := startAwaitWorker(t, spec, logPath, "a")
			require.Eventually(t, func() bool {
				l, err := st.Events(ctx, store.EventFilter{Name: "signal"})
				require.NoError(t, err)
				stats, err := st.Stats(ctx, "awaitcrash", 0)
				require.NoError(t, err)
				return len(l.Waits) == awaitCrashRuns/2 && len(stats) == 1 &&
					stats[0].ByStatus[store.Succeeded] == awaitCrashRuns/2 && stats[0].ByStatus[store.Running] == 0
			}, time.Minute, 20*time.Millisecond, "half the runs wait, the others are done")
			require.NoError(t, a.Process.Signal(syscall.SIGKILL))
			_ = a.Wait()

			for i := 1; i < awaitCrashRuns; i += 2 {
				dl, err := rt.SendEvent(ctx, "signal", fmt.Sprint("k:", i+1), Item{Note: fmt.Sprint("late-", i)}, pipeline.EventOptions{ID: fmt.Sprint("late-", i), Source: "test"})
				require.NoError(t, err)
				assert.Equal(t, ids[i], dl.Woke)
				dup, err := rt.SendEvent(ctx, "signal", fmt.Sprint("k:", i+1), Item{Note: "again"}, pipeline.EventOptions{ID: fmt.Sprint("late-", i), Source: "test"})
				require.NoError(t, err)
				assert.True(t, dup.Duplicate, "a retried delivery is no new event")
			}

			b := startAwaitWorker(t, spec, logPath, "b")
			done := make(chan error, 1)
			go func() { done <- b.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(2 * time.Minute):
				_ = b.Process.Kill()
				t.Fatal("the second worker did not resume the waiting runs")
			}

			effects := map[string][]string{}
			f, err := os.Open(logPath)
			require.NoError(t, err)
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fields := strings.Fields(sc.Text()); len(fields) == 4 {
					effects[fields[1]] = append(effects[fields[1]], fields[2])
				}
			}
			for i, id := range ids {
				d, err := st.GetRun(ctx, id)
				require.NoError(t, err)
				require.Equal(t, store.Succeeded, d.Run.Status, "run %s", id)
				want := fmt.Sprint("early-", i)
				if i%2 == 1 {
					want = fmt.Sprint("late-", i)
				}
				assert.Equal(t, []string{want}, effects[id], "run %s did its side effect once, with its own event", id)
				taken := 0
				for _, s := range d.Steps {
					if s.Step == "signal" && s.Status == store.StepSucceeded {
						taken++
					}
				}
				assert.Equal(t, 1, taken, "run %s took one event", id)
			}
			l, err := st.Events(ctx, store.EventFilter{All: true, Limit: 1000})
			require.NoError(t, err)
			assert.Len(t, l.Events, awaitCrashRuns, "one event a run, none twice")
			for _, e := range l.Events {
				assert.True(t, e.Taken(), "event %s taken", e.ID)
			}
		})
	}
}
