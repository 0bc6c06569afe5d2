package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/internal/crontab"
	"github.com/plumb-dev/plumb/store"
)

// overdueAfter is how long past its tick a schedule may stay unadvanced
// before the list calls it overdue: workers wake at the tick, so minutes
// mean that none is firing it.
const overdueAfter = 5 * time.Minute

// scheduleView is one schedule as plumb schedules shows it.
type scheduleView struct {
	store.Schedule
	// NextTicks are the tick due and those after it.
	NextTicks []tickView `json:"next_ticks"`
	// LastRunStatus is the status of LastRun; "pruned" once retention
	// deleted it.
	LastRunStatus string `json:"last_run_status,omitempty"`
	// Overdue says the tick due passed more than five minutes ago: no
	// worker that declares the schedule is firing it.
	Overdue bool `json:"overdue"`
	// Problem says why the spec could not be read here (a zone this host
	// lacks): only the tick due is shown.
	Problem string `json:"problem,omitempty"`
}

type tickView struct {
	Local string `json:"local"` // RFC 3339 in the schedule's zone
	UTC   string `json:"utc"`
}

func (a *app) schedulesCommand() *cobra.Command {
	var pipelineName string
	var ticks int
	list := func(ctx context.Context, _ []string) error {
		if ticks < 1 {
			return usagef("--ticks %d: want 1 or more", ticks)
		}
		h, err := a.open(ctx)
		if err != nil {
			return err
		}
		defer h.Close()
		if pipelineName != "" {
			if err := knownPipeline(ctx, h, pipelineName); err != nil {
				return err
			}
		}
		all, err := h.Schedules(ctx, pipelineName)
		if err != nil {
			return err
		}
		now := a.now()
		views := make([]scheduleView, 0, len(all))
		for _, s := range all {
			v, err := viewSchedule(ctx, h, s, now, ticks)
			if err != nil {
				return err
			}
			views = append(views, v)
		}
		if a.json {
			return a.printJSON(views)
		}
		a.printSchedules(views, now)
		return nil
	}
	long := `Schedules lists the cron schedules in the store (pipeline.Schedule declares
them; every worker of their pipelines fires them, each tick once): each
one's pipeline, spec, time zone and missed-tick policy, its next ticks (in
its zone and in UTC), its last tick and run with the run's status, and how
many ticks it skipped. A schedule whose tick due passed more than five
minutes ago is OVERDUE: no worker that declares it is up (or a deploy no
longer declares it: delete it with plumb schedules delete).`
	cmd := &cobra.Command{
		Use:   "schedules",
		Short: "List cron schedules: next ticks, last runs, skipped ticks (delete one with schedules delete)",
		Long:  long,
		Args:  cobra.NoArgs,
		RunE:  action(list),
	}
	lc := &cobra.Command{Use: "list", Short: "List cron schedules (the same as plumb schedules)", Long: long, Args: cobra.NoArgs, RunE: action(list)}
	for _, c := range []*cobra.Command{cmd, lc} {
		c.Flags().StringVar(&pipelineName, "pipeline", "", "only this pipeline's schedules")
		c.Flags().IntVar(&ticks, "ticks", 3, "how many next ticks to show")
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Remove a schedule that no deployment declares any more",
		Long: `Delete removes a schedule from the store: its ticks stop. Workers never
remove a schedule they do not declare (during a rolling deploy, or with
workers of other pipelines on the store, no worker sees every
declaration), so a schedule dropped from the code stays, overdue, until
this command removes it. A worker that still declares it puts it back
when it starts: remove it from the code first. Its runs are kept.`,
		Args: cobra.ExactArgs(1),
		RunE: action(func(ctx context.Context, args []string) error {
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			var prev *store.Schedule
			all, err := h.Schedules(ctx, "")
			if err != nil {
				return err
			}
			var names []string
			for _, s := range all {
				if s.Name == args[0] {
					prev = &s
				}
				names = append(names, s.Name)
			}
			if prev == nil {
				known := "none"
				if len(names) > 0 {
					known = strings.Join(names, ", ")
				}
				return fmt.Errorf("no schedule %q in %s; the schedules there: %s: %w", args[0], h.where, known, store.ErrNotFound)
			}
			was, err := h.DeleteSchedule(ctx, args[0])
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(struct {
					Deleted  bool            `json:"deleted"`
					Schedule *store.Schedule `json:"schedule"`
				}{was, prev})
			}
			fmt.Fprintf(a.stdout, "Deleted schedule %s (pipeline %s, %q in %s): its ticks stop; its runs are kept.\n"+
				"A worker that still declares it puts it back when it starts: remove it from the code first.\n",
				prev.Name, prev.Pipeline, prev.Spec, prev.TimeZone)
			return nil
		}),
	}
	cmd.AddCommand(lc, del)
	return cmd
}

