package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The tree as the CLI prints it, from the parent's end and the child's.
func TestTreeGolden(t *testing.T) {
	f := forest(t)
	for name, args := range map[string][]string{
		"show_parent_dead.golden":        {"runs", "show", "run-p"},
		"show_parent_waiting.golden":     {"runs", "show", "run-w"},
		"show_parent_many.golden":        {"runs", "show", "run-many"},
		"show_child.golden":              {"runs", "show", "run-p.1.3"},
		"deadletters_list_tree.golden":   {"deadletters", "list"},
		"deadletters_show_parent.golden": {"deadletters", "show", "run-p"},
		"deadletters_show_child.golden":  {"deadletters", "show", "run-p.1.3"},
		"runs_list_parent.golden":        {"runs", "list", "--parent", "run-w"},
	} {
		t.Run(name, func(t *testing.T) {
			out := f.ok(args...).stdout
			assert.NotContains(t, out, "\x1b", "a control character in an error reaches the terminal escaped")
			golden(t, name, out)
		})
	}
}

func TestTreeShow(t *testing.T) {
	f := forest(t)

	t.Run("a parent counts its branches and names the ones to act on", func(t *testing.T) {
		out := f.ok("runs", "show", "run-w").stdout
		assert.Contains(t, out, "Run run-w  ·  posts  ·  waiting for 3 of 5 branches at step publish\n")
		assert.Contains(t, out, "publish (step 2): 5 branches of pipeline publish-post — 1 queued, 1 waiting, 1 succeeded, 1 dead_lettered, 1 awaiting_review\n")
		assert.Contains(t, out, "    run-w.1.1  branch 1 · dead_lettered at step summarise (contract)\n      error   /summary: required\\x1b[2J\\x1b[31mgotcha\n      replay  plumb --db plumb.db replay run-w.1.1\n")
		assert.Contains(t, out, "    run-w.1.2  branch 2 · awaiting_review at step summarise\n      decide  plumb --db plumb.db review show run-w.1.2\n")
		assert.NotContains(t, out, "run-w.1.0  branch", "a succeeded branch is only counted")

		many := f.ok("runs", "show", "run-many").stdout
		assert.Equal(t, shownBranches, strings.Count(many, "      replay  "), "the first few failed branches are listed")
		assert.Contains(t, many, "    and 3 more: plumb --db plumb.db runs list --parent run-many --status dead_lettered\n")
	})

	t.Run("a child names its parent", func(t *testing.T) {
		out := f.ok("runs", "show", "run-p.1.3").stdout
		assert.Contains(t, out, "\n  parent    branch 3 of run run-p at step publish: plumb --db plumb.db runs show run-p\n")
		assert.NotContains(t, out, "\nBranches\n")
		assert.Contains(t, f.ok("runs", "show", "run-w.1.4").stdout, "waiting for a slot under its fork's limit")
	})

	t.Run("json", func(t *testing.T) {
		type shown struct {
			Run      store.Run  `json:"run"`
			Branches []forkView `json:"branches"`
		}
		w := decode[shown](t, f.ok("runs", "show", "run-w", "--json"))
		assert.Equal(t, store.Waiting, w.Run.Status)
		require.Len(t, w.Branches, 1)
		b := w.Branches[0]
		assert.Equal(t, forkAt, b.Step)
		assert.Equal(t, forkAtIndex, b.Index)
		assert.Equal(t, []string{subPipeline}, b.Pipelines)
		assert.Equal(t, 5, b.Count)
		assert.Equal(t, 3, b.Live)
		assert.Equal(t, map[store.Status]int{store.Queued: 1, store.Waiting: 1, store.Succeeded: 1, store.DeadLettered: 1, store.AwaitingReview: 1}, b.ByStatus)
		require.Len(t, b.Children, 5)
		assert.Equal(t, "run-w.1.1", b.Children[1].RunID)
		assert.Equal(t, "summarise", b.Children[1].FailedStep)
		assert.Contains(t, b.Children[1].Error, "\x1b[2J", "JSON keeps the error as it is; the encoder escapes it")

		raw := f.ok("runs", "show", "run-solo", "--json").stdout
		assert.NotContains(t, raw, `"branches"`, "a run that never forked has no branches key")

		c := decode[shown](t, f.ok("runs", "show", "run-p.1.3", "--json"))
		require.NotNil(t, c.Run.Parent)
		assert.Equal(t, store.Parent{RunID: "run-p", Step: forkAt, Index: forkAtIndex, Branch: 3}, *c.Run.Parent)
	})
}

