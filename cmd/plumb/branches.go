package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/plumb-dev/plumb/store"
)

// A run whose step branches forks children, each a run of its own (a
// branch run). The CLI shows the tree from both ends: a parent lists its
// branching steps with their children's counts and each child that needs
// a person; a child names its parent and what its parent's join does
// when the child succeeds.

// shownBranches bounds the children a fork lists by name; the rest are a
// command away.
const shownBranches = 5

// forkView is one branching step of a parent and its children.
type forkView struct {
	Step  string `json:"step"`
	Index int    `json:"index"`
	// Pipelines are the sub-pipelines the children run: one for a
	// fan-out, one per route or parallel branch otherwise.
	Pipelines []string             `json:"pipelines"`
	Count     int                  `json:"count"`
	ByStatus  map[store.Status]int `json:"by_status"`
	// Live counts the children not ended: what the parent's join waits for.
	Live     int            `json:"live"`
	Children []store.Branch `json:"children"`
}

// tree is where a run stands among branch runs: the forks of its steps,
// and for a branch run its parent.
type tree struct {
	Forks []forkView
	// Parent is the parent run of a branch run, nil for a top-level run
	// (or when the parent is gone).
	Parent *store.Run
	// prefix is the command the hints print ("plumb --db plumb.db").
	prefix string
}

