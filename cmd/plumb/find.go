package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

// foundRun is a run runs find found, with how it matched and the command
// that acts on it.
type foundRun struct {
	store.Run
	// Matched says which ids matched: "external_id", "idempotency_key".
	Matched []string `json:"matched"`
	Next    string   `json:"next"`
}

type foundRuns struct {
	ID   string     `json:"id"`
	Runs []foundRun `json:"runs"`
	// More counts matching runs past --limit, for each way of matching.
	More int `json:"more,omitempty"`
}

func (a *app) runsFindCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "find ID",
		Short: "Find the runs of a customer's item by its id: the trigger's external id or the idempotency key",
		Long: `Find looks an id up as the external id of the runs' triggers (the item's id
in its source system: the lead id a customer quotes) and as the
idempotency key the runs were submitted with, at once, and lists the
runs either matches, newest first, each with where it stands and the
command to look at it or act on it (exit code 4 when none matches). The same lookups, one at a time and
with the other filters, are plumb runs list --external-id ID and
--key KEY.`,
		Example: `  plumb runs find lead-0197
  plumb runs find 20261202T061344.249/lead-0197 --json`,
		Args: cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			if limit <= 0 {
				return usagef("--limit must be positive")
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			found, err := a.find(ctx, h, args[0], limit)
			if err != nil {
				return err
			}
			if len(found.Runs) == 0 {
				return &exitError{code: exitNotFound, err: fmt.Errorf("no run in %s has the external id or the idempotency key %s; %s runs list shows the newest runs",
					h.where, oneLine(args[0], 200), a.target.prefix())}
			}
			if a.json {
				return a.printJSON(found)
			}
			a.printFound(found)
			return nil
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many runs for each way of matching")
	return cmd
}

func (a *app) find(ctx context.Context, h *handle, id string, limit int) (foundRuns, error) {
	out := foundRuns{ID: id, Runs: []foundRun{}}
	at := map[string]int{}
	for _, by := range []struct {
		name string
		f    store.RunFilter
	}{
		{"external_id", store.RunFilter{ExternalID: id, Limit: limit}},
		{"idempotency_key", store.RunFilter{IdempotencyKey: id, Limit: limit}},
	} {
		page, err := h.ListRuns(ctx, by.f)
		if err != nil {
			return out, err
		}
		out.More += page.More
		for _, r := range page.Runs {
			if i, ok := at[r.ID]; ok {
				out.Runs[i].Matched = append(out.Runs[i].Matched, by.name)
				continue
			}
			at[r.ID] = len(out.Runs)
			out.Runs = append(out.Runs, foundRun{Run: r, Matched: []string{by.name}, Next: a.nextFor(&r)})
		}
	}
	// Run ids are time-ordered: newest first, as every listing is.
	slices.SortStableFunc(out.Runs, func(x, y foundRun) int { return cmp.Compare(y.ID, x.ID) })
	return out, nil
}

// nextFor is the command that looks at a run where it stands: a dead
// letter with what to do next, a review to decide, a live run to follow.
func (a *app) nextFor(r *store.Run) string {
	p, id := a.target.prefix(), shellQuote(r.ID)
	switch r.Status {
	case store.DeadLettered:
		return p + " deadletters show " + id
	case store.AwaitingReview:
		return p + " review show " + id
	}
	return p + " runs show " + id
}

// shownFound bounds the next commands printed; --json lists every one.
const shownFound = 5

func (a *app) printFound(f foundRuns) {
	w := a.stdout
	fmt.Fprintf(w, "%s with the external id or idempotency key %s, newest first:\n", plural(len(f.Runs), "run", "runs"), oneLine(f.ID, 200))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tSTATUS\tSOURCE\tMATCHED\tUPDATED (UTC)\tERROR")
	for _, r := range f.Runs {
		matched := "external id"
		switch {
		case len(r.Matched) == 2:
			matched = "both"
		case r.Matched[0] == "idempotency_key":
			matched = "key"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, oneLine(r.Pipeline, 40), r.Status, orDash(oneLine(r.Trigger.Source, 30)),
			matched, strings.TrimSuffix(fmtTime(r.UpdatedAt), " UTC"), oneLine(shortError(errorColumn(&r.Run)), 60))
	}
	_ = tw.Flush()
	if f.More > 0 {
		fmt.Fprintf(w, "(%d more past --limit; a larger --limit shows them)\n", f.More)
	}
	fmt.Fprintln(w, "\nNext")
	for i, r := range f.Runs {
		if i == shownFound {
			fmt.Fprintf(w, "  … and %d more: %s runs list --external-id %s\n", len(f.Runs)-i, a.target.prefix(), shellQuote(f.ID))
			break
		}
		fmt.Fprintf(w, "  %s  # %s\n", r.Next, oneLine(runState(&r.Run), 100))
	}
}
