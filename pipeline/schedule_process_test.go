package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/childproc"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// A re-execution of the test binary with PLUMB_SCHEDULE_STORE set is a
// worker process of TestScheduleAcrossProcesses (before TestMain, which
// is another file's).
func init() {
	if spec := os.Getenv("PLUMB_SCHEDULE_STORE"); spec != "" {
		if err := scheduleWorkerProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, "schedule worker process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// simSpeed is how much faster than the wall the processes' shared clock
// runs: a minute's tick every 100 ms.
const simSpeed = 600

// simClock is a clock every process of a test reads alike: simulated time
// from a common origin, simSpeed times faster than the wall.
type simClock struct {
	origin time.Time // wall
	start  time.Time // simulated at origin
}

func (c simClock) Now() time.Time {
	return c.start.Add(time.Since(c.origin) * simSpeed).UTC()
}

func (c simClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d / simSpeed)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func openScheduleStore(spec string, clock simClock) (store.Store, error) {
	kind, where, _ := strings.Cut(spec, ":")
	switch kind {
	case "sqlite":
		return sqlitestore.Open(where, sqlitestore.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	case "postgres":
		dsn, schema, _ := strings.Cut(where, "|")
		return pgstore.Open(context.Background(), dsn, pgstore.Config{Schema: schema, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	}
	return nil, fmt.Errorf("unknown store %q", spec)
}

func scheduleWorkerProcess(spec string) error {
	origin, err := strconv.ParseInt(os.Getenv("PLUMB_SCHEDULE_ORIGIN"), 10, 64)
	if err != nil {
		return err
	}
	until, err := time.Parse(time.RFC3339, os.Getenv("PLUMB_SCHEDULE_UNTIL"))
	if err != nil {
		return err
	}
	clock := simClock{origin: time.Unix(0, origin), start: simStart}
	st, err := openScheduleStore(spec, clock)
	if err != nil {
		return err
	}
	defer st.Close()
	p := reportPipeline(st, clock, map[string]pipeline.Cron{"minutely": {Spec: "* * * * *", Missed: pipeline.MissedAll}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for clock.Now().Before(until) {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	// A lease of a simulated hour is 6 s of the wall: far longer than a run.
	return p.Runtime().Work(ctx, pipeline.WorkerConfig{ID: os.Getenv("PLUMB_SCHEDULE_WORKER"), Poll: 5 * time.Millisecond,
		Lease: time.Hour, PruneEvery: -1, Concurrency: 2})
}

var simStart = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

// Three worker processes on one SQLite file, and three on one PostgreSQL
// schema, fire a schedule of every minute for half a simulated hour on a
// shared clock: every tick from the first to the last has exactly one
// run, and each succeeded.
func TestScheduleAcrossProcesses(t *testing.T) {
	stores := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "plumb.db") },
		"postgres": func(t *testing.T) string {
			dsn, schema := pgSchema(t, "plumb_sched_")
			return "postgres:" + dsn + "|" + schema
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			spec := stores[name](t)
			origin := time.Now().Add(500 * time.Millisecond) // simStart, once the processes are up
			clock := simClock{origin: origin, start: simStart}
			until := simStart.Add(30 * time.Minute)
			var cmds []*exec.Cmd
			for i := range 3 {
				cmd := childproc.Command()
				cmd.Env = append(os.Environ(), "PLUMB_SCHEDULE_STORE="+spec, "PLUMB_SCHEDULE_ORIGIN="+strconv.FormatInt(origin.UnixNano(), 10),
					"PLUMB_SCHEDULE_UNTIL="+until.Format(time.RFC3339), fmt.Sprintf("PLUMB_SCHEDULE_WORKER=sched-%d", i))
				cmd.Stderr = os.Stderr
				require.NoError(t, cmd.Start())
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				require.NoError(t, cmd.Wait(), "a worker process failed")
			}

			st, err := openScheduleStore(spec, clock)
			require.NoError(t, err)
			defer st.Close()
			// The processes stop at a simulated time, so the run of a tick
			// fired just before may still be queued: a worker that fires
			// nothing drains it.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.NoError(t, reportPipeline(st, clock, nil).Runtime().Work(ctx, pipeline.WorkerConfig{
				Poll: 5 * time.Millisecond, PruneEvery: -1, StopWhenDrained: true}))
			runs := scheduledRuns(t, st, "minutely")
			ticks := ticksOf(runs)
			// How many fire depends on how soon the processes are up (a
			// busy machine starts them late); enough to race over.
			require.GreaterOrEqual(t, len(ticks), 5, "minutes of the half hour fired")
			first, err := time.Parse(time.RFC3339, ticks[0])
			require.NoError(t, err)
			for i, tick := range ticks {
				assert.Equal(t, store.ScheduleTick(first.Add(time.Duration(i)*time.Minute)), tick, "no tick missing between the first and the last")
				assert.Equal(t, store.Succeeded, runs[tick].Status, "tick %s", tick)
			}
			s, ok := scheduleOf(t, st, "minutely")
			require.True(t, ok)
			// The schedule's record names a tick it fired and that tick's run.
			// It may lag the last tick: a process stopped at the end can
			// have enqueued a tick without recording it (a write the stop
			// cut off after the store took it), which a next pass records.
			last, ok := runs[store.ScheduleTick(s.LastTick)]
			require.True(t, ok, "the schedule's last tick %s has a run", store.ScheduleTick(s.LastTick))
			assert.Equal(t, last.ID, s.LastRun)
			assert.GreaterOrEqual(t, store.ScheduleTick(s.LastTick), ticks[max(0, len(ticks)-5)], "the record lags by a few ticks at most")
			assert.Zero(t, s.Skipped)
			t.Logf("%d ticks, one run each, fired by 3 processes", len(ticks))
		})
	}
}