func TestTreeListing(t *testing.T) {
	f := forest(t)
	listIDs := func(args ...string) []string {
		t.Helper()
		var ids []string
		for _, r := range decode[[]store.Run](t, f.ok(append(args, "--json")...)) {
			ids = append(ids, r.ID)
		}
		return ids
	}
	assert.ElementsMatch(t, []string{"run-w.1.0", "run-w.1.1", "run-w.1.2", "run-w.1.3", "run-w.1.4"}, listIDs("runs", "list", "--parent", "run-w"))
	assert.ElementsMatch(t, []string{"run-p", "run-w", "run-many", "run-solo"}, listIDs("runs", "list", "--top-level"))
	assert.Equal(t, []string{"run-w"}, listIDs("runs", "list", "--top-level", "--status", "waiting"))
	assert.Equal(t, []string{"run-w.1.4"}, listIDs("runs", "list", "--parent", "run-w", "--status", "waiting"))

	top := f.ok("runs", "list", "--top-level").stdout
	assert.True(t, strings.HasPrefix(top, "ID  "), "no PARENT column without branch runs:\n%s", top)
	all := f.ok("runs", "list", "--pipeline", subPipeline, "--limit", "3").stdout
	assert.True(t, strings.HasPrefix(all, "PARENT  "), all)
	assert.Contains(t, all, "↳ run-w")
	assert.Contains(t, f.ok("runs", "list", "--parent", "run-solo").stdout, "No branch runs of run-solo match.")

	r := f.plumb("runs", "list", "--parent", "run-x")
	assert.Equal(t, exitNotFound, r.code, r.String())
	assert.Contains(t, r.stderr, "no run run-x in plumb.db; plumb runs list shows the runs there")
	r = f.plumb("runs", "list", "--parent", "run-w", "--top-level")
	assert.Equal(t, exitUsage, r.code, r.String())
	assert.Contains(t, r.stderr, "give one of them")

	t.Run("dead letters group branches with their parents", func(t *testing.T) {
		l := decode[letterList](t, f.ok("deadletters", "list", "--json"))
		require.Len(t, l.Groups, 3)
		g := l.Groups[0]
		assert.Equal(t, subPipeline, g.Pipeline)
		assert.Equal(t, "summarise", g.Step)
		assert.Equal(t, 10, g.Count)
		assert.Equal(t, 10, g.Branches)
		assert.ElementsMatch(t, []string{"run-p", "run-w", "run-many"}, g.ParentIDs)
		parents := l.Groups[1]
		assert.Equal(t, forkAt, parents.Step)
		assert.Equal(t, 0, parents.Branches)
		assert.Equal(t, []string{}, parents.ParentIDs)
		assert.ElementsMatch(t, []string{"run-p", "run-many"}, parents.JoinsFailed)
		assert.Equal(t, 9, parents.FailedBranches)

		one := decode[letterList](t, f.ok("deadletters", "list", "--parent", "run-many", "--json"))
		assert.Equal(t, 8, one.Total)
		require.Len(t, one.Groups, 1)
		assert.Equal(t, []string{"run-many"}, one.Groups[0].ParentIDs)
		assert.Contains(t, f.ok("deadletters", "list", "--parent", "run-many").stdout,
			"  tree   they are all branches of 1 parent: run-many; each parent's join resumes once its failed branches succeed\n")
		assert.Equal(t, exitNotFound, f.plumb("deadletters", "list", "--parent", "run-x").code)
	})

	t.Run("status counts waiting and branch runs", func(t *testing.T) {
		st := decode[statusReport](t, f.ok("status", "--json"))
		require.Len(t, st.Pipelines, 2)
		posts, sub := st.Pipelines[0], st.Pipelines[1]
		assert.Equal(t, parentPipeline, posts.Pipeline)
		assert.Equal(t, 1, posts.Waiting)
		assert.Equal(t, 0, posts.Branches)
		assert.Equal(t, 3, posts.DeadLettered)
		assert.Equal(t, 1, sub.Waiting)
		assert.Equal(t, 1, sub.Queued)
		assert.Equal(t, 18, sub.Branches)
		raw := f.ok("status", "--json").stdout
		assert.Contains(t, raw, `"waiting": 1`)
		assert.Contains(t, raw, `"branches": 0`, "the field is there when zero, for scripts")

		text := f.ok("status").stdout
		assert.Contains(t, text, "  queue      0 queued (0 deferred), 0 running, 1 waiting\n")
		assert.Contains(t, text, "  branches   18 of these runs are branch runs (see them: plumb --db plumb.db runs list --pipeline publish-post)\n")
	})
}

