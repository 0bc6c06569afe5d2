package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/store"
)

func (a *app) reviewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "review",
		Short: "List runs awaiting a person's decision; show, approve or reject one",
	}
	return group(cmd, a.reviewListCommand(), a.reviewShowCommand(), a.approveCommand(), a.rejectCommand())
}

func (a *app) reviewListCommand() *cobra.Command {
	var pipeline string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs awaiting review, oldest review first",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			if limit <= 0 {
				return usagef("--limit must be positive")
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			runsPage, err := h.ListRuns(ctx, store.RunFilter{Pipeline: pipeline, Status: []store.Status{store.AwaitingReview}, Limit: limit})
			runs := runsPage.Runs
			if err != nil {
				return err
			}
			// Oldest first: the review that has waited longest is the one
			// to decide next.
			for i, j := 0, len(runs)-1; i < j; i, j = i+1, j-1 {
				runs[i], runs[j] = runs[j], runs[i]
			}
			if a.json {
				return a.printJSON(nonNil(runs))
			}
			if len(runs) == 0 {
				fmt.Fprintln(a.stdout, "No runs await review.")
				return nil
			}
			now := a.now()
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPIPELINE\tSTEP\tWAITING\tDEADLINE\tPROPOSED\tREASON")
			for _, r := range runs {
				rv := r.Review
				if rv == nil {
					rv = &store.Review{}
				}
				deadline := "-"
				if !rv.Deadline.IsZero() {
					deadline = strings.TrimSuffix(fmtTime(rv.Deadline), " UTC")
					if rv.Escalated {
						deadline += " (escalated)"
					}
				}
				proposed := "yes"
				if rv.Proposed == nil {
					proposed = "no (failed)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, orDash(rv.Step),
					strings.TrimSuffix(ago(now, rv.CreatedAt), " ago"), deadline, proposed, oneLine(rv.Reason, 70))
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "only runs of this pipeline")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many runs")
	return cmd
}

func (a *app) reviewShowCommand() *cobra.Command {
	return a.showCommand("Show a run awaiting review: its timeline, the proposed output, how to decide",
		func(ctx context.Context, h *handle, d *store.RunDetail, t *tree) (any, string, error) {
			hint := a.decideHint(&d.Run)
			if r := &d.Run; r.Parent != nil && r.Status == store.AwaitingReview {
				hint += fmt.Sprintf("  Run %s is %s: a branch in review keeps its parent waiting, and its join goes on once this run ends.\n",
					r.ID, parentLine(r.Parent))
			}
			return d, hint, nil
		})
}

// decideHint says how to decide a pending review.
func (a *app) decideHint(r *store.Run) string {
	if r.Status != store.AwaitingReview || r.Review == nil {
		return fmt.Sprintf("\nRun %s is %s: there is no pending review.\n", r.ID, r.Status)
	}
	p := a.target.prefix()
	var w strings.Builder
	w.WriteString("\nDecide\n")
	if r.Review.Proposed != nil {
		fmt.Fprintf(&w, "  approve as proposed:  %s review approve %s\n", p, r.ID)
	}
	fmt.Fprintf(&w, "  approve an edit:      %s review approve %s --edit FILE   (FILE: the output as JSON; it must meet step %s's contract)\n", p, r.ID, r.Review.Step)
	fmt.Fprintf(&w, "  reject:               %s review reject %s --reason TEXT   (dead-letters the run)\n", p, r.ID)
	return w.String()
}

// pendingReview reads a run and refuses, in words, one with no pending
// review.
func pendingReview(ctx context.Context, h *handle, id string) (*store.RunDetail, error) {
	d, err := getRun(ctx, h, id)
	if err != nil {
		return nil, err
	}
	if d.Run.Status != store.AwaitingReview || d.Run.Review == nil {
		msg := fmt.Sprintf("run %s is %s, not awaiting review", id, d.Run.Status)
		if rv := d.Run.Review; rv != nil && rv.Decision != nil {
			msg += fmt.Sprintf(" (decided by %s at %s)", rv.Decision.Reviewer, fmtTime(rv.Decision.At))
		}
		return nil, failf("%s", msg)
	}
	return d, nil
}

