package storekit_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

func TestJoinChange(t *testing.T) {
	const Q, R, W, AR, S, DL, C = store.Queued, store.Running, store.Waiting, store.AwaitingReview, store.Succeeded, store.DeadLettered, store.Cancelled
	tests := []struct {
		from, to store.Status
		live     int
		release  bool
	}{
		{R, S, -1, true},
		{R, DL, -1, true},
		{R, C, -1, true},
		{Q, C, -1, true},  // cancelled before it ran: its slot frees
		{W, C, -1, false}, // it held no slot
		{AR, DL, -1, false},
		{AR, C, -1, false},
		{R, AR, 0, true},
		{AR, Q, 0, false},         // approved: live all along
		{R, store.Held, 0, true},  // parked like a review: live, its slot frees
		{store.Held, Q, 0, false}, // replayed: live all along
		{store.Held, C, -1, false},
		{DL, Q, +1, false},
		{C, Q, +1, false},
		{S, Q, +1, false}, // a child forked again with a new input
		{C, W, +1, false},
		{W, Q, 0, false},
		{Q, R, 0, false},
		{R, Q, 0, false}, // a deferral or a release keeps its place
		{R, R, 0, false},
	}
	for _, tt := range tests {
		live, release := storekit.JoinChange(tt.from, tt.to)
		assert.Equal(t, tt.live, live, "%s -> %s", tt.from, tt.to)
		assert.Equal(t, tt.release, release, "%s -> %s", tt.from, tt.to)
	}
}

func TestReleases(t *testing.T) {
	tests := []struct{ limit, active, waiting, want int }{
		{2, 1, 3, 1},
		{2, 0, 3, 2},
		{2, 2, 3, 0},
		{2, 3, 3, 0}, // an approval ran on top of the limit
		{3, 0, 1, 1},
		{0, 5, 4, 4}, // no limit: nothing should wait
		{1, 0, 0, 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, storekit.Releases(tt.limit, tt.active, tt.waiting), "%+v", tt)
	}
}

func TestSettle(t *testing.T) {
	ok := &store.Run{ID: "p.1.0", Status: store.Succeeded}
	failed := &store.Run{ID: "p.1.1", Status: store.DeadLettered}
	tests := []struct {
		parent store.Run
		child  *store.Run
		want   storekit.Settlement
	}{
		{store.Run{Status: store.Waiting, Step: "fan"}, ok, storekit.SettleQueue},
		{store.Run{Status: store.Waiting, Step: "fan"}, failed, storekit.SettleQueue},
		{store.Run{Status: store.Waiting, Step: "other"}, ok, storekit.SettleNone},
		{store.Run{Status: store.DeadLettered, Step: "fan"}, ok, storekit.SettleReplay},
		{store.Run{Status: store.DeadLettered, Step: "fan"}, failed, storekit.SettleNone},
		{store.Run{Status: store.DeadLettered, Step: "draft"}, ok, storekit.SettleNone},
		{store.Run{Status: store.Succeeded}, ok, storekit.SettleNone},
		{store.Run{Status: store.Cancelled, Step: "fan"}, ok, storekit.SettleNone},
		{store.Run{Status: store.Running, Step: "fan"}, ok, storekit.SettleNone},
		{store.Run{Status: store.Queued, Step: "fan"}, ok, storekit.SettleNone},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, storekit.Settle(&tt.parent, "fan", tt.child), "parent %s at %q, child %s", tt.parent.Status, tt.parent.Step, tt.child.Status)
	}
}

func TestReasons(t *testing.T) {
	assert.Equal(t, "forked by run-1", storekit.ForkReason("run-1"))
	assert.Equal(t, "parent run-1 forked it again with a new input", storekit.RestartReason("run-1"))
	assert.Equal(t, "branch run-1.2.0 recovered", storekit.RecoveredReason("run-1.2.0"))
}

func forkOf(parent string, n, limit int) store.Fork {
	f := store.Fork{Record: store.StepRecord{Index: 2, Step: "fan", Status: store.StepWaiting}, Limit: limit}
	for i := range n {
		f.Children = append(f.Children, store.NewRun{ID: store.BranchID(parent, 2, i), Pipeline: "item",
			Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), Parent: &store.Parent{RunID: parent, Step: "fan", Index: 2, Branch: i}})
	}
	return f
}