// loadTree reads the branches of a run and, for a branch run, its parent.
func loadTree(ctx context.Context, h *handle, d *store.RunDetail, prefix string) (*tree, error) {
	t := &tree{prefix: prefix}
	// Every fork writes its step's waiting record, which stays in the
	// history: a run without one has no children, and costs no query.
	if slices.ContainsFunc(d.Steps, func(rec store.StepRecord) bool { return rec.Status == store.StepWaiting }) {
		bs, err := h.Branches(ctx, store.BranchQuery{Parent: d.Run.ID})
		if err != nil {
			return nil, err
		}
		t.Forks = forksOf(d, bs)
	}
	if p := d.Run.Parent; p != nil {
		pd, err := h.GetRun(ctx, p.RunID)
		switch {
		case err == nil:
			t.Parent = &pd.Run
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return t, nil
}

// forksOf groups a parent's children by branching step, in step order. A
// step that forked no child (an empty list) is a fork too.
func forksOf(d *store.RunDetail, bs []store.Branch) []forkView {
	var out []forkView
	at := func(index int, step string) *forkView {
		for i := range out {
			if out[i].Index == index && out[i].Step == step {
				return &out[i]
			}
		}
		out = append(out, forkView{Step: step, Index: index, Pipelines: []string{}, ByStatus: map[store.Status]int{}, Children: []store.Branch{}})
		return &out[len(out)-1]
	}
	for _, rec := range d.Steps {
		if rec.Status == store.StepWaiting {
			at(rec.Index, rec.Step)
		}
	}
	for _, b := range bs {
		f := at(b.Index, b.Step)
		f.Count++
		f.ByStatus[b.Status]++
		if !b.Ended() {
			f.Live++
		}
		if !slices.Contains(f.Pipelines, b.Pipeline) {
			f.Pipelines = append(f.Pipelines, b.Pipeline)
		}
		f.Children = append(f.Children, b)
	}
	slices.SortStableFunc(out, func(x, y forkView) int { return x.Index - y.Index })
	return out
}

// fork returns the fork at a step, or nil.
func (t *tree) fork(step string) *forkView {
	if t == nil {
		return nil
	}
	for i := range t.Forks {
		if t.Forks[i].Step == step {
			return &t.Forks[i]
		}
	}
	return nil
}

// counts says how a fork's children stand: "4 succeeded, 1 dead_lettered".
func (f *forkView) counts() string {
	var parts []string
	for _, s := range store.Statuses {
		if n := f.ByStatus[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	return strings.Join(parts, ", ")
}

// needsAttention reports whether a child is one a person looks at: it
// failed, was cancelled, waits for a review or was held.
func needsAttention(b *store.Branch) bool {
	return b.Status == store.DeadLettered || b.Status == store.Cancelled || b.Status == store.AwaitingReview || b.Status == store.Held
}

// branchLabel names a child's place: "branch 3", `branch 1 "tone-1"`.
func branchLabel(branch int, name string) string {
	s := fmt.Sprintf("branch %d", branch)
	if name != "" {
		s += " " + quoteName(name)
	}
	return s
}

// quoteName quotes a route or branch name, its control characters escaped.
func quoteName(s string) string {
	return `"` + oneLine(s, 80) + `"`
}

// parentLine is a branch run's place in its parent: "branch 3 of run X at
// step publish".
func parentLine(p *store.Parent) string {
	return fmt.Sprintf("%s of run %s at step %s", branchLabel(p.Branch, p.Name), p.RunID, p.Step)
}

// treeState says where a run stands in one phrase, counting the branches
// a waiting parent waits for.
func treeState(r *store.Run, t *tree) string {
	if r.Status == store.Waiting {
		if f := t.fork(r.Step); f != nil && f.Count > 0 {
			return fmt.Sprintf("waiting for %d of %s at step %s", f.Live, plural(f.Count, "branch", "branches"), r.Step)
		}
	}
	return runState(r)
}

// branchesSection renders a parent's forks: per branching step its
// children's counts, then each child that failed or waits for a person,
// with the command that acts on it.
func branchesSection(w *strings.Builder, r *store.Run, t *tree) {
	if t == nil || len(t.Forks) == 0 {
		return
	}
	p := t.prefix
	w.WriteString("\nBranches\n")
	for i := range t.Forks {
		f := &t.Forks[i]
		if f.Count == 0 {
			fmt.Fprintf(w, "  %s (step %d): no branches (an empty list)\n", f.Step, f.Index+1)
			continue
		}
		word := "pipeline"
		if len(f.Pipelines) > 1 {
			word = "pipelines"
		}
		fmt.Fprintf(w, "  %s (step %d): %s of %s %s — %s\n", f.Step, f.Index+1, plural(f.Count, "branch", "branches"),
			word, strings.Join(f.Pipelines, ", "), f.counts())
		shown, rest := 0, map[store.Status]int{}
		for j := range f.Children {
			b := &f.Children[j]
			if !needsAttention(b) {
				continue
			}
			if shown == shownBranches {
				rest[b.Status]++
				continue
			}
			shown++
			childLine(w, b, len(f.Pipelines) > 1, p)
		}
		if n := sum(rest); n > 0 {
			var sts []string
			for _, s := range store.Statuses {
				if rest[s] > 0 {
					sts = append(sts, string(s))
				}
			}
			fmt.Fprintf(w, "    and %d more: %s runs list --parent %s --status %s\n", n, p, shellQuote(r.ID), strings.Join(sts, ","))
		}
		if r.Status == store.DeadLettered && r.Step == f.Step && shown > 0 {
			if shown == 1 && sum(rest) == 0 {
				fmt.Fprintf(w, "    the join failed on the branch above: replay it (a patch is checked against its own pipeline's contract);\n"+
					"    when it succeeds, the join resumes with its result\n")
			} else {
				fmt.Fprintf(w, "    the join failed on the branches above: replay them (a patch is checked against their own pipeline's contract);\n"+
					"    when the last of them succeeds, the join resumes with their results\n")
			}
		}
	}
	fmt.Fprintf(w, "  every branch: %s runs list --parent %s\n", p, shellQuote(r.ID))
}

// childLine renders one child that needs attention.
func childLine(w *strings.Builder, b *store.Branch, pipeline bool, p string) {
	state := string(b.Status)
	if b.FailedStep != "" {
		state += " at step " + b.FailedStep
	}
	if b.Class != 0 {
		state += " (" + b.Class.String() + ")"
	}
	fmt.Fprintf(w, "    %s  %s", b.RunID, branchLabel(b.Branch, b.Name))
	if pipeline {
		fmt.Fprintf(w, " · %s", b.Pipeline)
	}
	fmt.Fprintf(w, " · %s\n", state)
	if b.Error != "" {
		fmt.Fprintf(w, "      error   %s\n", oneLine(shortError(b.Error), 160))
	}
	if b.Status == store.AwaitingReview {
		fmt.Fprintf(w, "      decide  %s review show %s\n", p, shellQuote(b.RunID))
		return
	}
	fmt.Fprintf(w, "      replay  %s replay %s\n", p, shellQuote(b.RunID))
}

// joinEffect says what a branch run's success does to its parent, as the
// store's join decides it: for a replay's output and a dead letter's
// advice.
func joinEffect(r *store.Run, parent *store.Run) string {
	p := r.Parent
	if p == nil {
		return ""
	}
	switch {
	case parent == nil:
		return fmt.Sprintf("Run %s is %s; that run is gone, so a replay changes only this run.", r.ID, parentLine(p))
	case parent.Status == store.DeadLettered && parent.Step == p.Step:
		return fmt.Sprintf("Run %s is %s, whose join failed: when this run succeeds (and no sibling is live), %s is replayed from step %s and its join resumes with this run's result.",
			r.ID, parentLine(p), p.RunID, p.Step)
	case parent.Status == store.Waiting && parent.Step == p.Step:
		return fmt.Sprintf("Run %s is %s, which waits for its branches: its join goes on once this run ends.", r.ID, parentLine(p))
	}
	return fmt.Sprintf("Run %s is %s, which went on without it (it is %s): a replay changes only this run.", r.ID, parentLine(p), runState(parent))
}

// knownRun refuses a --parent that names no run, so that a typo is not
// an empty list.
func knownRun(ctx context.Context, h *handle, id string) error {
	if id == "" {
		return nil
	}
	_, err := getRun(ctx, h, id)
	return err
}

func sum(m map[store.Status]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
