package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Report is the input of a weekly report's run: the week that ended.
type Report struct {
	Week string `json:"week"`
}

// A weekly report every Monday at 09:00 in Berlin: the workers fire each
// tick as one run, whatever their number. Here a clock that moves only
// when told stands for a week passing.
func ExampleSchedule() {
	clock := retrytest.NewClock(time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)) // a Friday
	st := memstore.New(memstore.Config{Clock: clock})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "weekly-report", step.New("write", func(_ context.Context, r Report) (string, error) {
		return "report of the week of " + r.Week, nil
	}, step.Config{}), pipeline.Policy{})
	pipeline.Schedule(p, "weekly-report", pipeline.Cron{Spec: "0 9 * * MON", TimeZone: "Europe/Berlin", Missed: pipeline.MissedOne},
		func(tick time.Time) (Report, error) {
			return Report{Week: tick.AddDate(0, 0, -7).Format("2006-01-02")}, nil
		})
	if err := p.Err(); err != nil {
		fmt.Println(err)
		return
	}
	ticks, _ := pipeline.Cron{Spec: "0 9 * * MON", TimeZone: "Europe/Berlin"}.Ticks(clock.Now(), 2)
	fmt.Println("next ticks:", ticks[0], "and", ticks[1])

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = rt.Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond}) }()
	for all, _ := st.Schedules(ctx, ""); len(all) == 0; all, _ = st.Schedules(ctx, "") {
		time.Sleep(5 * time.Millisecond) // until the worker has declared it
	}
	clock.Set(ticks[0].Add(time.Second)) // Monday, 09:00:01 in Berlin
	for {
		all, _ := st.Schedules(ctx, "weekly-report")
		if len(all) == 1 && all[0].LastRun != "" {
			d, _ := p.Get(ctx, all[0].LastRun)
			if d.Run.Status == store.Succeeded {
				fmt.Println(d.Run.IdempotencyKey, string(d.Run.Output))
				fmt.Println("next tick due:", all[0].Next)
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output:
	// next ticks: 2026-11-30 09:00:00 +0100 CET and 2026-12-07 09:00:00 +0100 CET
	// schedule:weekly-report:2026-11-30T08:00:00Z "report of the week of 2026-11-23"
	// next tick due: 2026-12-07 08:00:00 +0000 UTC
}
