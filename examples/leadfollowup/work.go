package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/store"
)

// soon is how far ahead -work waits for a deferred run (one held back by
// the outage schedule, say): a run due later is left for a later worker.
const soon = 10 * time.Second

// workQueue is -work: no leads are submitted; a worker carries out what is
// queued (replays written by plumb replay, reviews approved in the inbox)
// until nothing is runnable, then the runs it saw are listed. The store is
// the queue, so "idle" is read from it: no run of the pipeline is running,
// and none is queued to run now or soon. A paused pipeline runs nothing,
// so it is idle too.
func workQueue(ctx context.Context, w io.Writer, rt *pipeline.Runtime, o options) error {
	st := rt.Store()
	// What is queued is read before the worker starts, so that a run it
	// finishes before the first poll is still reported.
	queued, err := active(ctx, st)
	if err != nil {
		return err
	}
	if len(queued) == 0 {
		return reportWork(ctx, w, st, nil, nil)
	}
	workCtx, stopWork := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(workCtx, pipeline.WorkerConfig{Concurrency: o.concurrency, Poll: 100 * time.Millisecond})
	}()
	seen, later, err := untilIdle(ctx, st, queued)
	stopWork()
	// A worker stopped while it was still starting says so; we stopped it.
	if werr := <-done; werr != nil && err == nil && !(errors.Is(werr, context.Canceled) && ctx.Err() == nil) {
		err = werr
	}
	if err != nil {
		return err
	}
	return reportWork(ctx, w, st, seen, later)
}

// untilIdle polls the store until no run is running or runnable soon. It
// returns the runs it saw queued or running, and those left for later.
func untilIdle(ctx context.Context, st store.Store, runs []store.Run) (seen []string, later []store.Run, err error) {
	known := map[string]bool{}
	for {
		if err != nil {
			return nil, nil, err
		}
		paused, err := isPaused(ctx, st)
		if err != nil {
			return nil, nil, err
		}
		busy := false
		later = later[:0]
		for _, r := range runs {
			if !known[r.ID] {
				known[r.ID] = true
				seen = append(seen, r.ID)
			}
			switch {
			case r.Status == store.Running:
				busy = true
			case paused || r.NotBefore.After(time.Now().Add(soon)):
				later = append(later, r)
			default:
				busy = true
			}
		}
		if !busy {
			return seen, later, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		runs, err = active(ctx, st)
	}
}

// active lists the pipeline's queued and running runs.
func active(ctx context.Context, st store.Store) ([]store.Run, error) {
	page, err := st.ListRuns(ctx, store.RunFilter{Pipeline: "leadfollowup",
		Status: []store.Status{store.Queued, store.Running}, Limit: 1 << 30, NoCount: true})
	return page.Runs, err
}

func isPaused(ctx context.Context, st store.Store) (bool, error) {
	stats, err := st.Stats(ctx, "leadfollowup", time.Minute)
	if err != nil {
		return false, err
	}
	return len(stats) > 0 && stats[0].Paused != nil, nil
}

// reportWork lists what -work carried out: each run and where it ended.
func reportWork(ctx context.Context, w io.Writer, st store.Store, seen []string, later []store.Run) error {
	waiting := map[string]bool{}
	for _, r := range later {
		waiting[r.ID] = true
	}
	var carried []store.Run
	for _, id := range seen {
		if waiting[id] {
			continue
		}
		d, err := st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		carried = append(carried, d.Run)
	}
	if len(carried) == 0 && len(later) == 0 {
		fmt.Fprintln(w, "Nothing queued: replay a dead letter (plumb replay RUN_ID) or approve a review, then run -work again.")
		return nil
	}
	count := map[store.Status]int{}
	for _, r := range carried {
		count[r.Status]++
	}
	noun := "runs"
	if len(carried) == 1 {
		noun = "run"
	}
	fmt.Fprintf(w, "Carried out %d %s:", len(carried), noun)
	sep := " "
	for _, s := range store.Statuses {
		if n := count[s]; n > 0 {
			fmt.Fprintf(w, "%s%d %s", sep, n, s)
			sep = ", "
		}
	}
	fmt.Fprintln(w)
	slices.SortFunc(carried, func(a, b store.Run) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	for _, r := range carried {
		line := fmt.Sprintf("  %s  %-15s %s", r.ID, r.Status, r.Error)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if len(later) > 0 {
		fmt.Fprintf(w, "%d queued runs wait to run later (deferred, or the pipeline is paused); run -work again then.\n", len(later))
	}
	return nil
}
