package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Tick is the input a scheduled test run gets: its tick, as the input
// function saw it.
type Tick struct {
	At   string `json:"at"`
	Zone string `json:"zone"`
}

func tickInput(t time.Time) (Tick, error) {
	return Tick{At: t.Format(time.RFC3339), Zone: t.Location().String()}, nil
}

// reportPipeline is a one-step pipeline on a runtime of its own on st,
// with the schedules given.
func reportPipeline(st store.Store, clock retry.Clock, scheds map[string]pipeline.Cron) *pipeline.Pipeline[Tick, string] {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "report", step.New("write", func(_ context.Context, in Tick) (string, error) {
		return "report for " + in.At, nil
	}, step.Config{}), pipeline.Policy{})
	for name, c := range scheds {
		pipeline.Schedule(p, name, c, tickInput)
	}
	return p
}

// working runs workers of the runtimes until the test ends (or stop).
func working(t *testing.T, rts ...*pipeline.Runtime) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, rt := range rts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1, Concurrency: 2}))
		}()
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func scheduleOf(t *testing.T, st store.Store, name string) (store.Schedule, bool) {
	t.Helper()
	all, err := st.Schedules(context.Background(), "")
	require.NoError(t, err)
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return store.Schedule{}, false
}

// scheduledRuns returns the runs of a schedule by tick (UTC, RFC 3339),
// failing the test on a tick with two runs.
func scheduledRuns(t *testing.T, st store.Store, name string) map[string]store.Run {
	t.Helper()
	page, err := st.ListRuns(context.Background(), store.RunFilter{Pipeline: "report", Limit: 10_000})
	require.NoError(t, err)
	out := map[string]store.Run{}
	for _, r := range page.Runs {
		if r.Trigger.Source != store.ScheduleSource(name) {
			continue
		}
		prev, dup := out[r.Trigger.ExternalID]
		require.False(t, dup, "tick %s has two runs: %s and %s", r.Trigger.ExternalID, prev.ID, r.ID)
		out[r.Trigger.ExternalID] = r
	}
	return out
}

// settled waits until the schedule's next tick is next and its runs have
// ended.
func settled(t *testing.T, st store.Store, name string, next time.Time) store.Schedule {
	t.Helper()
	var s store.Schedule
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = scheduleOf(t, st, name)
		if !ok || !s.Next.Equal(next) {
			return false
		}
		for _, r := range scheduledRuns(t, st, name) {
			if r.Status != store.Succeeded {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "schedule %s never settled at next tick %v", name, next)
	return s
}

func ticksOf(runs map[string]store.Run) []string {
	var out []string
	for tick := range runs {
		out = append(out, tick)
	}
	slices.Sort(out)
	return out
}

var hourly = pipeline.Cron{Spec: "0 * * * *"}

// Four workers, each of a runtime of its own (four deployments of one
// binary) on one store, fire an hourly schedule at once for five hours:
// every tick has exactly one run, keyed and triggered by its tick.
func TestScheduleFiresEachTickOnce(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, c retry.Clock) {
		clock := c.(*retrytest.Clock)
		var rts []*pipeline.Runtime
		for range 4 {
			rts = append(rts, reportPipeline(st, clock, map[string]pipeline.Cron{"hourly": hourly}).Runtime())
		}
		working(t, rts...)
		first := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
		settled(t, st, "hourly", first)
		for h := range 5 {
			tick := first.Add(time.Duration(h) * time.Hour)
			clock.Set(tick.Add(10 * time.Second))
			s := settled(t, st, "hourly", tick.Add(time.Hour))
			assert.True(t, s.LastTick.Equal(tick))
		}
		runs := scheduledRuns(t, st, "hourly")
		require.Equal(t, []string{"2026-11-27T03:00:00Z", "2026-11-27T04:00:00Z", "2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z", "2026-11-27T07:00:00Z"}, ticksOf(runs))
		for tick, r := range runs {
			assert.Equal(t, "schedule:hourly:"+tick, r.IdempotencyKey)
			d, err := st.GetRun(context.Background(), r.ID)
			require.NoError(t, err)
			assert.JSONEq(t, `{"at":"`+tick+`","zone":"UTC"}`, string(d.Run.Input))
			assert.JSONEq(t, `"report for `+tick+`"`, string(d.Run.Output))
		}
		s, _ := scheduleOf(t, st, "hourly")
		assert.Equal(t, runs["2026-11-27T07:00:00Z"].ID, s.LastRun)
		assert.Zero(t, s.Skipped)
	})
}

