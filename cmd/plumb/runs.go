package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

func (a *app) runsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs and show a run's whole timeline",
	}
	return group(cmd, a.runsListCommand(), a.runsShowCommand(), a.runsFindCommand())
}

func (a *app) runsListCommand() *cobra.Command {
	var f filterFlags
	var before string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Example: `  plumb runs list --status dead_lettered --since 2h
  plumb runs list --external-id lead-0197
  plumb runs list --pipeline leadfollowup --step classify --class contract --json
  plumb runs list --parent 01M8ET3R4F3TBMMCRGER9CKRT8 --status dead_lettered
  plumb runs list --top-level --status waiting`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			rf, err := f.build(a.now())
			if err != nil {
				return err
			}
			rf.Before, rf.CountLimit = before, countLimit
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			if err := knownRun(ctx, h, rf.Parent); err != nil {
				return err
			}
			page, err := h.ListRuns(ctx, rf)
			if err != nil {
				return err
			}
			runs := page.Runs
			if page.Truncated() {
				// On stderr, so that --json stays the list a script reads.
				defer fmt.Fprintf(a.stderr, "… %s more; see them with --before %s (or a larger --limit)\n", moreCount(page.More, page.Capped), page.Next)
			}
			if a.json {
				return a.printJSON(nonNil(runs))
			}
			if len(runs) == 0 {
				if rf.Parent != "" {
					fmt.Fprintf(a.stdout, "No branch runs of %s match.\n", rf.Parent)
					return nil
				}
				fmt.Fprintln(a.stdout, "No runs match.")
				return nil
			}
			runTable(a.stdout, runs)
			return nil
		}),
	}
	f.register(cmd.Flags(), true, true, 50)
	cmd.Flags().StringVar(&before, "before", "", "only runs older than this run id (the next page)")
	return cmd
}

// countLimit bounds the count of the runs past a listing's page: a
// listing says how many more there are up to it, and "more than" past it,
// so that a store of millions counts a few thousand index entries, not
// all of them.
const countLimit = 1000

// moreCount is the count of the runs past a page as a listing says it.
func moreCount(n int, capped bool) string {
	if capped {
		return fmt.Sprintf("more than %d", n)
	}
	return fmt.Sprint(n)
}

// runTable prints runs one a line. When some are branch runs, a PARENT
// column names each one's parent ("-" for a top-level run).
func runTable(w io.Writer, runs []store.Run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	branched := slices.ContainsFunc(runs, func(r store.Run) bool { return r.Parent != nil })
	if branched {
		fmt.Fprint(tw, "PARENT\t")
	}
	fmt.Fprintln(tw, "ID\tPIPELINE\tSTATUS\tATTEMPT\tSTEP\tCLASS\tUPDATED (UTC)\tERROR")
	for _, r := range runs {
		if branched {
			parent := "-"
			if r.Parent != nil {
				parent = "↳ " + r.Parent.RunID
			}
			fmt.Fprint(tw, parent+"\t")
		}
		class := ""
		if r.Class != 0 {
			class = r.Class.String()
		}
		st := r.Step
		if st == "" && r.Review != nil && r.Status == store.AwaitingReview {
			st = r.Review.Step
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, r.Status, r.Attempt,
			orDash(st), orDash(class), strings.TrimSuffix(fmtTime(r.UpdatedAt), " UTC"), oneLine(shortError(errorColumn(&r)), 70))
	}
	_ = tw.Flush()
}

// errorColumn is what runs list says went wrong: the run's error, or, for
// a run whose cancellation was asked and that has not ended yet, who asked.
func errorColumn(r *store.Run) string {
	c := r.Cancel
	switch {
	case c == nil:
		return r.Error
	case r.Status == store.Cancelled && r.Error != "":
		return r.Error
	case r.Status == store.Cancelled:
		return cancelledBy(r)
	case !r.Status.Final():
		s := "cancel asked by " + c.By
		if c.Reason != "" {
			s += ": " + c.Reason
		}
		return s
	}
	return r.Error
}

// shownRun is runs show --json: the run's record and, for a parent, its
// branching steps with their children.
type shownRun struct {
	*store.RunDetail
	Branches []forkView `json:"branches,omitempty"`
}

func (a *app) runsShowCommand() *cobra.Command {
	return a.showCommand("Show a run's whole timeline: trigger, attempts, steps, model calls, review, branches",
		func(ctx context.Context, h *handle, d *store.RunDetail, t *tree) (any, string, error) {
			return shownRun{RunDetail: d, Branches: t.Forks}, "", nil
		})
}

// showCommand is a "show RUN_ID" command: the run's timeline, then what
// more the command has to say (extra text, and the JSON to print instead).
func (a *app) showCommand(short string, more func(ctx context.Context, h *handle, d *store.RunDetail, t *tree) (asJSON any, text string, err error)) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			d, err := getRun(ctx, h, args[0])
			if err != nil {
				return err
			}
			t, err := loadTree(ctx, h, d, a.target.prefix())
			if err != nil {
				return err
			}
			asJSON, text, err := more(ctx, h, d, t)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(asJSON)
			}
			fmt.Fprint(a.stdout, timeline(d, showLimits(full), t))
			fmt.Fprint(a.stdout, text)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&full, "full", false, "show payloads and model answers in full, however long")
	return cmd
}

// getRun reads a run, saying which store lacks it when it is not there.
func getRun(ctx context.Context, h *handle, id string) (*store.RunDetail, error) {
	d, err := h.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &exitError{code: exitNotFound, err: fmt.Errorf("no run %s in %s; plumb runs list shows the runs there", id, h.where)}
	}
	return d, err
}

func showLimits(full bool) limits {
	if full {
		return noLimits
	}
	return payloadLimits
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
