package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

func (a *app) deadLettersCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deadletters",
		Aliases: []string{"dl", "dead-letters"},
		Short:   "List dead-lettered runs grouped by how they failed, and show one with what to do next",
	}
	return group(cmd, a.deadLettersListCommand(), a.deadLettersShowCommand())
}

// letterGroup is the dead-lettered runs of one pipeline that failed at one
// step with one class: usually one cause (the 40 posts one bad field
// poisoned), fixed and replayed together.
type letterGroup struct {
	Pipeline string      `json:"pipeline"`
	Step     string      `json:"step"`
	Class    retry.Class `json:"class"`
	// Unclassified says the group's runs gave up on an error nobody
	// classified: Class (permanent) is what the pipeline made of it.
	Unclassified bool `json:"unclassified,omitempty"`
	Count        int  `json:"count"`
	// SampleError is the newest run's error; Errors counts the different
	// messages in the group.
	SampleError string    `json:"sample_error"`
	Errors      int       `json:"distinct_errors"`
	Newest      time.Time `json:"newest"`
	Oldest      time.Time `json:"oldest"`
	// RunIDs lists the group's runs, newest first.
	RunIDs []string `json:"run_ids"`
	// Branches counts the group's branch runs; ParentIDs lists their
	// parents, in the order their newest branch failed.
	Branches  int      `json:"branches"`
	ParentIDs []string `json:"parent_ids"`
	// JoinsFailed lists the group's runs that are parents of dead-lettered
	// branches the listing holds, and FailedBranches counts those
	// branches: what to replay instead of these runs.
	JoinsFailed    []string `json:"joins_failed,omitempty"`
	FailedBranches int      `json:"failed_branches,omitempty"`
}

type letterList struct {
	// Total counts the dead-lettered runs the filter matches, every one
	// of them in a group's count.
	Total int `json:"total"`
	// Truncated says a group lists fewer run ids than it counts: each
	// lists its newest --limit; More counts the runs no group lists.
	// MoreCapped is never set (the counts are whole); it stays for the
	// readers of earlier listings.
	Truncated  bool          `json:"truncated"`
	More       int           `json:"more,omitempty"`
	MoreCapped bool          `json:"more_capped,omitempty"`
	Groups     []letterGroup `json:"groups"`
}

// lettersOf is the listing of the groups the store counted
// (store.Ops.DeadLetterGroups, largest group first). A group's JoinsFailed
// are its listed runs that are parents of branches some group lists.
func lettersOf(groups []store.DeadLetterGroup) letterList {
	l := letterList{Groups: make([]letterGroup, 0, len(groups))}
	failedKids := map[string]int{}
	for _, g := range groups {
		for _, p := range g.Parents {
			failedKids[p.RunID] += p.Branches
		}
	}
	for _, g := range groups {
		lg := letterGroup{Pipeline: g.Pipeline, Step: g.Step, Class: g.Class, Unclassified: g.Unclassified, Count: g.Count, SampleError: g.SampleError,
			Errors: g.Errors, Newest: g.Newest, Oldest: g.Oldest, RunIDs: g.RunIDs, Branches: g.Branches, ParentIDs: []string{}}
		for _, p := range g.Parents {
			lg.ParentIDs = append(lg.ParentIDs, p.RunID)
		}
		for _, id := range g.RunIDs {
			if n := failedKids[id]; n > 0 {
				lg.FailedBranches += n
				lg.JoinsFailed = append(lg.JoinsFailed, id)
			}
		}
		l.Total += g.Count
		if len(g.RunIDs) < g.Count {
			l.Truncated = true
			l.More += g.Count - len(g.RunIDs)
		}
		l.Groups = append(l.Groups, lg)
	}
	return l
}

func (a *app) deadLettersListCommand() *cobra.Command {
	var f filterFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead-lettered runs grouped by pipeline, step and error class",
		Long: `List dead-lettered runs grouped by pipeline, step and error class: runs that
failed the same way usually share one cause, and are fixed and replayed
together (plumb replay --filter). The store counts the groups, so every
count is whole however many runs failed; each group lists its newest
--limit runs by id. Failed branch runs group like any run, and a group says
how many of its runs are branches and of which (listed) parents: a branch
replayed and succeeding resumes its parent's join. --parent lists one run's
failed branches.`,
		Example: `  plumb deadletters list --since 2h
  plumb deadletters list --parent 01M8ET3R4F3TBMMCRGER9CKRT8`,
		Args: cobra.NoArgs,
		RunE: action(func(ctx context.Context, _ []string) error {
			rf, err := f.build(a.now())
			if err != nil {
				return err
			}
			h, err := a.open(ctx)
			if err != nil {
				return err
			}
			defer h.Close()
			if err := knownRun(ctx, h, rf.Parent); err != nil {
				return err
			}
			groups, err := h.DeadLetterGroups(ctx, rf)
			if err != nil {
				return err
			}
			l := lettersOf(groups)
			if a.json {
				return a.printJSON(l)
			}
			a.printLetters(l)
			return nil
		}),
	}
	f.register(cmd.Flags(), false, false, 10000)
	cmd.Flags().Lookup("limit").Usage = "at most this many run ids listed per group, its newest (the counts are whole)"
	return cmd
}

