package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// batchResult is replay --filter's JSON output.
type batchResult struct {
	DryRun   bool              `json:"dry_run"`
	Matched  []string          `json:"matched"`
	Replayed []string          `json:"replayed"`
	Failed   map[string]string `json:"failed"`
}

// replayMatching replays every dead-lettered run the filter matches, each
// from its own failed step. It lists them first and asks (or needs --yes),
// since a batch replay may send hundreds of runs back through paid models.
func (a *app) replayMatching(ctx context.Context, o *replayFlags) error {
	rf, err := o.f.build(a.now())
	if err != nil {
		return err
	}
	for _, st := range rf.Status {
		if st != store.DeadLettered && st != store.Held && st != store.Cancelled {
			return usagef("--status %s: only dead_lettered, held or cancelled runs are replayed", st)
		}
	}
	one, many := "dead-lettered run", "dead-lettered runs"
	if len(rf.Status) > 0 {
		one, many = strings.ReplaceAll(statusList(rf.Status), "_", "-")+" run", strings.ReplaceAll(statusList(rf.Status), "_", "-")+" runs"
	}
	h, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := knownRun(ctx, h, rf.Parent); err != nil {
		return err
	}
	listed, err := store.ReplayMatching(ctx, h, rf, o.from, true, nil)
	if err != nil {
		return err
	}
	res := batchResult{DryRun: o.dry, Matched: []string{}, Replayed: []string{}, Failed: map[string]string{}}
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
		fmt.Fprintf(info, "No %s match.\n", many)
		return nil
	}
	printMatched(info, listed.Matched, listed.More, rf.Limit, one, many)
	if n, parents := branchesOf(listed.Matched); n > 0 {
		fmt.Fprintf(info, "%s of %s; a parent's failed join resumes once its replayed branches succeed.\n",
			plural(n, "of them is a branch run", "of them are branch runs"), plural(parents, "parent", "parents"))
	}
	if o.dry {
		if a.json {
			return a.printJSON(res)
		}
		fmt.Fprintln(info, "Dry run: nothing was replayed. Replay them with --yes instead of --dry-run.")
		return nil
	}
	if !o.yes {
		ok, err := a.confirm(fmt.Sprintf("Replay these %d runs? [y/N] ", len(listed.Matched)), "replay", "Nothing was replayed.")
		if err != nil || !ok {
			return err
		}
	}
	// Replay what was listed, not what dead-lettered since: bound the
	// filter by the newest listed run's last update (the store's clock,
	// so clock skew between machines cannot shift the bound).
	newest := listed.Matched[0].UpdatedAt
	for _, r := range listed.Matched {
		if r.UpdatedAt.After(newest) {
			newest = r.UpdatedAt
		}
	}
	if rf.Until.IsZero() || rf.Until.After(newest) {
		rf.Until = newest.Add(time.Nanosecond)
	}
	start := time.Now()
	done, err := store.ReplayMatching(ctx, h, rf, o.from, false, func(n, total int, id string, err error) {
		if err != nil {
			fmt.Fprintf(a.stderr, "[%*d/%d] refused  %s: %v\n", len(fmt.Sprint(total)), n, total, id, err)
			return
		}
		fmt.Fprintf(a.stderr, "[%*d/%d] replayed %s\n", len(fmt.Sprint(total)), n, total, id)
	})
	if done != nil {
		res.Replayed = append(res.Replayed, done.Replayed...)
		for id, e := range done.Failed {
			res.Failed[id] = e.Error()
		}
	}
	if err != nil {
		return fmt.Errorf("batch replay stopped after %d runs: %w", len(res.Replayed)+len(res.Failed), err)
	}
	if a.json {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		a.batchSummary(res, time.Since(start), pipelinesOf(listed.Matched))
	}
	if len(res.Failed) > 0 {
		return failf("%s of %d could not be replayed", plural(len(res.Failed), "run", "runs"), len(res.Failed)+len(res.Replayed))
	}
	return nil
}

func (a *app) batchSummary(res batchResult, took time.Duration, pipelines []string) {
	w := a.stdout
	fmt.Fprintf(w, "Replayed %d of %d runs in %s", len(res.Replayed), len(res.Replayed)+len(res.Failed), fmtDur(took))
	if n := len(res.Failed); n > 0 {
		fmt.Fprintf(w, "; %d refused:\n", n)
		ids := make([]string, 0, n)
		for id := range res.Failed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			fmt.Fprintf(w, "  %s  %s\n", id, oneLine(res.Failed[id], 200))
		}
	} else {
		fmt.Fprintln(w, ".")
	}
	if len(res.Replayed) > 0 {
		fmt.Fprintf(w, "The workers of %s carry them out; watch with:\n  %s status\n  %s deadletters list\n",
			strings.Join(pipelines, ", "), a.target.prefix(), a.target.prefix())
	}
}

func pipelinesOf(runs []store.Run) []string {
	var out []string
	for _, r := range runs {
		if !slices.Contains(out, r.Pipeline) {
			out = append(out, r.Pipeline)
		}
	}
	slices.Sort(out)
	return out
}

// confirm asks a yes/no question on a terminal. Without one (a script, a
// pipe) it refuses: a batch is never started by accident. verb names the
// batch in the refusal, declined is said when the answer is no.
func (a *app) confirm(question, verb, declined string) (bool, error) {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return false, usagef("not asking without a terminal: add --yes to %s, or --dry-run to only list", verb)
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false, usagef("not asking without a terminal: add --yes to %s, or --dry-run to only list", verb)
	}
	fmt.Fprint(a.stderr, question)
	line, _ := bufio.NewReader(f).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans == "y" || ans == "yes" {
		return true, nil
	}
	fmt.Fprintln(a.stderr, declined)
	return false, nil
}

// statusList names statuses for a sentence: "dead_lettered or held".
func statusList(sts []store.Status) string {
	names := make([]string, len(sts))
	for i, st := range sts {
		names[i] = string(st)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// branchesOf counts the branch runs among runs, and their parents.
func branchesOf(runs []store.Run) (branches, parents int) {
	seen := map[string]bool{}
	for _, r := range runs {
		if r.Parent != nil {
			branches++
			seen[r.Parent.RunID] = true
		}
	}
	return branches, len(seen)
}

// printMatched prints the runs a batch command's filter matched, and how
// many its limit left out.
func printMatched(w io.Writer, runs []store.Run, more, limit int, one, many string) {
	fmt.Fprintf(w, "%s match:\n", plural(len(runs), one, many))
	runTable(w, runs)
	if more > 0 {
		fmt.Fprintf(w, "(the listing stopped at --limit %d: %d more match; run again for the rest)\n", limit, more)
	}
}