// Everything is down from 02:17 to 08:30 (the hourly ticks 03:00 to 08:00
// pass unfired); a new deployment on the same store takes up the stored
// next tick and applies the schedule's policy.
func TestScheduleMissedTicks(t *testing.T) {
	for _, c := range []struct {
		name    string
		cron    pipeline.Cron
		back    string
		ticks   []string
		skipped int
	}{
		{"one", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedOne}, "08:30", []string{"08:00"}, 5},
		{"default is one", pipeline.Cron{Spec: "0 * * * *"}, "08:30", []string{"08:00"}, 5},
		{"all", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedAll}, "08:30", []string{"03:00", "04:00", "05:00", "06:00", "07:00", "08:00"}, 0},
		{"all, bounded", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedAll, MaxCatchUp: 2}, "08:30", []string{"07:00", "08:00"}, 4},
		{"skip", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedSkip}, "08:30", nil, 6},
		{"skip, back on time", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedSkip}, "08:00:30", []string{"08:00"}, 5},
		{"skip, back within the grace", pipeline.Cron{Spec: "0 * * * *", Missed: pipeline.MissedSkip, Grace: time.Hour}, "08:30", []string{"08:00"}, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, st store.Store, rc retry.Clock) {
				clock := rc.(*retrytest.Clock)
				first := reportPipeline(st, clock, map[string]pipeline.Cron{"hourly": c.cron})
				stop := working(t, first.Runtime())
				settled(t, st, "hourly", time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC))
				stop()

				back, err := time.Parse("2006-01-02 15:04:05", "2026-11-27 "+c.back+map[bool]string{true: ":00", false: ""}[len(c.back) == 5])
				require.NoError(t, err)
				clock.Set(back)
				restarted := reportPipeline(st, clock, map[string]pipeline.Cron{"hourly": c.cron})
				working(t, restarted.Runtime())
				s := settled(t, st, "hourly", time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
				var want []string
				for _, hm := range c.ticks {
					want = append(want, "2026-11-27T"+hm+":00Z")
				}
				runs := scheduledRuns(t, st, "hourly")
				assert.Equal(t, want, ticksOf(runs))
				assert.Equal(t, c.skipped, s.Skipped, "the skipped ticks are counted")
				if len(want) > 0 {
					assert.Equal(t, want[len(want)-1], store.ScheduleTick(s.LastTick))
					assert.Equal(t, runs[want[len(want)-1]].ID, s.LastRun)
				} else {
					assert.Zero(t, s.LastTick)
				}
			})
		})
	}
}

// A schedule's spec is read in its zone: across Berlin's two daylight-
// saving changes and New York's spring one, the runs' ticks (UTC in their
// keys, the zone's wall time in their input) are robfig/cron's.
func TestScheduleTimeZones(t *testing.T) {
	for _, c := range []struct {
		name, spec, zone string
		from, to         time.Time
		want             []string
		input            string
	}{
		{"Berlin, spring forward: 02:30 does not exist on 28 March", "30 2 * * *", "Europe/Berlin",
			time.Date(2027, 3, 26, 12, 0, 0, 0, time.UTC), time.Date(2027, 3, 30, 12, 0, 0, 0, time.UTC),
			[]string{"2027-03-27T01:30:00Z", "2027-03-29T00:30:00Z", "2027-03-30T00:30:00Z"}, "2027-03-29T02:30:00+02:00"},
		{"Berlin, fall back: 02:30 happens twice on 31 October", "30 2 * * *", "Europe/Berlin",
			time.Date(2027, 10, 29, 12, 0, 0, 0, time.UTC), time.Date(2027, 11, 1, 12, 0, 0, 0, time.UTC),
			[]string{"2027-10-30T00:30:00Z", "2027-10-31T00:30:00Z", "2027-10-31T01:30:00Z", "2027-11-01T01:30:00Z"}, "2027-10-31T02:30:00+01:00"},
		{"Berlin, Monday 09:00 on the wall clock", "0 9 * * MON", "Europe/Berlin",
			time.Date(2027, 3, 20, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 30, 0, 0, 0, 0, time.UTC),
			[]string{"2027-03-22T08:00:00Z", "2027-03-29T07:00:00Z"}, "2027-03-29T09:00:00+02:00"},
		{"New York, spring forward", "0 9 * * *", "America/New_York",
			time.Date(2027, 3, 12, 12, 0, 0, 0, time.UTC), time.Date(2027, 3, 15, 18, 0, 0, 0, time.UTC),
			[]string{"2027-03-12T14:00:00Z", "2027-03-13T14:00:00Z", "2027-03-14T13:00:00Z", "2027-03-15T13:00:00Z"}, "2027-03-14T09:00:00-04:00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := pipelinetest.New(t)
			k.Clock.Set(c.from)
			p := pipeline.New(k.Runtime, "report", step.New("write", func(_ context.Context, in Tick) (string, error) {
				return in.At, nil
			}, step.Config{}), pipeline.Policy{})
			pipeline.Schedule(p, "zoned", pipeline.Cron{Spec: c.spec, TimeZone: c.zone, Missed: pipeline.MissedAll}, tickInput)
			require.NoError(t, p.Err())
			k.Drain() // declares it: the next tick after c.from
			// Hour by hour, so that each tick fires on time.
			for k.Clock.Now().Before(c.to) {
				k.Clock.Advance(time.Hour)
				k.Drain()
			}
			runs := scheduledRuns(t, k.Store, "zoned")
			assert.Equal(t, c.want, ticksOf(runs))
			var inputs []string
			for _, r := range runs {
				d := k.AssertSucceeded(r.ID)
				var in Tick
				require.NoError(t, json.Unmarshal(d.Run.Input, &in))
				assert.Equal(t, c.zone, in.Zone)
				inputs = append(inputs, in.At)
			}
			assert.Contains(t, inputs, c.input, "the input function gets the tick in the schedule's zone")
			ticks, err := pipeline.Cron{Spec: c.spec, TimeZone: c.zone}.Ticks(c.from, len(c.want))
			require.NoError(t, err)
			var utc []string
			for _, tk := range ticks {
				utc = append(utc, store.ScheduleTick(tk))
			}
			assert.Equal(t, c.want, utc, "Cron.Ticks says the same")
		})
	}
}