// reviewToDecide is the review a decision names: --review when given (the
// one the person looked at), else the one the run awaits now. Either way
// the store refuses it if the run has moved on when the decision lands.
func reviewToDecide(d *store.RunDetail, flag string) (store.ReviewRef, error) {
	if flag == "" {
		return d.Run.ReviewRef(), nil
	}
	ref, err := store.ParseReviewRef(flag)
	if err != nil {
		return ref, usagef("--review: %v", err)
	}
	if cur := d.Run.ReviewRef(); cur != ref {
		return ref, &store.StaleReviewError{RunID: d.Run.ID, Decided: ref, Current: cur}
	}
	return ref, nil
}

func (a *app) approveCommand() *cobra.Command {
	var edit, as, review string
	cmd := &cobra.Command{
		Use:   "approve RUN_ID",
		Short: "Approve a run's proposed output, or an edit of it; the run resumes after the reviewed step",
		Args:  cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			var edited json.RawMessage
			if edit != "" {
				b, err := a.readFile(edit)
				if err != nil {
					return err
				}
				edited = b
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			d, err := pendingReview(ctx, h, args[0])
			if err != nil {
				return err
			}
			rv := d.Run.Review
			if edited != nil && rv.Proposed != nil && !a.json {
				fmt.Fprintln(a.stdout, "The edit changes the proposed output:")
				for _, l := range changes(rv.Proposed, edited, "the output") {
					fmt.Fprintf(a.stdout, "  %s\n", l)
				}
			}
			ref, err := reviewToDecide(d, review)
			if err != nil {
				return err
			}
			who := a.who(as)
			run, err := store.Approve(ctx, h, args[0], ref, who, edited)
			if err != nil {
				var ve *contract.ValidationError
				if errors.As(err, &ve) {
					return &exitError{code: exitFailed, detail: violations(ve),
						err: fmt.Errorf("the edited output breaks the contract of step %s; nothing was approved", rv.Step)}
				}
				return fmt.Errorf("approve refused: %w", err)
			}
			if a.json {
				return a.printJSON(run)
			}
			how := "as proposed"
			if edited != nil {
				how = "with your edit"
			}
			fmt.Fprintf(a.stdout, "Approved run %s at step %s %s, as %s; it is queued to resume after %s.\n", run.ID, rv.Step, how, who, rv.Step)
			return nil
		}),
	}
	cmd.Flags().StringVar(&edit, "edit", "", "a JSON file (- for stdin) with the output to approve instead of the proposal")
	cmd.Flags().StringVar(&as, "as", "", "the reviewer's name (default: $USER@hostname)")
	cmd.Flags().StringVar(&review, "review", "", reviewFlagHelp)
	return cmd
}

const reviewFlagHelp = "the review decided, as plumb runs show names it (ATTEMPT.INDEX); default: the run's current review. A review that is no longer the run's is refused (exit 5)"

func (a *app) rejectCommand() *cobra.Command {
	var reason, as, review string
	cmd := &cobra.Command{
		Use:   "reject RUN_ID --reason TEXT",
		Short: "Reject a run under review; it is dead-lettered with your reason",
		Args:  cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: the run's history keeps why it was rejected")
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			d, err := pendingReview(ctx, h, args[0])
			if err != nil {
				return err
			}
			ref, err := reviewToDecide(d, review)
			if err != nil {
				return err
			}
			who := a.who(as)
			run, err := store.Reject(ctx, h, args[0], ref, who, reason)
			if err != nil {
				return fmt.Errorf("reject refused: %w", err)
			}
			if a.json {
				return a.printJSON(run)
			}
			fmt.Fprintf(a.stdout, "Rejected run %s at step %s, as %s; it is dead-lettered (needs_review).\n", run.ID, d.Run.Review.Step, who)
			return nil
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required; kept in the run's history)")
	cmd.Flags().StringVar(&as, "as", "", "the reviewer's name (default: $USER@hostname)")
	cmd.Flags().StringVar(&review, "review", "", reviewFlagHelp)
	return cmd
}