// viewSchedule computes what the list shows of s: the CLI reads the spec
// with the parser the workers use.
func viewSchedule(ctx context.Context, h *handle, s store.Schedule, now time.Time, n int) (scheduleView, error) {
	v := scheduleView{Schedule: s, Overdue: now.Sub(s.Next) > overdueAfter}
	loc := time.UTC
	next := []time.Time{s.Next}
	if tab, err := crontab.Parse(s.Spec, s.TimeZone); err != nil {
		v.Problem = err.Error()
	} else {
		loc = tab.Location()
		next = append(next, tab.Ticks(s.Next, n-1)...)
	}
	for _, t := range next[:min(n, len(next))] {
		v.NextTicks = append(v.NextTicks, tickView{Local: t.In(loc).Format(time.RFC3339), UTC: store.ScheduleTick(t)})
	}
	if s.LastRun != "" {
		d, err := h.GetRun(ctx, s.LastRun)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.LastRunStatus = "pruned"
		case err != nil:
			return v, err
		default:
			v.LastRunStatus = string(d.Run.Status)
		}
	}
	return v, nil
}

func (a *app) printSchedules(views []scheduleView, now time.Time) {
	if len(views) == 0 {
		fmt.Fprintln(a.stdout, "No schedules. pipeline.Schedule declares one; a worker of its pipeline puts it in the store when it starts.")
		return
	}
	for i, v := range views {
		if i > 0 {
			fmt.Fprintln(a.stdout)
		}
		fmt.Fprintf(a.stdout, "%s  (pipeline %s)\n", v.Name, v.Pipeline)
		fmt.Fprintf(a.stdout, "  spec     %s in %s, missed ticks: %s\n", v.Spec, v.TimeZone, v.Missed)
		if v.Overdue {
			fmt.Fprintf(a.stdout, "  OVERDUE  its tick of %s passed %s: no worker that declares it is firing it (none up, or no deploy declares it: %s schedules delete %s)\n",
				fmtTime(v.Next), ago(now, v.Next), a.target.prefix(), shellQuote(v.Name))
		}
		if v.Problem != "" {
			fmt.Fprintf(a.stdout, "  note     the spec cannot be read here (%s): only the tick due is shown\n", v.Problem)
		}
		for j, t := range v.NextTicks {
			label := "next    "
			if j > 0 {
				label = "        "
			}
			local, _ := time.Parse(time.RFC3339, t.Local)
			utc, _ := time.Parse(time.RFC3339, t.UTC)
			if loc, err := time.LoadLocation(v.TimeZone); err == nil {
				local = local.In(loc)
			}
			fmt.Fprintf(a.stdout, "  %s %s  = %s\n", label, local.Format("Mon 2006-01-02 15:04 MST"), fmtTime(utc))
		}
		if v.LastRun == "" {
			fmt.Fprintf(a.stdout, "  last     no tick has run yet\n")
		} else {
			fmt.Fprintf(a.stdout, "  last     tick %s: run %s, %s\n", fmtTime(v.LastTick), v.LastRun, v.LastRunStatus)
		}
		if v.Skipped > 0 {
			fmt.Fprintf(a.stdout, "  skipped  %d missed ticks not run (policy %s)\n", v.Skipped, v.Missed)
		}
	}
}