func (a *app) printLetters(l letterList) {
	w := a.stdout
	if l.Total == 0 {
		fmt.Fprintln(w, "No dead-lettered runs match.")
		return
	}
	more := ""
	if l.Truncated {
		more = fmt.Sprintf(" (the groups list their newest --limit runs: %s unlisted; a larger --limit lists them)", moreCount(l.More, l.MoreCapped))
	}
	fmt.Fprintf(w, "%s in %s%s\n", plural(l.Total, "dead-lettered run", "dead-lettered runs"), plural(len(l.Groups), "group", "groups"), more)
	p := a.target.prefix()
	for _, g := range l.Groups {
		class := className(g.Class)
		if g.Unclassified {
			class = "unclassified (dead-lettered as " + class + ")"
		}
		fmt.Fprintf(w, "\n%s · step %s · %s: %s", g.Pipeline, orDash(g.Step), class, plural(g.Count, "run", "runs"))
		if g.Count > 1 {
			fmt.Fprintf(w, ", %s to %s\n", fmtTime(g.Oldest), fmtTime(g.Newest))
		} else {
			fmt.Fprintf(w, ", %s\n", fmtTime(g.Newest))
		}
		fmt.Fprintf(w, "  error  %s\n", oneLine(shortError(g.SampleError), 160))
		if g.Errors > 1 {
			fmt.Fprintf(w, "         (the newest of %d different messages)\n", g.Errors)
		}
		ids := g.RunIDs
		rest := ""
		if len(ids) > 6 {
			ids = ids[:6]
		}
		if n := g.Count - len(ids); n > 0 {
			rest = fmt.Sprintf(" and %d more (--json lists every id)", n)
			if len(g.RunIDs) < g.Count {
				rest = fmt.Sprintf(" and %d more (--json lists the newest %d)", n, len(g.RunIDs))
			}
		}
		fmt.Fprintf(w, "  runs   %s%s\n", strings.Join(ids, " "), rest)
		if g.Branches > 0 {
			parents := g.ParentIDs
			rest := ""
			if len(parents) > 6 {
				parents, rest = parents[:6], fmt.Sprintf(" and %d more", len(g.ParentIDs)-6)
			}
			all := "are branches"
			switch {
			case g.Branches == 1 && g.Count == 1:
				all = "is a branch"
			case g.Branches == g.Count:
				all = "are all branches"
			case g.Branches == 1:
				all = "is a branch"
			}
			of := fmt.Sprintf("%d of these", g.Branches)
			if g.Branches == g.Count {
				of = pick2(g.Count, "it", "they")
			}
			fmt.Fprintf(w, "  tree   %s %s of %s: %s%s; each parent's join resumes once its failed branches succeed\n",
				of, all, plural(len(g.ParentIDs), "parent", "parents"), strings.Join(parents, " "), rest)
		}
		fmt.Fprintf(w, "  look   %s deadletters show %s\n", p, g.RunIDs[0])
		if len(g.JoinsFailed) > 0 {
			// Replaying such a parent forks again and finds the same failed
			// branches: the branches are what to replay.
			who := fmt.Sprintf("%d of these runs", len(g.JoinsFailed))
			if len(g.JoinsFailed) == g.Count {
				who = pick2(g.Count, "this run", "these runs")
			}
			fmt.Fprintf(w, "  fix    %s failed %s on %s listed here: replay the branches, not the parents;\n"+
				"         each parent's join resumes once they succeed. %s replay --filter --parent %s --dry-run",
				who, pick2(len(g.JoinsFailed), "its join", "their joins"),
				plural(g.FailedBranches, "dead-lettered branch", "dead-lettered branches"), p, shellQuote(g.JoinsFailed[0]))
			if len(g.JoinsFailed) > 1 {
				w.Write([]byte(" (one command per parent)"))
			}
			fmt.Fprintln(w)
			if len(g.JoinsFailed) == g.Count {
				continue
			}
		}
		fmt.Fprintf(w, "  fix    %s replay --filter%s --dry-run\n", p, groupFilter(g.Pipeline, g.Step, g.Class))
	}
}

// groupFilter is the replay --filter flags that select a group.
func groupFilter(pipeline, step string, class retry.Class) string {
	s := " --pipeline " + shellQuote(pipeline)
	if step != "" {
		s += " --step " + shellQuote(step)
	}
	if class != 0 {
		s += " --class " + class.String()
	}
	return s
}

