package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/store"
)

// pipelineStatus is one pipeline's line in status --json: the store's
// figures plus the ages a script would otherwise compute.
type pipelineStatus struct {
	store.PipelineStats
	Queued  int `json:"queued"`
	Running int `json:"running"`
	Waiting int `json:"waiting"`
	// Branches counts the runs above that are branch runs: the
	// sub-pipeline's runs its parents forked.
	Branches       int `json:"branches"`
	AwaitingReview int `json:"awaiting_review"`
	DeadLettered   int `json:"dead_lettered"`
	// Held counts the runs a worker of a changed definition could not go
	// on with (see plumb versions check).
	Held                int     `json:"held"`
	OldestReviewSeconds float64 `json:"oldest_review_age_seconds"`
	MeanRecoverySeconds float64 `json:"mean_recovery_seconds"`
}

type statusReport struct {
	At            time.Time        `json:"at"`
	WindowSeconds float64          `json:"window_seconds"`
	Pipelines     []pipelineStatus `json:"pipelines"`
}

func (a *app) statusCommand() *cobra.Command {
	var pipeline string
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per pipeline: queue depth, in flight, waiting, reviews, dead letters, held runs, branch runs, pause, failure rates, recovery time",
		Args:  cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			if window <= 0 {
				return usagef("--window must be positive")
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			rep, err := a.status(ctx, h, pipeline, window)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(rep)
			}
			a.printStatus(rep, window)
			return nil
		}),
	}
	cmd.Flags().StringVar(&pipeline, "pipeline", "", "only this pipeline")
	cmd.Flags().DurationVar(&window, "window", time.Hour, "the window of the per-step failure rates")
	return cmd
}

