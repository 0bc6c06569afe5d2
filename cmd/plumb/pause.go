package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

func (a *app) pauseCommand() *cobra.Command {
	var reason, as string
	cmd := &cobra.Command{
		Use:   "pause PIPELINE",
		Short: "Shut a pipeline's intake: workers claim no new runs of it until resume",
		Long: `Pause shuts a pipeline's intake: workers claim no new runs of it until plumb
resume. Runs in flight finish; new submissions wait in the queue. An
operator's pause replaces a pause the breaker set, and has no probe: it
holds until someone resumes.`,
		Args: cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			name := args[0]
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			if err := knownPipeline(ctx, h, name); err != nil {
				return err
			}
			prev, err := h.GetPause(ctx, name)
			if err != nil {
				return err
			}
			if reason == "" {
				reason = "paused by an operator"
			}
			if err := h.SetPause(ctx, store.Pause{Pipeline: name, Reason: reason, By: a.who(as)}); err != nil {
				return err
			}
			p, err := h.GetPause(ctx, name)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(p)
			}
			if prev != nil {
				fmt.Fprintf(a.stdout, "%s was already paused by %s since %s (%s); the pause is now yours.\n", name, prev.By, fmtTime(prev.Since), prev.Reason)
			}
			fmt.Fprintf(a.stdout, "Paused %s: workers claim no new runs of it until `%s resume %s`. Runs in flight finish.\n", name, a.target.prefix(), name)
			return nil
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for whoever looks next (plumb status shows it)")
	cmd.Flags().StringVar(&as, "as", "", "who pauses (default: $USER@hostname)")
	return cmd
}

func (a *app) resumeCommand() *cobra.Command {
	var reason, as string
	cmd := &cobra.Command{
		Use:   "resume PIPELINE",
		Short: "Open a paused pipeline's intake again",
		Long: `Resume opens a paused pipeline's intake again: workers claim its runs at
once. Who resumed and why are kept in the pipeline's log with its pauses
(the console's overview shows it).`,
		Args: cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			name := args[0]
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			prev, err := h.GetPause(ctx, name)
			if err != nil {
				return err
			}
			if reason == "" {
				reason = "resumed by an operator"
			}
			was, err := h.ClearPause(ctx, store.Resume{Pipeline: name, By: a.who(as), Reason: reason})
			if err != nil {
				return err
			}
			if !was {
				if err := knownPipeline(ctx, h, name); err != nil {
					return err
				}
			}
			if a.json {
				return a.printJSON(struct {
					Pipeline  string       `json:"pipeline"`
					WasPaused bool         `json:"was_paused"`
					Pause     *store.Pause `json:"pause,omitempty"`
				}{name, was, prev})
			}
			if !was {
				fmt.Fprintf(a.stdout, "%s was not paused.\n", name)
				return nil
			}
			since := ""
			if prev != nil {
				since = fmt.Sprintf(" (paused by %s for %s: %s)", prev.By, fmtDur(a.now().Sub(prev.Since).Truncate(1e9)), prev.Reason)
			}
			fmt.Fprintf(a.stdout, "Resumed %s%s: workers claim its runs again.\n", name, since)
			return nil
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for whoever looks next (kept in the pipeline's log)")
	cmd.Flags().StringVar(&as, "as", "", "who resumes (default: $USER@hostname)")
	return cmd
}

// knownPipeline refuses a pipeline the store has no definition of, listing
// the ones it has: a typo must not pause nothing and report success.
func knownPipeline(ctx context.Context, h *handle, name string) error {
	_, err := h.Pipeline(ctx, name)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	defs, err := h.Pipelines(ctx)
	if err != nil {
		return err
	}
	known := "none yet"
	if len(defs) > 0 {
		known = ""
		for i, d := range defs {
			if i > 0 {
				known += ", "
			}
			known += d.Name
		}
	}
	return &exitError{code: exitNotFound, err: fmt.Errorf("no pipeline %q in %s; the pipelines there: %s", name, h.where, known)}
}