// What is wrong with a schedule is a build error of its pipeline: Err,
// Submit and Work refuse it.
func TestScheduleBuildErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		sched func(p *pipeline.Pipeline[Tick, string])
		want  string
	}{
		{"bad spec", func(p *pipeline.Pipeline[Tick, string]) {
			pipeline.Schedule(p, "s", pipeline.Cron{Spec: "0 25 * * *"}, tickInput)
		}, "cron spec \"0 25 * * *\" is not valid"},
		{"no spec", func(p *pipeline.Pipeline[Tick, string]) { pipeline.Schedule(p, "s", pipeline.Cron{}, tickInput) }, "needs a cron spec"},
		{"zone in the spec", func(p *pipeline.Pipeline[Tick, string]) {
			pipeline.Schedule(p, "s", pipeline.Cron{Spec: "CRON_TZ=Europe/Berlin 0 9 * * *"}, tickInput)
		}, "names its zone"},
		{"bad zone", func(p *pipeline.Pipeline[Tick, string]) {
			pipeline.Schedule(p, "s", pipeline.Cron{Spec: "@daily", TimeZone: "Mars/Olympus"}, tickInput)
		}, "time zone \"Mars/Olympus\""},
		{"bad policy", func(p *pipeline.Pipeline[Tick, string]) {
			pipeline.Schedule(p, "s", pipeline.Cron{Spec: "@daily", Missed: "twice"}, tickInput)
		}, "missed-tick policy \"twice\""},
		{"no name", func(p *pipeline.Pipeline[Tick, string]) { pipeline.Schedule(p, "", hourly, tickInput) }, "needs a name"},
		{"nil input", func(p *pipeline.Pipeline[Tick, string]) { pipeline.Schedule(p, "s", hourly, nil) }, "input function is nil"},
		{"duplicate name", func(p *pipeline.Pipeline[Tick, string]) {
			pipeline.Schedule(p, "s", hourly, tickInput)
			pipeline.Schedule(p, "s", pipeline.Cron{Spec: "@daily"}, tickInput)
		}, "already has a schedule named \"s\""},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := pipelinetest.New(t)
			p := reportPipeline(k.Store, k.Clock, nil)
			c.sched(p)
			require.Error(t, p.Err())
			assert.Contains(t, p.Err().Error(), c.want)
			assert.ErrorIs(t, p.Err(), retry.ErrPermanent, "a build error")
			_, err := p.Submit(context.Background(), Tick{}, pipeline.SubmitOptions{})
			assert.ErrorIs(t, err, p.Err())
			_, err = p.Runtime().NewWorker(pipeline.WorkerConfig{})
			assert.ErrorContains(t, err, c.want)
		})
	}

	p := pipeline.New(nil, "in-memory", step.New("write", func(_ context.Context, in Tick) (string, error) { return "", nil }, step.Config{}), pipeline.Policy{})
	pipeline.Schedule(p, "s", hourly, tickInput)
	assert.ErrorContains(t, p.Err(), "the runtime has no store")

	// Declared on a pipeline that grew since: Work still refuses it.
	k := pipelinetest.New(t)
	first := pipeline.New(k.Runtime, "grown", step.New("one", func(_ context.Context, in Tick) (Tick, error) { return in, nil }, step.Config{}), pipeline.Policy{})
	pipeline.Schedule(first, "s", pipeline.Cron{Spec: "nope"}, tickInput)
	grown := pipeline.Then(first, step.New("two", func(_ context.Context, in Tick) (string, error) { return in.At, nil }, step.Config{}))
	_ = grown
	_, err := k.Runtime.NewWorker(pipeline.WorkerConfig{})
	assert.ErrorContains(t, err, "cron spec \"nope\" is not valid")
}