// A dead-lettered child is replayed alone, its patch checked against its
// own pipeline's contract; when it succeeds, its parent's join resumes.
func TestReplayBranch(t *testing.T) {
	f := forest(t)

	r := f.plumb("replay", "run-p.1.3", "--set", "/page=")
	assert.Equal(t, exitFailed, r.code, r.String())
	assert.Contains(t, r.stderr, "the patched input breaks the contract of step summarise; nothing was replayed")
	assert.Contains(t, r.stderr, "/page:", "the violation of publish-post's summarise contract")
	assert.Equal(t, 1, f.get("run-p.1.3").Run.Attempt)

	r = f.ok("replay", "run-p.1.3", "--set", "/page=<p>fixed</p>")
	assert.Contains(t, r.stdout, "  Run run-p.1.3 is branch 3 of run run-p at step publish, whose join failed: when this run succeeds (and no sibling is live), run-p is replayed from step publish and its join resumes with this run's result.\n")
	assert.Contains(t, r.stdout, "Queued attempt 2 of run run-p.1.3; a worker of pipeline publish-post carries it out.\n")
	assert.Contains(t, r.stdout, "  its parent: plumb --db plumb.db runs show run-p\n")

	f.succeedID("run-p.1.3")
	d := f.get("run-p")
	assert.Equal(t, store.Queued, d.Run.Status, "the child succeeded: the store replays the parent")
	assert.Equal(t, 2, d.Run.Attempt)
	show := f.ok("runs", "show", "run-p").stdout
	assert.Contains(t, show, "Attempt 2: "+storekit.RecoveredReason("run-p.1.3")+"\n")
	assert.Contains(t, show, "publish (step 2): 5 branches of pipeline publish-post — 5 succeeded\n")
	assert.NotContains(t, show, "the join failed")

	t.Run("a waiting parent is not replayed", func(t *testing.T) {
		r := f.plumb("replay", "run-w")
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "run run-w is waiting for its branches at step publish; nothing to replay until they end")
	})

	t.Run("filter flags need --filter", func(t *testing.T) {
		r := f.plumb("replay", "run-w.1.1", "--parent", "run-w")
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Contains(t, r.stderr, "--parent selects runs for --filter")
	})

	t.Run("a batch by parent", func(t *testing.T) {
		dry := f.ok("replay", "--filter", "--parent", "run-many", "--dry-run")
		assert.Contains(t, dry.stdout, "8 dead-lettered runs match:\nPARENT      ID            PIPELINE")
		assert.Contains(t, dry.stdout, "↳ run-many  run-many.1.7  publish-post  dead_lettered")
		assert.Contains(t, dry.stdout, "8 of them are branch runs of 1 parent; a parent's failed join resumes once its replayed branches succeed.\n")
		res := decode[batchResult](t, f.ok("replay", "--filter", "--parent", "run-many", "--yes", "--json"))
		assert.Len(t, res.Replayed, 8)
		assert.Empty(t, res.Failed)
		for _, id := range res.Replayed {
			assert.Equal(t, store.Queued, f.get(id).Run.Status)
		}
		assert.Equal(t, store.DeadLettered, f.get("run-w.1.1").Run.Status, "another parent's branch is left alone")
		assert.Equal(t, exitNotFound, f.plumb("replay", "--filter", "--parent", "run-x", "--dry-run").code)
	})
}

func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"a\x1b[31mred":     `a\x1b[31mred`,
		"bell\a and \x7f":  `bell\a and \x7f`,
		"c1 \u009b":        `c1 \u009b`,
		"bad \xff utf8":    `bad \xff utf8`,
		"lines\nand\ttabs": "lines\nand\ttabs",
		"ünïcode stays":    "ünïcode stays",
	} {
		assert.Equal(t, want, escapeControl(in), "%q", in)
	}
	assert.Equal(t, `x \x1b[2J y`, oneLine("x\n\x1b[2J\ty", 100))
}