func className(c retry.Class) string {
	if c == 0 {
		return "no class"
	}
	return c.String()
}

func (a *app) deadLettersShowCommand() *cobra.Command {
	return a.showCommand("Show a dead-lettered run's timeline and what to do next",
		func(ctx context.Context, h *handle, d *store.RunDetail, t *tree) (any, string, error) {
			next, err := a.nextSteps(ctx, h, d, t)
			if err != nil {
				return nil, "", err
			}
			return struct {
				*store.RunDetail
				Next []string `json:"next"`
			}{d, next.commands}, next.text, nil
		})
}

type advice struct {
	text     string
	commands []string
}

// nextSteps says what an operator can do about a dead-lettered run: what
// its class means, and the commands that replay it.
func (a *app) nextSteps(ctx context.Context, h *handle, d *store.RunDetail, t *tree) (advice, error) {
	r := &d.Run
	var w strings.Builder
	w.WriteString("\nWhat to do next\n")
	if r.Status == store.Held {
		p := a.target.prefix()
		fmt.Fprintf(&w, "  Run %s is held: its records break the definition of the worker that picked it up (the error above says how).\n", r.ID)
		fmt.Fprintf(&w, "  Replay it with a patch that meets the new contract:\n    %s replay %s --from %s --set /PATH=VALUE\n", p, shellQuote(r.ID), shellQuote(orDash(r.Step)))
		fmt.Fprintf(&w, "  or, once a definition that accepts it runs again, as it is:\n    %s replay %s\n", p, shellQuote(r.ID))
		fmt.Fprintf(&w, "  or cancel it:\n    %s cancel %s --reason TEXT\n", p, shellQuote(r.ID))
		fmt.Fprintf(&w, "  Every run the definition would hold: %s versions check --pipeline %s\n", p, shellQuote(r.Pipeline))
		return advice{text: w.String()}, nil
	}
	if r.Status != store.DeadLettered {
		fmt.Fprintf(&w, "  Run %s is %s, not dead-lettered: there is nothing to replay.\n", r.ID, r.Status)
		if r.Status == store.AwaitingReview {
			fmt.Fprintf(&w, "  It waits for a person: %s review show %s\n", a.target.prefix(), r.ID)
		}
		return advice{text: w.String()}, nil
	}
	p, id := a.target.prefix(), r.ID
	if f := t.fork(r.Step); f != nil {
		if failed := failedBranches(f); len(failed) > 0 {
			return a.joinAdvice(&w, r, f, failed), nil
		}
	}
	if failedUnclassified(d) {
		fmt.Fprintf(&w, "  %s\n", unclassifiedAdvice)
	} else {
		fmt.Fprintf(&w, "  %s\n", classAdvice(r.Class))
	}
	if e := joinEffect(r, t.Parent); e != "" {
		fmt.Fprintf(&w, "  %s\n    the parent: %s runs show %s\n", e, p, shellQuote(r.Parent.RunID))
	}
	cmds := []string{fmt.Sprintf("%s replay %s", p, id)}
	fmt.Fprintf(&w, "\n  Replay from step %s as it is, once a fix has reached the workers:\n    %s\n", orDash(r.Step), cmds[0])
	if in := d.StepInput(r.Step); in != nil {
		set := fmt.Sprintf("%s replay %s --set /PATH=VALUE", p, id)
		cmds = append(cmds, set)
		fmt.Fprintf(&w, "  Replay with the step's input corrected (--set for a field, --patch FILE for the whole input):\n    %s\n", set)
		if f := fields(in); f != "" {
			fmt.Fprintf(&w, "    (the input's fields: %s)\n", f)
		}
	} else {
		patch := fmt.Sprintf("%s replay %s --patch FILE", p, id)
		cmds = append(cmds, patch)
		fmt.Fprintf(&w, "  The run kept no input for step %s: replay it with a new one, as JSON in FILE:\n    %s\n", orDash(r.Step), patch)
	}
	// Only how many: one run listed, the rest counted (up to countLimit).
	same, err := h.ListRuns(ctx, store.RunFilter{Pipeline: r.Pipeline, Step: r.Step, Class: r.Class,
		Status: []store.Status{store.DeadLettered}, Limit: 1, CountLimit: countLimit})
	if err != nil {
		return advice{}, err
	}
	if n := len(same.Runs) + same.More - 1; n > 0 {
		batch := fmt.Sprintf("%s replay --filter%s --dry-run", p, groupFilter(r.Pipeline, r.Step, r.Class))
		cmds = append(cmds, batch)
		others := plural(n, "other run", "other runs")
		if same.Capped {
			others = "more than " + others
		}
		fmt.Fprintf(&w, "  %s failed the same way (%s, step %s, %s); list them, then replay them all with --yes:\n    %s\n",
			others, r.Pipeline, orDash(r.Step), className(r.Class), batch)
	}
	return advice{text: w.String(), commands: cmds}, nil
}

