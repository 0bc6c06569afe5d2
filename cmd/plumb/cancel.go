package main

import (
	"context"
	"errors"
	"fmt"
	osuser "os/user"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

// cancelFlags are cancel's flags, for one run and for --filter.
type cancelFlags struct {
	reason, by       string
	dry, filter, yes bool
	w                waitFlags
	f                filterFlags
}

func (a *app) cancelCommand() *cobra.Command {
	var o cancelFlags
	cmd := &cobra.Command{
		Use:   "cancel (RUN_ID | --filter)",
		Short: "Cancel a run that has not ended, or every live run a filter matches",
		Long: `Cancel ends a run that has not ended, recording who cancelled it and why.
A queued (or deferred), waiting, awaiting-review or held run ends
cancelled at once. A running run is marked: its worker is told at its next heartbeat,
stops the step and the run ends cancelled; --wait follows it until then.
A run's live branch runs are cancelled with it. A run that has ended
(succeeded, dead-lettered, cancelled) is refused, exit code 1. A
cancelled run can be replayed.

With --filter, every live run the filter flags match (--status narrows
it to queued, running, waiting, awaiting_review or held) is cancelled, with
progress on stderr and a summary on stdout: --dry-run lists them, --yes
skips the question.`,
		Example: `  plumb cancel 01M8ET3R4F3TBMMCRGER9CKRT8 --reason "duplicate lead"
  plumb cancel 01M8ET3R4F3TBMMCRGER9CKRT8 --wait
  plumb cancel --filter --external-id lead-0197 --dry-run
  plumb cancel --filter --pipeline leadfollowup --status queued --reason "bad batch" --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return classify(a.cancel(cmd.Context(), args, &o, cmd.Flags().Changed))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.reason, "reason", "", "why, recorded on the run")
	fs.StringVar(&o.by, "by", "", "who cancels, recorded on the run (default: $USER)")
	fs.BoolVar(&o.filter, "filter", false, "cancel every live run the filter flags match")
	fs.BoolVar(&o.dry, "dry-run", false, "with --filter: list the runs; cancel nothing")
	fs.BoolVar(&o.yes, "yes", false, "with --filter: cancel without asking")
	o.w.register(fs, "follow a running run until its worker has ended it")
	o.f.register(fs, true, true, 1000)
	return cmd
}

func (a *app) cancel(ctx context.Context, args []string, o *cancelFlags, changed func(string) bool) error {
	a.notePoll(changed)
	if o.filter {
		if len(args) > 0 {
			return usagef("give a run id or --filter, not both")
		}
		if changed("wait") {
			return usagef("--wait follows one run; it does not go with --filter")
		}
		return a.cancelMatching(ctx, o)
	}
	if len(args) != 1 {
		return usagef("give one run id, or --filter with filter flags")
	}
	for _, name := range append(filterNames, "yes", "dry-run") {
		if changed(name) {
			return usagef("--%s goes with --filter; give --filter, or leave it out to cancel run %s", name, args[0])
		}
	}
	return a.cancelOne(ctx, args[0], o)
}

// canceller names who cancels: --by, else $USER.
func (a *app) canceller(by string) string {
	if by != "" {
		return by
	}
	if u := a.env("USER"); u != "" {
		return u
	}
	if u, err := osuser.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

func (a *app) cancelOne(ctx context.Context, id string, o *cancelFlags) error {
	h, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	by := a.canceller(o.by)
	run, err := h.Cancel(ctx, store.CancelRequest{RunID: id, By: by, Reason: o.reason})
	if errors.Is(err, store.ErrNotFound) {
		return &exitError{code: exitNotFound, err: fmt.Errorf("no run %s in %s; plumb runs list shows the runs there", id, h.where)}
	}
	if errors.Is(err, store.ErrFinal) {
		return a.refusedFinal(ctx, h, id, err)
	}
	if err != nil {
		return err
	}
	p := a.target.prefix()
	w := a.stderr // with --json, stdout gets only the run
	if !a.json {
		w = a.stdout
	}
	if run.Status == store.Cancelled {
		if a.json {
			return a.printJSON(run)
		}
		fmt.Fprintf(w, "Cancelled run %s (%s) %s.\n", run.ID, run.Pipeline, where(run))
		fmt.Fprintf(w, "  %s\n", cancelNote(run.Cancel))
		fmt.Fprintf(w, "  look at it:  %s runs show %s\n", p, run.ID)
		fmt.Fprintf(w, "  replay it:   %s replay %s\n", p, run.ID)
		return nil
	}
	// Running: marked; its worker ends it.
	fmt.Fprintf(w, "Run %s (%s) is running%s: it is marked cancelled and ends at its worker's next heartbeat.\n",
		run.ID, run.Pipeline, onWorker(run))
	fmt.Fprintf(w, "  %s\n", cancelNote(run.Cancel))
	if !o.w.wait {
		if a.json {
			return a.printJSON(run)
		}
		fmt.Fprintf(w, "  follow it:  %s cancel %s --wait\n", p, run.ID)
		return nil
	}
	fmt.Fprintf(w, "Waiting for its worker to end it…\n")
	ended, err := a.waitEnd(ctx, h, run.ID, &o.w, func(r *store.Run) {
		fmt.Fprintf(a.stderr, "  still %s after %s: a live worker ends it at its next heartbeat; if that worker is gone, the run ends cancelled once its lease has expired and a worker of pipeline %s claims again\n",
			r.Status, fmtDur(o.w.quiet), r.Pipeline)
	})
	var stopped *errWaitEnded
	if errors.As(err, &stopped) {
		return failf("%s while waiting; the run stays marked and ends at its worker's next heartbeat; follow it with %s runs show %s", stopped.what, p, run.ID)
	}
	if err != nil {
		return err
	}
	if a.json {
		if err := a.printJSON(ended); err != nil {
			return err
		}
	}
	if ended.Status != store.Cancelled {
		// A store keeps a marked run from ending any other way; say so
		// plainly if one did.
		return failf("run %s ended %s, not cancelled\n  look at it:  %s runs show %s", ended.ID, runState(ended), p, ended.ID)
	}
	if !a.json {
		fmt.Fprintf(a.stdout, "Run %s ended cancelled %s.\n", ended.ID, where(ended))
	}
	return nil
}

// refusedFinal says why a run that has ended cannot be cancelled: the
// code of a final run (1), with how it ended.
func (a *app) refusedFinal(ctx context.Context, h *handle, id string, err error) error {
	d, gerr := h.GetRun(ctx, id)
	if gerr != nil {
		return failf("cancel refused: %v", err)
	}
	r := &d.Run
	how := runState(r)
	if r.Status == store.Cancelled {
		how = cancelledBy(r)
		if r.Cancel != nil {
			how += " at " + fmtTime(r.Cancel.At)
		}
	}
	return failf("run %s has ended (%s); there is nothing to cancel", r.ID, how)
}

// where says where a cancelled run stopped.
func where(r *store.Run) string {
	if r.Step == "" {
		return "before it ran a step"
	}
	return "at step " + r.Step
}

// onWorker names a running run's worker and lease, when known.
func onWorker(r *store.Run) string {
	if r.LeaseOwner == "" {
		return ""
	}
	return " on worker " + r.LeaseOwner + " (lease until " + fmtTime(r.LeaseExpires) + ")"
}

// cancelNote is the cancellation in one line: "by ana at T: why".
func cancelNote(c *store.Cancellation) string {
	if c == nil {
		return "cancelled"
	}
	s := "by " + oneLine(c.By, 80) + " at " + fmtTime(c.At)
	if c.Reason != "" {
		s += ": " + oneLine(c.Reason, 200)
	} else {
		s += " (no reason given)"
	}
	return s
}

// cancelResult is cancel --filter's JSON output.
type cancelResult struct {
	DryRun  bool     `json:"dry_run"`
	Matched []string `json:"matched"`
	// Cancelled ended at once; Marked were running, and end at their
	// workers' next heartbeat; Ended had ended before their turn came.
	Cancelled []string          `json:"cancelled"`
	Marked    []string          `json:"marked"`
	Ended     []string          `json:"ended"`
	Failed    map[string]string `json:"failed"`
}

// cancelMatching cancels every live run the filter matches: exactly the
// runs it listed (a run queued since is not cancelled unseen). It lists
// them first and asks, or needs --yes.
func (a *app) cancelMatching(ctx context.Context, o *cancelFlags) error {
	rf, err := o.f.build(a.now())
	if err != nil {
		return err
	}
	for _, st := range rf.Status {
		if st.Final() {
			return usagef("--status %s: runs that have ended cannot be cancelled; filter on queued, running, waiting, awaiting_review or held", st)
		}
	}
	h, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := knownRun(ctx, h, rf.Parent); err != nil {
		return err
	}
	listed, err := store.CancelMatching(ctx, h, rf, "", "", true, nil)
	if err != nil {
		return err
	}
	res := cancelResult{DryRun: o.dry, Matched: []string{}, Cancelled: []string{}, Marked: []string{}, Ended: []string{}, Failed: map[string]string{}}
	for _, r := range listed.Matched {
		res.Matched = append(res.Matched, r.ID)
	}
	info := a.stdout
	if a.json {
		info = a.stderr
	}
	if len(listed.Matched) == 0 {
		if a.json {
			return a.printJSON(res)
		}
		fmt.Fprintln(info, "No live runs match: nothing to cancel.")
		return nil
	}
	printMatched(info, listed.Matched, listed.More, rf.Limit, "live run", "live runs")
	if n := countStatus(listed.Matched, store.Running); n > 0 {
		fmt.Fprintf(info, "%s running: %s marked and %s at %s worker's next heartbeat.\n",
			plural(n, "run is", "runs are"), pick2(n, "it is", "they are"), pick2(n, "ends", "end"), pick2(n, "its", "their"))
	}
	if o.dry {
		if a.json {
			return a.printJSON(res)
		}
		fmt.Fprintln(info, "Dry run: nothing was cancelled. Cancel them with --yes instead of --dry-run.")
		return nil
	}
	if !o.yes {
		ok, err := a.confirm(fmt.Sprintf("Cancel these %d runs? [y/N] ", len(listed.Matched)), "cancel", "Nothing was cancelled.")
		if err != nil || !ok {
			return err
		}
	}
	by := a.canceller(o.by)
	start := time.Now()
	total := len(listed.Matched)
	width := len(fmt.Sprint(total))
	for i, m := range listed.Matched {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("batch cancel stopped after %d of %d runs: %w", i, total, err)
		}
		run, err := h.Cancel(ctx, store.CancelRequest{RunID: m.ID, By: by, Reason: o.reason})
		verb := ""
		switch {
		case errors.Is(err, store.ErrFinal), errors.Is(err, store.ErrNotFound):
			res.Ended = append(res.Ended, m.ID)
			verb = "had ended"
		case err != nil:
			res.Failed[m.ID] = err.Error()
			fmt.Fprintf(a.stderr, "[%*d/%d] refused   %s: %v\n", width, i+1, total, m.ID, err)
			continue
		case run.Status == store.Cancelled:
			res.Cancelled = append(res.Cancelled, m.ID)
			verb = "cancelled"
		default:
			res.Marked = append(res.Marked, m.ID)
			verb = "marked   "
		}
		fmt.Fprintf(a.stderr, "[%*d/%d] %s %s\n", width, i+1, total, verb, m.ID)
	}
	if a.json {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		a.cancelSummary(res, time.Since(start))
	}
	if len(res.Failed) > 0 {
		return failf("%s of %d could not be cancelled", plural(len(res.Failed), "run", "runs"), total)
	}
	return nil
}

func (a *app) cancelSummary(res cancelResult, took time.Duration) {
	w, p := a.stdout, a.target.prefix()
	total := len(res.Matched)
	fmt.Fprintf(w, "Cancelled %d of %d runs in %s", len(res.Cancelled)+len(res.Marked), total, fmtDur(took))
	var parts []string
	if n := len(res.Marked); n > 0 {
		parts = append(parts, fmt.Sprintf("%d running, marked: %s at %s worker's next heartbeat", n, pick2(n, "it ends", "they end"), pick2(n, "its", "their")))
	}
	if n := len(res.Ended); n > 0 {
		parts = append(parts, fmt.Sprintf("%s ended before %s turn came", plural(n, "run", "runs"), pick2(n, "its", "their")))
	}
	if n := len(res.Failed); n > 0 {
		parts = append(parts, fmt.Sprintf("%d refused", n))
	}
	for _, s := range parts {
		fmt.Fprint(w, "; "+s)
	}
	fmt.Fprintln(w, ".")
	ids := make([]string, 0, len(res.Failed))
	for id := range res.Failed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(w, "  %s  %s\n", id, oneLine(res.Failed[id], 200))
	}
	if len(res.Marked) > 0 {
		fmt.Fprintf(w, "Follow the running ones with:\n  %s runs list --status running\n", p)
	}
	if len(res.Cancelled)+len(res.Marked) > 0 {
		fmt.Fprintf(w, "A cancelled run can be replayed: %s replay RUN_ID\n", p)
	}
}

func countStatus(runs []store.Run, st store.Status) int {
	n := 0
	for _, r := range runs {
		if r.Status == st {
			n++
		}
	}
	return n
}