// status gathers the figures of every registered pipeline, so that one
// with nothing queued still shows (idle is worth knowing too).
func (a *app) status(ctx context.Context, h *handle, pipeline string, window time.Duration) (*statusReport, error) {
	stats, err := h.Stats(ctx, pipeline, window)
	if err != nil {
		return nil, err
	}
	defs, err := h.Pipelines(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	if pipeline != "" {
		if len(stats) == 0 {
			if err := knownPipeline(ctx, h, pipeline); err != nil {
				return nil, err
			}
			stats = append(stats, store.PipelineStats{Pipeline: pipeline})
		}
	} else {
		for _, d := range defs {
			names = append(names, d.Name)
		}
	}
	for _, name := range names {
		if !slices.ContainsFunc(stats, func(s store.PipelineStats) bool { return s.Pipeline == name }) {
			stats = append(stats, store.PipelineStats{Pipeline: name})
		}
	}
	slices.SortFunc(stats, func(x, y store.PipelineStats) int { return strings.Compare(x.Pipeline, y.Pipeline) })
	now := a.now()
	rep := &statusReport{At: now.UTC(), WindowSeconds: window.Seconds(), Pipelines: []pipelineStatus{}}
	for _, s := range stats {
		ps := pipelineStatus{PipelineStats: s, Queued: s.ByStatus[store.Queued], Running: s.ByStatus[store.Running],
			Waiting: s.ByStatus[store.Waiting], Branches: s.Branches,
			AwaitingReview: s.ByStatus[store.AwaitingReview], DeadLettered: s.ByStatus[store.DeadLettered],
			Held:                s.ByStatus[store.Held],
			MeanRecoverySeconds: s.MeanRecovery.Seconds()}
		if ps.ByStatus == nil {
			ps.ByStatus = map[store.Status]int{}
		}
		if ps.Steps == nil {
			ps.Steps = []store.StepStats{}
		}
		if i := slices.IndexFunc(defs, func(d store.PipelineDef) bool { return d.Name == s.Pipeline }); i >= 0 {
			sortSteps(ps.Steps, &defs[i])
		}
		if !s.OldestReview.IsZero() {
			ps.OldestReviewSeconds = now.Sub(s.OldestReview).Seconds()
		}
		rep.Pipelines = append(rep.Pipelines, ps)
	}
	return rep, nil
}

func (a *app) printStatus(rep *statusReport, window time.Duration) {
	w := a.stdout
	if len(rep.Pipelines) == 0 {
		fmt.Fprintln(w, "No pipelines in this store yet: none has registered or run.")
		return
	}
	fmt.Fprintf(w, "Status at %s; failure rates over the last %s\n", fmtTime(rep.At), fmtDur(window))
	for _, p := range rep.Pipelines {
		fmt.Fprintf(w, "\n%s", p.Pipeline)
		if pz := p.Paused; pz != nil {
			fmt.Fprintf(w, "  PAUSED by %s since %s (%s): %s", pz.By, fmtTime(pz.Since), fmtDur(rep.At.Sub(pz.Since).Truncate(time.Second)), oneLine(pz.Reason, 160))
			if !pz.ProbeAfter.IsZero() {
				fmt.Fprintf(w, "; a probe run goes through after %s", fmtTime(pz.ProbeAfter))
			}
		}
		fmt.Fprintln(w)
		deferred := fmt.Sprintf("%d deferred", p.Deferred)
		if p.AwaitingEvent > 0 {
			deferred += fmt.Sprintf(", %d of them awaiting an event", p.AwaitingEvent)
		}
		fmt.Fprintf(w, "  queue      %d queued (%s), %d running, %d waiting\n", p.Queued, deferred, p.Running, p.Waiting)
		fmt.Fprintf(w, "  review     %d awaiting review", p.AwaitingReview)
		if !p.OldestReview.IsZero() {
			fmt.Fprintf(w, ", the oldest for %s", fmtDur(time.Duration(p.OldestReviewSeconds*float64(time.Second)).Truncate(time.Second)))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  dead       %d dead-lettered\n", p.DeadLettered)
		if p.Held > 0 {
			// Only when there are any: most stores never hold a run.
			them := "them"
			if p.Held == 1 {
				them = "it"
			}
			fmt.Fprintf(w, "  held       %s: a worker of a changed definition could not go on with %s\n", plural(p.Held, "run", "runs"), them)
			fmt.Fprintf(w, "             why: %s versions check --pipeline %s; then replay with a patch, or cancel\n", a.target.prefix(), shellQuote(p.Pipeline))
			fmt.Fprintf(w, "             list: %s runs list --pipeline %s --status held\n", a.target.prefix(), shellQuote(p.Pipeline))
		}
		fmt.Fprintf(w, "  succeeded  %d (cancelled %d)\n", p.ByStatus[store.Succeeded], p.ByStatus[store.Cancelled])
		if p.Branches > 0 {
			fmt.Fprintf(w, "  branches   %d of these runs are branch runs (see them: %s runs list --pipeline %s)\n",
				p.Branches, a.target.prefix(), shellQuote(p.Pipeline))
		}
		if p.Recoveries > 0 {
			fmt.Fprintf(w, "  recovered  %s, mean %s from dead letter to success\n", plural(p.Recoveries, "run", "runs"), fmtDur(p.MeanRecovery.Truncate(time.Second)))
		} else {
			fmt.Fprintln(w, "  recovered  none yet")
		}
		if len(p.Steps) == 0 {
			fmt.Fprintf(w, "  steps      no step finished in the last %s\n", fmtDur(window))
			continue
		}
		width := len("STEP")
		for _, s := range p.Steps {
			width = max(width, len(s.Step))
		}
		fmt.Fprintf(w, "  steps over the last %s\n", fmtDur(window))
		fmt.Fprintf(w, "    %-*s  %9s  %6s  %12s\n", width, "STEP", "SUCCEEDED", "FAILED", "FAILURE RATE")
		for _, s := range p.Steps {
			fmt.Fprintf(w, "    %-*s  %9d  %6d  %11.1f%%\n", width, s.Step, s.Succeeded, s.Failed, 100*s.Rate)
		}
	}
}

// sortSteps puts steps in the pipeline's order, the order a run takes;
// steps the definition no longer has go last.
func sortSteps(steps []store.StepStats, def *store.PipelineDef) {
	pos := func(name string) int {
		if i := def.Index(name); i >= 0 {
			return i
		}
		return len(def.Steps)
	}
	slices.SortStableFunc(steps, func(x, y store.StepStats) int { return pos(x.Step) - pos(y.Step) })
}