// A schedule declared on a pipeline that grows afterwards (Then) runs the
// grown pipeline, the one the runtime works.
func TestScheduleOnAGrownPipeline(t *testing.T) {
	k := pipelinetest.New(t)
	first := pipeline.New(k.Runtime, "report", step.New("one", func(_ context.Context, in Tick) (Tick, error) { return in, nil }, step.Config{}), pipeline.Policy{})
	pipeline.Schedule(first, "hourly", hourly, tickInput)
	grown := pipeline.Then(first, step.New("two", func(_ context.Context, in Tick) (string, error) { return "two: " + in.At, nil }, step.Config{}))
	require.NoError(t, grown.Err())
	assert.Equal(t, []string{"hourly"}, k.Runtime.Schedules())
	k.Drain()
	k.Clock.Set(time.Date(2026, 11, 27, 3, 0, 5, 0, time.UTC))
	k.Drain()
	runs := scheduledRuns(t, k.Store, "hourly")
	require.Len(t, runs, 1)
	d := k.AssertSucceeded(runs["2026-11-27T03:00:00Z"].ID)
	assert.JSONEq(t, `"two: 2026-11-27T03:00:00Z"`, string(d.Run.Output))
}

// An input function that fails (or panics) enqueues nothing and advances
// nothing: the tick is tried again a minute later, and then runs once.
func TestScheduleInputFailure(t *testing.T) {
	for _, panics := range []bool{false, true} {
		k := pipelinetest.New(t)
		var mu sync.Mutex
		calls := 0
		logs := &lockedBuffer{}
		rt := k.NewRuntime(pipeline.RuntimeConfig{Logger: slog.New(slog.NewTextHandler(logs, nil))})
		p := pipeline.New(rt, "report", step.New("write", func(_ context.Context, in Tick) (string, error) { return in.At, nil }, step.Config{}), pipeline.Policy{})
		pipeline.Schedule(p, "hourly", hourly, func(tick time.Time) (Tick, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls == 1 {
				if panics {
					panic("metrics source down")
				}
				return Tick{}, retry.Transient(errors.New("metrics source down"))
			}
			return tickInput(tick)
		})
		working(t, rt)
		settled(t, k.Store, "hourly", time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC))
		k.Clock.Set(time.Date(2026, 11, 27, 3, 0, 1, 0, time.UTC))
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "could not be enqueued") }, 10*time.Second, 5*time.Millisecond)
		assert.Contains(t, logs.String(), "metrics source down")
		assert.Empty(t, scheduledRuns(t, k.Store, "hourly"))
		s, _ := scheduleOf(t, k.Store, "hourly")
		assert.True(t, s.Next.Equal(time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)), "not advanced")

		k.Clock.Advance(scheduleRetryForTest)
		settled(t, k.Store, "hourly", time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC))
		runs := scheduledRuns(t, k.Store, "hourly")
		assert.Equal(t, []string{"2026-11-27T03:00:00Z"}, ticksOf(runs), "the tick ran once, a minute late but within its policy")
	}
}

const scheduleRetryForTest = time.Minute

// A cron worker (StopWhenDrained) fires the ticks due when it starts, runs
// them, exits, and Backlog says when the next tick is due.
func TestScheduleDrainedWorker(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, rc retry.Clock) {
		clock := rc.(*retrytest.Clock)
		drained := func() pipeline.Backlog {
			p := reportPipeline(st, clock, map[string]pipeline.Cron{"hourly": hourly})
			require.NoError(t, p.Runtime().Work(context.Background(), pipeline.WorkerConfig{StopWhenDrained: true, Poll: 5 * time.Millisecond, PruneEvery: -1}))
			b, err := p.Runtime().Backlog(context.Background())
			require.NoError(t, err)
			return b
		}
		b := drained()
		assert.True(t, b.Empty())
		assert.Equal(t, time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), b.NextTick.UTC(), "declared: the first tick")
		assert.Contains(t, b.String(), "; next tick at 2026-11-27T03:00:00Z")

		clock.Set(time.Date(2026, 11, 27, 3, 0, 30, 0, time.UTC))
		b = drained()
		assert.True(t, b.Empty(), "the tick's run ran before the worker exited: %v", b)
		assert.Equal(t, time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC), b.NextTick.UTC())
		runs := scheduledRuns(t, st, "hourly")
		require.Len(t, runs, 1)
		assert.Equal(t, store.Succeeded, runs["2026-11-27T03:00:00Z"].Status)
	})
}