func TestCheckFork(t *testing.T) {
	require.NoError(t, storekit.CheckFork("p", forkOf("p", 3, 0)))
	require.NoError(t, storekit.CheckFork("p", forkOf("p", 0, 0)), "a fork of nothing queues its parent at once")
	bad := map[string]func(f *store.Fork){
		"no parent":        func(f *store.Fork) { f.Children[1].Parent = nil },
		"another parent":   func(f *store.Fork) { f.Children[1].Parent.RunID = "q" },
		"another index":    func(f *store.Fork) { f.Children[1].Parent.Index = 3 },
		"another step":     func(f *store.Fork) { f.Children[1].Parent.Step = "draft" },
		"a foreign id":     func(f *store.Fork) { f.Children[1].ID = "p-1" },
		"a branch twice":   func(f *store.Fork) { f.Children[2].Parent.Branch, f.Children[2].ID = 1, f.Children[1].ID },
		"no pipeline":      func(f *store.Fork) { f.Children[0].Pipeline = "" },
		"no step":          func(f *store.Fork) { f.Record.Step = "" },
		"a negative limit": func(f *store.Fork) { f.Limit = -1 },
	}
	for what, mod := range bad {
		f := forkOf("p", 3, 0)
		mod(&f)
		assert.ErrorIs(t, storekit.CheckFork("p", f), store.ErrConflict, what)
	}
}

func TestPlanForkNew(t *testing.T) {
	f := forkOf("p", 5, 2)
	// Listed out of order, the children still take slots in branch order.
	f.Children[0], f.Children[4] = f.Children[4], f.Children[0]
	plan := storekit.PlanFork(f, nil)
	require.Len(t, plan.Create, 5)
	assert.Empty(t, plan.Restart)
	var got []string
	for _, c := range plan.Create {
		got = append(got, fmt.Sprint(c.Run.Parent.Branch, ":", c.Status))
	}
	assert.Equal(t, []string{"0:queued", "1:queued", "2:waiting", "3:waiting", "4:waiting"}, got)
	assert.Equal(t, 5, plan.Live)
	assert.Equal(t, store.Waiting, plan.Parent)

	unlimited := storekit.PlanFork(forkOf("p", 3, 0), nil)
	for _, c := range unlimited.Create {
		assert.Equal(t, store.Queued, c.Status)
	}
	assert.Equal(t, store.Queued, storekit.PlanFork(forkOf("p", 0, 0), nil).Parent, "nothing to wait for")
}

func TestPlanForkAgain(t *testing.T) {
	f := forkOf("p", 4, 2)
	hash := func(i int) string { return store.Hash(f.Children[i].Input) }
	existing := map[string]storekit.ExistingChild{
		f.Children[0].ID: {Status: store.Succeeded, InputHash: hash(0)},          // kept, ended
		f.Children[1].ID: {Status: store.Running, InputHash: hash(1)},            // kept, live, holds a slot
		f.Children[2].ID: {Status: store.DeadLettered, InputHash: "old-input"},   // restarted
		f.Children[3].ID: {Status: store.AwaitingReview, InputHash: "old-input"}, // live: kept, even with another input
	}
	plan := storekit.PlanFork(f, existing)
	assert.Empty(t, plan.Create)
	require.Len(t, plan.Restart, 1)
	assert.Equal(t, f.Children[2].ID, plan.Restart[0].Run.ID)
	assert.Equal(t, store.Queued, plan.Restart[0].Status, "one slot is free")
	assert.Equal(t, 3, plan.Live)
	assert.Equal(t, store.Waiting, plan.Parent)

	existing[f.Children[1].ID] = storekit.ExistingChild{Status: store.Queued, InputHash: hash(1)}
	existing[f.Children[3].ID] = storekit.ExistingChild{Status: store.Running, InputHash: hash(3)}
	plan = storekit.PlanFork(f, existing)
	require.Len(t, plan.Restart, 1)
	assert.Equal(t, store.Waiting, plan.Restart[0].Status, "the kept live children hold both slots")
	existing[f.Children[1].ID] = storekit.ExistingChild{Status: store.Queued, InputHash: hash(1), Awaiting: true}
	plan = storekit.PlanFork(f, existing)
	require.Len(t, plan.Restart, 1)
	assert.Equal(t, store.Queued, plan.Restart[0].Status, "a child waiting for an event holds no slot")

	ended := map[string]storekit.ExistingChild{}
	for i, c := range f.Children {
		ended[c.ID] = storekit.ExistingChild{Status: store.Cancelled, InputHash: hash(i)}
	}
	plan = storekit.PlanFork(f, ended)
	assert.Empty(t, plan.Create)
	assert.Empty(t, plan.Restart)
	assert.Zero(t, plan.Live)
	assert.Equal(t, store.Queued, plan.Parent, "every child ended with the same input: the parent joins at once")
}

func TestScrubKeepsBranchOutput(t *testing.T) {
	out := json.RawMessage(`{"summary":"ok"}`)
	child := &store.Run{Input: json.RawMessage(`{"i":1}`), Output: out, Parent: &store.Parent{RunID: "p"}}
	recs := []store.StepRecord{{Output: out}}
	storekit.Scrub(child, recs)
	assert.JSONEq(t, string(out), string(child.Output), "the parent joins it")
	assert.Nil(t, child.Input)
	assert.Nil(t, recs[0].Output, "the step records are scrubbed as any run's")

	top := &store.Run{Input: json.RawMessage(`{"i":1}`), Output: out}
	storekit.Scrub(top, nil)
	assert.Nil(t, top.Output)
}
