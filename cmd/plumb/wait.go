package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// quietAfter is how long a replay may sit in the queue before --wait asks
// whether any worker is running: the CLI only writes the intent, and with
// no worker nothing happens.
const quietAfter = 10 * time.Second

// wait follows a replayed run by polling until its attempt ends, printing
// each change of state to stderr and the outcome to stdout. A run that
// fails again is exit code 1; one that now awaits review is not a failure.
func (a *app) wait(ctx context.Context, h *handle, run *store.Run, o *replayFlags) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	start := time.Now()
	last, warned := "", false
	tick := time.NewTicker(o.poll)
	defer tick.Stop()
	for {
		d, err := h.GetRun(ctx, run.ID)
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil {
			r := &d.Run
			if r.Attempt > run.Attempt {
				return failf("run %s was replayed again (attempt %d) while waiting; follow it with %s runs show %s", r.ID, r.Attempt, a.target.prefix(), r.ID)
			}
			if state := runState(r); state != last {
				fmt.Fprintf(a.stderr, "  %s  %s\n", time.Now().UTC().Format("15:04:05"), state)
				last = state
			}
			if r.Status != store.Queued && r.Status != store.Running {
				return a.outcome(d)
			}
			if !warned && r.Status == store.Queued && r.NotBefore.IsZero() && time.Since(start) > quietAfter {
				fmt.Fprintf(a.stderr, "  still queued after %s: is a worker of pipeline %s running? (--wait only watches; the workers run the steps)\n", fmtDur(quietAfter), r.Pipeline)
				warned = true
			}
		}
		select {
		case <-ctx.Done():
			what := "interrupted"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				what = "timed out after " + fmtDur(o.timeout)
			}
			return failf("%s while waiting; the replay stays queued for the workers; follow it with %s runs show %s", what, a.target.prefix(), run.ID)
		case <-tick.C:
		}
	}
}

// outcome prints how a waited-for attempt ended.
func (a *app) outcome(d *store.RunDetail) error {
	r := &d.Run
	if a.json {
		if err := a.printJSON(r); err != nil {
			return err
		}
	}
	p := a.target.prefix()
	switch r.Status {
	case store.Succeeded:
		if !a.json {
			fmt.Fprintf(a.stdout, "Run %s succeeded on attempt %d.\n", r.ID, r.Attempt)
			if r.Output != nil {
				var b strings.Builder
				payload(&b, "  ", "output", r.Output, payloadLimits)
				fmt.Fprint(a.stdout, b.String())
			}
		}
		return nil
	case store.AwaitingReview:
		if !a.json {
			reason := ""
			if r.Review != nil {
				reason = ": " + oneLine(r.Review.Reason, 200)
			}
			fmt.Fprintf(a.stdout, "Run %s now awaits review%s\n  decide it:  %s review show %s\n", r.ID, reason, p, r.ID)
		}
		return nil
	}
	return failf("run %s is %s again: %s\n  look at it:  %s deadletters show %s", r.ID, runState(r), oneLine(r.Error, 300), p, r.ID)
}
