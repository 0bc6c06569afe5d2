package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/store"
)

// quietAfter is how long --wait waits before it asks whether any worker
// is running: the CLI only writes the intent, and with no worker nothing
// happens.
const quietAfter = 10 * time.Second

// waitFlags are --wait and its companions, on replay and cancel.
type waitFlags struct {
	wait    bool
	timeout time.Duration
	// quiet is how long before the no-worker hint; hidden, for tests.
	quiet time.Duration
	// poll is kept so that scripts that pass it still run: the store
	// wakes the wait now.
	poll time.Duration
}

func (o *waitFlags) register(fs *pflag.FlagSet, what string) {
	fs.BoolVar(&o.wait, "wait", false, what)
	fs.DurationVar(&o.timeout, "timeout", 0, "give up --wait after this long (0: wait until it ends)")
	fs.DurationVar(&o.quiet, "quiet-after", quietAfter, "how long --wait waits before it asks whether a worker is running")
	_ = fs.MarkHidden("quiet-after")
	fs.DurationVar(&o.poll, "poll", time.Second, "ignored: the store wakes --wait when the run ends")
	// Not MarkDeprecated: its note goes to stdout, into --json's data.
	_ = fs.MarkHidden("poll")
}

// notePoll tells a script that still passes --poll that it is ignored.
func (a *app) notePoll(changed func(string) bool) {
	if changed("poll") {
		fmt.Fprintln(a.stderr, "plumb: --poll is ignored and can be dropped: the store wakes --wait when the run ends")
	}
}

// errWaitEnded is a wait the context ended: interrupted or timed out.
type errWaitEnded struct{ what string }

func (e *errWaitEnded) Error() string { return e.what }

// waitEnd waits for the run to reach an end state (succeeded,
// dead-lettered, cancelled, awaiting review, held): the store wakes it, from
// any process. quiet is called once if the run has not ended after
// o.quiet, with the run as it is then (read once, not polled).
func (a *app) waitEnd(ctx context.Context, h *handle, id string, o *waitFlags, quiet func(r *store.Run)) (*store.Run, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	type waited struct {
		run *store.Run
		err error
	}
	done := make(chan waited, 1)
	go func() {
		r, err := h.WaitRun(ctx, id)
		done <- waited{r, err}
	}()
	timer := time.NewTimer(max(o.quiet, time.Millisecond))
	defer timer.Stop()
	for {
		select {
		case w := <-done:
			if w.err == nil {
				return w.run, nil
			}
			if ctx.Err() == nil {
				return nil, w.err
			}
			what := "interrupted"
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				what = "timed out after " + fmtDur(o.timeout)
			}
			return nil, &errWaitEnded{what}
		case <-timer.C:
			if d, err := h.GetRun(ctx, id); err == nil && !d.Run.Status.Final() && !d.Run.Status.Parked() {
				quiet(&d.Run)
			}
		}
	}
}

// wait follows a replayed run until its attempt ends, printing the outcome
// to stdout. A run that fails again is exit code 1; one that now awaits
// review is not a failure.
func (a *app) wait(ctx context.Context, h *handle, run *store.Run, o *waitFlags) error {
	r, err := a.waitEnd(ctx, h, run.ID, o, func(r *store.Run) {
		if r.Status == store.Queued && r.NotBefore.IsZero() {
			fmt.Fprintf(a.stderr, "  still queued after %s: is a worker of pipeline %s running? (--wait only watches; the workers run the steps)\n", fmtDur(o.quiet), r.Pipeline)
		}
	})
	var ended *errWaitEnded
	if errors.As(err, &ended) {
		return failf("%s while waiting; the replay stays queued for the workers; follow it with %s runs show %s", ended.what, a.target.prefix(), run.ID)
	}
	if err != nil {
		return err
	}
	if r.Attempt > run.Attempt {
		return failf("run %s was replayed again (attempt %d) while waiting; follow it with %s runs show %s", r.ID, r.Attempt, a.target.prefix(), r.ID)
	}
	return a.outcome(r)
}

// outcome prints how a waited-for attempt ended.
func (a *app) outcome(r *store.Run) error {
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
	case store.Held:
		return failf("run %s is held at step %s: %s\n  its records break the definition of the worker that picked it up; see why: %s versions check --pipeline %s\n  look at it:  %s runs show %s",
			r.ID, orDash(r.Step), oneLine(r.Error, 300), p, shellQuote(r.Pipeline), p, r.ID)
	case store.Cancelled:
		return failf("run %s was %s while waiting\n  look at it:  %s runs show %s", r.ID, cancelledBy(r), p, r.ID)
	}
	return failf("run %s is %s again: %s\n  look at it:  %s deadletters show %s", r.ID, runState(r), oneLine(r.Error, 300), p, r.ID)
}

// cancelledBy says who cancelled a run and why: "cancelled by ana
// (duplicate lead)".
func cancelledBy(r *store.Run) string {
	c := r.Cancel
	if c == nil {
		return "cancelled"
	}
	s := "cancelled by " + oneLine(c.By, 80)
	if c.Reason != "" {
		s += " (" + oneLine(c.Reason, 200) + ")"
	}
	return s
}