// classAdvice says what a failure class usually means.
func classAdvice(c retry.Class) string {
	switch c {
	case retry.ClassTransient:
		return "The step kept failing on a temporary error (timeout, rate limit, 5xx) past its retries and the outage schedule. Once the dependency is healthy, replay as it is."
	case retry.ClassContract:
		return "The step's output broke its contract after every re-ask and fallback. Fix the prompt, the model or the code and replay, or correct the input."
	case retry.ClassPermanent:
		return "The step refused its input or hit a bug; retrying alone cannot help. Correct the input and replay, or ship a fix and replay."
	case retry.ClassNeedsReview:
		return "A person rejected the run, or it failed in a way only a person can judge. Correct the input and replay if it should go through."
	case retry.ClassBudget:
		return "The step or run spent its token, cost or attempt budget. Raise the budget or shorten the input, then replay."
	case retry.ClassRefusal:
		return "The model declined to answer. Change the input or the prompt, or route such failures to review, then replay."
	}
	return "Look at the failed step below, fix the cause, then replay."
}

// unclassifiedAdvice replaces the class's advice for a run whose step gave
// up on an error nobody classified: its class (permanent) is what the
// pipeline made of it, not what the error said.
const unclassifiedAdvice = "The step's error was unclassified: it was retried as transient, then dead-lettered as permanent without waiting out the outage schedule, since nothing said it would pass. Find the cause in the error below; in the step, wrap such errors with retry.Permanent(err) if retrying cannot help (bad data, a bug), or retry.Transient(err) if it can (a dependency that was down), then replay."

// failedUnclassified reports whether the step that dead-lettered the run's
// current attempt gave up on an unclassified error.
func failedUnclassified(d *store.RunDetail) bool {
	for i := len(d.Steps) - 1; i >= 0; i-- {
		rec := &d.Steps[i]
		if rec.RunAttempt == d.Run.Attempt && rec.Step == d.Run.Step && rec.Status == store.StepFailed {
			return unclassified(rec)
		}
	}
	return false
}

// fields lists the top-level fields of an input as JSON pointers, for a
// hint of what --set can change; "" when the input is not an object.
func fields(in json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(in))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var names []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return ""
		}
		names = append(names, "/"+escapeToken(t.(string)))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return ""
		}
	}
	return strings.Join(names, ", ")
}

// failedBranches are the children of a fork that ended without success:
// what a failed join names.
func failedBranches(f *forkView) []store.Branch {
	var out []store.Branch
	for _, b := range f.Children {
		if b.Status == store.DeadLettered || b.Status == store.Cancelled {
			out = append(out, b)
		}
	}
	return out
}

// joinAdvice is what to do about a parent dead-lettered by its join: the
// failed branches are what to replay. Replaying the parent would fork
// again and find the same failed children, kept as they are.
func (a *app) joinAdvice(w *strings.Builder, r *store.Run, f *forkView, failed []store.Branch) advice {
	p := a.target.prefix()
	fmt.Fprintf(w, "  The join of step %s failed: %s of its %d failed. Replay %s (alone, patched if need be: a patch is checked against the branch's own pipeline);\n"+
		"  when %s, this run's join resumes with %s. Replaying this run instead would fork again and find the same failed %s.\n",
		r.Step, plural(len(failed), "branch", "branches"), f.Count, pick2(len(failed), "it", "them"), pick2(len(failed), "it succeeds", "the last of them succeeds"),
		pick2(len(failed), "its result", "their results"), pick2(len(failed), "branch", "branches"))
	var cmds []string
	for i, b := range failed {
		if i == shownBranches {
			break
		}
		c := fmt.Sprintf("%s replay %s", p, shellQuote(b.RunID))
		cmds = append(cmds, c)
		fmt.Fprintf(w, "    %s    # %s · %s at step %s\n", c, branchLabel(b.Branch, b.Name), b.Status, orDash(b.FailedStep))
	}
	if len(failed) > 1 {
		batch := fmt.Sprintf("%s replay --filter --parent %s --dry-run", p, shellQuote(r.ID))
		cmds = append(cmds, batch)
		fmt.Fprintf(w, "  Or every dead-lettered branch of this run at once (list them, then replay with --yes):\n    %s\n", batch)
	}
	fmt.Fprintf(w, "  Look at one first: %s deadletters show %s\n", p, shellQuote(failed[0].RunID))
	return advice{text: w.String(), commands: cmds}
}

// pick2 chooses a word by count.
func pick2(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
