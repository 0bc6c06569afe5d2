// Command weeklyreport is a weekly client report built on Plumb and run on
// a schedule: every Monday morning, in each client's own time zone, a run
// gathers the client's metrics for the week that ended (a scripted
// analytics source), has a model summarise them (llm.StructuredInto: a
// headline, highlights, concerns and a confidence, within the summary's
// contract, re-asked when an answer breaks it), sends a summary the model
// is unsure of (confidence below 0.7, as when days of tracking are
// missing) to a person's review, and renders the email (text/template)
// into a file for each client and week.
//
// Each client has a schedule of its own (pipeline.Schedule): Acme's in
// Europe/Berlin at 09:00, Globex's in America/New_York at 08:00, Initech's
// in Asia/Tokyo at 09:30. The schedules live in the store: however many
// workers run, each tick is one run, and a tick missed while everything
// was down runs once when a worker is back (pipeline.MissedOne).
//
// By default the example runs on a simulated clock, a month of Mondays in
// a few seconds: it moves the clock to each next tick, lets the workers
// fire it, and follows the tick's run to its end. A second run on the
// same store goes on with the next month. With -wall it runs on the wall
// clock instead, as production does, and works until Ctrl-C.
//
//	go run ./examples/weeklyreport                 # a simulated month, then a summary
//	go run ./examples/weeklyreport -weeks 8        # two months
//	go run ./examples/weeklyreport -wall           # the real Mondays, until Ctrl-C
//	go run ./cmd/plumb --db weeklyreport.db schedules
//	go run ./cmd/plumb --db weeklyreport.db review list
//
// Without OPENAI_API_KEY or ANTHROPIC_API_KEY the model is scripted (see
// model.go): no key is needed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

const pipelineName = "weeklyreport"

type options struct {
	db    string
	out   string
	weeks int
	seed  int64
	wall  bool
	log   io.Writer
}

func main() {
	var o options
	flag.StringVar(&o.db, "db", "weeklyreport.db", "the SQLite store, created if missing")
	flag.StringVar(&o.out, "out", "weeklyreport-mail", "the directory the emails are written to")
	flag.IntVar(&o.weeks, "weeks", 4, "how many weeks to simulate")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the metrics and of the scripted model")
	flag.BoolVar(&o.wall, "wall", false, "run on the wall clock until Ctrl-C instead of simulating")
	flag.Parse()
	o.log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "weeklyreport:", err)
		os.Exit(1)
	}
}

// simStart is where the simulated clock starts on a new store: a Friday
// night, so that the first Monday is the first tick.
var simStart = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func run(ctx context.Context, o options, w io.Writer) error {
	var clock retry.Clock = retry.SystemClock
	var sim *retrytest.Clock
	if !o.wall {
		start, err := resume(o.db)
		if err != nil {
			return err
		}
		sim = retrytest.NewClock(start)
		clock = sim
	}
	st, err := sqlitestore.Open(o.db, sqlitestore.Config{Clock: clock})
	if err != nil {
		return err
	}
	defer st.Close()
	m, desc, err := model(o.seed)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(o.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: logger,
		DeadLetters: []deadletter.Sink{deadletter.Store(st)}})
	p := build(rt, m, metricsSource{seed: uint64(o.seed)}, o.out)
	if err := p.Err(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Weekly client reports for %d clients on %s, with %s.\n", len(clients), o.db, desc)
	for _, c := range clients {
		fmt.Fprintf(w, "  %-8s %-20s every %q in %s\n", c.ID, c.Name, c.Spec, c.Zone)
	}

	workCtx, stopWork := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() {
		worked <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: 4, Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	if o.wall {
		fmt.Fprintln(w, "Working on the wall clock until Ctrl-C: the reports go out at the real ticks.")
		<-ctx.Done()
		stopWork()
		return <-worked
	}
	reports, err := simulate(ctx, st, sim, o.weeks, w)
	stopWork()
	if werr := <-worked; err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	return summarize(ctx, st, reports, o, w)
}

func build(rt *pipeline.Runtime, m llm.Model, src metricsSource, out string) *pipeline.Pipeline[Week, Email] {
	gathered := pipeline.New(rt, pipelineName, step.New("metrics", gather(src), step.Config{}), pipeline.Policy{})
	summarized := pipeline.Then(gathered, llm.StructuredInto("summarize", m, summaryPrompt, intoSummarized, llm.Options{
		Retry: retry.Policy{MaxAttempts: 3, InitialInterval: 10 * time.Millisecond, MaxInterval: 100 * time.Millisecond},
		Step:  step.Config{Review: step.ReviewRule{If: needsReview}},
	}))
	p := pipeline.Then(summarized, step.New("render", render(out), step.Config{}))
	for _, c := range clients {
		pipeline.Schedule(p, "weekly-"+c.ID, pipeline.Cron{Spec: c.Spec, TimeZone: c.Zone, Missed: pipeline.MissedOne}, weekOf(c))
	}
	return p
}

// resume is where a simulation on the store at path starts: an hour
// before its earliest tick due, so that a second run goes on with the
// next weeks; simStart for a new store.
func resume(path string) (time.Time, error) {
	if _, err := os.Stat(path); err != nil {
		return simStart, nil
	}
	st, err := sqlitestore.Open(path, sqlitestore.Config{})
	if err != nil {
		return time.Time{}, err
	}
	defer st.Close()
	all, err := st.Schedules(context.Background(), pipelineName)
	if err != nil || len(all) == 0 {
		return simStart, err
	}
	first := all[0].Next
	for _, s := range all {
		if s.Next.Before(first) {
			first = s.Next
		}
	}
	return first.Add(-time.Hour), nil
}

// report is one tick's run, as the summary shows it.
type report struct {
	schedule string
	tick     time.Time
	run      string
}

// simulate moves the clock from tick to tick for weeks, and follows each
// tick's run until it ends.
func simulate(ctx context.Context, st store.Store, clock *retrytest.Clock, weeks int, w io.Writer) ([]report, error) {
	end := clock.Now().AddDate(0, 0, 7*weeks)
	scheds, err := declared(ctx, st)
	if err != nil {
		return nil, err
	}
	var reports []report
	for {
		next := scheds[0]
		for _, s := range scheds {
			if s.Next.Before(next.Next) {
				next = s
			}
		}
		if next.Next.After(end) {
			return reports, nil
		}
		clock.Set(next.Next.Add(2 * time.Second))
		s, err := fired(ctx, st, next)
		if err != nil {
			return nil, err
		}
		r := report{schedule: s.Name, tick: s.LastTick, run: s.LastRun}
		run, err := follow(ctx, st, r.run)
		if err != nil {
			return nil, err
		}
		reports = append(reports, r)
		fmt.Fprintf(w, "[%2d] %s  %-16s %s\n", len(reports), fmtLocal(r.tick, s.TimeZone), s.Name, describe(run))
		if scheds, err = declared(ctx, st); err != nil {
			return nil, err
		}
	}
}
