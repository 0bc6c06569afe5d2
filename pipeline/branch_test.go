package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// splitStep parses "3,1,2" into its numbers.
func splitStep() *step.Step[string, []int] {
	return step.New("split", func(_ context.Context, s string) ([]int, error) {
		out := []int{}
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, retry.Permanent(err)
			}
			out = append(out, n)
		}
		return out, nil
	}, step.Config{})
}

// doubleStep doubles a number and refuses a negative one, permanently.
func doubleStep(seen func(ctx context.Context, n int)) *step.Step[int, int] {
	return step.New("double", func(ctx context.Context, n int) (int, error) {
		if seen != nil {
			seen(ctx, n)
		}
		if n < 0 {
			return 0, retry.Permanent(fmt.Errorf("%d is negative", n))
		}
		return 2 * n, nil
	}, step.Config{})
}

var noOutage = pipeline.Policy{Outage: pipeline.NoOutage}

// batches is a pipeline that splits a list and doubles each number in a
// branch run of its own (the sub-pipeline "doubles").
func batches(rt *pipeline.Runtime, o pipeline.FanOutOptions, seen func(context.Context, int)) (*pipeline.Pipeline[string, []int], *pipeline.Pipeline[int, int]) {
	sub := pipeline.New(rt, "doubles", doubleStep(seen), noOutage)
	return pipeline.FanOut(pipeline.New(rt, "batches", splitStep(), noOutage), "each", sub, o), sub
}

func lastRecord(d *store.RunDetail, stepName string) store.StepRecord {
	var rec store.StepRecord
	for _, r := range d.Steps {
		if r.Step == stepName {
			rec = r
		}
	}
	return rec
}

func TestFanOutRunsEachElementAsABranchRunAndJoinsInInputOrder(t *testing.T) {
	k := pipelinetest.New(t)
	var mu sync.Mutex
	parents := map[string]bool{}
	p, _ := batches(k.Runtime, pipeline.FanOutOptions{}, func(ctx context.Context, _ int) {
		mu.Lock()
		parents[step.RunInfoFrom(ctx).Parent] = true
		mu.Unlock()
	})
	require.NoError(t, p.Err())
	id, err := p.Submit(k.Context(), "3,1,2", pipeline.SubmitOptions{Trigger: step.Trigger{Source: "cron", ExternalID: "batch-7"}})
	require.NoError(t, err)
	k.Drain()

	d := k.AssertSucceeded(id)
	assert.JSONEq(t, `[6,2,4]`, string(d.Run.Output), "the branches' outputs in the order of their elements")
	assert.Equal(t, map[string]bool{id: true}, parents, "step code sees its run's parent")
	var statuses []store.StepStatus
	for _, r := range d.Steps {
		if r.Step == "each" {
			statuses = append(statuses, r.Status)
		}
	}
	assert.Equal(t, []store.StepStatus{store.StepWaiting, store.StepSucceeded}, statuses, "the step forked, then joined")
	assert.Equal(t, "join", lastRecord(d, "each").By)

	for i, in := range []string{"3", "1", "2"} {
		c := k.AssertSucceeded(store.BranchID(id, 1, i))
		assert.Equal(t, "doubles", c.Run.Pipeline)
		assert.JSONEq(t, in, string(c.Run.Input))
		require.NotNil(t, c.Run.Parent)
		assert.Equal(t, store.Parent{RunID: id, Step: "each", Index: 1, Branch: i}, *c.Run.Parent)
		assert.Equal(t, step.Trigger{Source: "branch:batches/each", ExternalID: "batch-7"}, c.Run.Trigger)
		assert.Equal(t, "double", c.Steps[0].Step, "a branch has a record of its own")
	}
	page, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: id})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 3)
}

// Run on a runtime with a store executes until the fork, and says the run
// waits for its branches.
func TestRunOfADurablePipelineThatForksReturnsAWaitingPendingError(t *testing.T) {
	k := pipelinetest.New(t)
	p, _ := batches(k.Runtime, pipeline.FanOutOptions{}, nil)
	_, err := p.Run(k.Context(), "1,2", pipeline.RunOptions{RunID: "batch-run-1"})
	var pe *pipeline.PendingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, store.Waiting, pe.Status)
	assert.Equal(t, "each", pe.Step)
	assert.NotErrorIs(t, err, retry.ErrTransient, "waiting for branches is no failure")
	assert.Contains(t, err.Error(), "waits for 2 branches")
	k.AssertStatus(pe.RunID, store.Waiting)
	k.Drain()
	assert.JSONEq(t, `[2,4]`, string(k.AssertSucceeded(pe.RunID).Run.Output))
}

func TestFanOutOfNoElementsJoinsAtOnce(t *testing.T) {
	k := pipelinetest.New(t)
	sub := pipeline.New(k.Runtime, "doubles", doubleStep(nil), noOutage)
	list := pipeline.Then(pipeline.New(k.Runtime, "batches", step.New("none", func(context.Context, string) ([]int, error) { return []int{}, nil }, step.Config{}), noOutage), step.New("keep", func(_ context.Context, n []int) ([]int, error) { return n, nil }, step.Config{}))
	p := pipeline.FanOut(list, "each", sub, pipeline.FanOutOptions{})
	id, err := p.Submit(k.Context(), "", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	assert.JSONEq(t, `[]`, string(k.AssertSucceeded(id).Run.Output))
}

func TestFanOutAllSucceedDeadLettersTheParentNamingTheFailedBranch(t *testing.T) {
	k := pipelinetest.New(t)
	p, sub := batches(k.Runtime, pipeline.FanOutOptions{}, nil)
	id, err := p.Submit(k.Context(), "1,-2,3", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()

	child := store.BranchID(id, 1, 1)
	c := k.AssertDeadLettered(child, "double", retry.ClassPermanent)
	assert.Contains(t, c.Run.Error, "-2 is negative")
	d := k.AssertDeadLettered(id, "each", retry.ClassPermanent)
	assert.Contains(t, d.Run.Error, "1 of 3 branches of step \"each\" failed")
	assert.Contains(t, d.Run.Error, "branch run "+child+" (pipeline doubles) dead-lettered at step \"double\" (permanent): ")
	assert.Contains(t, d.Run.Error, "-2 is negative")

	// Replaying the failed branch alone, with its input patched, resumes
	// the parent's join with the branch's result.
	_, err = sub.Replay(k.Context(), child, pipeline.ReplayOptions{Input: []byte(`2`)})
	require.NoError(t, err)
	k.Drain()
	assert.JSONEq(t, `4`, string(k.AssertSucceeded(child).Run.Output))
	d = k.AssertSucceeded(id)
	assert.JSONEq(t, `[2,4,6]`, string(d.Run.Output))
	assert.Equal(t, 2, d.Run.Attempt, "the store replayed the parent from its join")
	for i, attempts := range []int{1, 2, 1} {
		assert.Equal(t, attempts, k.Get(store.BranchID(id, 1, i)).Run.Attempt, "only the patched branch ran again")
	}
}

func TestFanOutJoinPolicies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		join  pipeline.Join
		input string
		want  string // the output, or "" for a dead letter at the join
	}{
		{"keep succeeded", pipeline.KeepSucceeded(), "1,-2,3,-4", `[2,6]`},
		{"keep succeeded, none left", pipeline.KeepSucceeded(), "-1", `[]`},
		{"at least 2 of 3, met", pipeline.AtLeast(2), "1,-2,3", `[2,6]`},
		{"at least 3 of 3, missed", pipeline.AtLeast(3), "1,-2,3", ""},
		{"at least 60% of 3, met by 2", pipeline.AtLeastShare(0.6), "1,-2,3", `[2,6]`},
		{"at least 70% of 3, missed by 2", pipeline.AtLeastShare(0.7), "1,-2,3", ""},
		{"all succeed, met", pipeline.AllSucceed(), "1,2", `[2,4]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := pipelinetest.New(t)
			p, _ := batches(k.Runtime, pipeline.FanOutOptions{Join: tc.join}, nil)
			id, err := p.Submit(k.Context(), tc.input, pipeline.SubmitOptions{})
			require.NoError(t, err)
			k.Drain()
			var dropped []string
			for i, f := range strings.Split(tc.input, ",") {
				if strings.HasPrefix(f, "-") {
					dropped = append(dropped, store.BranchID(id, 1, i))
					k.AssertDeadLettered(store.BranchID(id, 1, i), "double", retry.ClassPermanent)
				}
			}
			if tc.want == "" {
				d := k.AssertDeadLettered(id, "each", retry.ClassPermanent)
				assert.Contains(t, d.Run.Error, "(join: "+tc.join.String()+")")
				return
			}
			d := k.AssertSucceeded(id)
			assert.JSONEq(t, tc.want, string(d.Run.Output))
			note := lastRecord(d, "each").Note
			if len(dropped) == 0 {
				assert.Empty(t, note)
				return
			}
			assert.Contains(t, note, fmt.Sprintf("dropped %d of", len(dropped)))
			assert.Contains(t, note, strings.Join(dropped, ", "), "the record names every branch it dropped")
		})
	}
}

// At most Limit branches are queued or running at once, across every
// worker: the others wait in the store for a slot.
func TestFanOutLimitBoundsTheBranchesQueuedOrRunning(t *testing.T) {
	k := pipelinetest.New(t)
	var mu sync.Mutex
	most, waited := 0, false
	var p *pipeline.Pipeline[string, []int]
	p, _ = batches(k.Runtime, pipeline.FanOutOptions{Limit: 2}, func(ctx context.Context, _ int) {
		parent := step.RunInfoFrom(ctx).Parent
		live, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: parent, Status: []store.Status{store.Queued, store.Running}})
		require.NoError(t, err)
		waiting, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: parent, Status: []store.Status{store.Waiting}})
		require.NoError(t, err)
		mu.Lock()
		most = max(most, len(live.Runs))
		waited = waited || len(waiting.Runs) > 0
		mu.Unlock()
	})
	id, err := p.Submit(k.Context(), "1,2,3,4,5,6,7", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	assert.JSONEq(t, `[2,4,6,8,10,12,14]`, string(k.AssertSucceeded(id).Run.Output))
	assert.LessOrEqual(t, most, 2, "never more than Limit branches queued or running")
	assert.GreaterOrEqual(t, most, 1)
	assert.True(t, waited, "the branches beyond the limit waited for a slot")
}

// A fork that the store fences off (its lease was lost to another worker)
// creates nothing; the worker that took the run over forks, and every
// branch exists once.
func TestAForkRepeatedAfterALostLeaseCreatesNoDuplicateBranches(t *testing.T) {
	k := pipelinetest.New(t)
	st := &stealingStore{Store: k.Store, k: k}
	rt := k.NewRuntime(pipeline.RuntimeConfig{Store: st})
	p, _ := batches(rt, pipeline.FanOutOptions{}, nil)
	_, err := p.Run(k.Context(), "1,2,3", pipeline.RunOptions{RunID: "batch-run-2"})
	require.ErrorIs(t, err, store.ErrLeaseLost, "the first worker's fork was refused")
	id := "batch-run-2"
	page, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: id})
	require.NoError(t, err)
	assert.Empty(t, page.Runs, "a refused fork creates nothing")

	k.Clock.Advance(2 * defaultLeaseForTest) // the thief's lease runs out too
	k.Drain()
	assert.JSONEq(t, `[2,4,6]`, string(k.AssertSucceeded(id).Run.Output))
	page, err = k.Store.ListRuns(context.Background(), store.RunFilter{Parent: id})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 3, "each branch exists once")
	assert.Equal(t, 2, st.forks, "the fenced fork and the one that counted")
}

// defaultLeaseForTest is the lease of a run executed inline.
const defaultLeaseForTest = 30 * time.Second

// stealingStore lets the lease of the first run to fork expire and be
// claimed by another worker just before its fork reaches the store.
type stealingStore struct {
	store.Store
	k     *pipelinetest.Kit
	mu    sync.Mutex
	forks int
}

func (s *stealingStore) Fork(ctx context.Context, l store.Lease, f store.Fork) error {
	s.mu.Lock()
	s.forks++
	first := s.forks == 1
	s.mu.Unlock()
	if first {
		s.k.Clock.Advance(2 * defaultLeaseForTest)
		got, err := s.Store.Claim(ctx, store.ClaimRequest{Worker: "thief", Pipelines: []string{"batches"}, Limit: 1, Lease: defaultLeaseForTest})
		if err != nil || len(got) != 1 {
			return errors.Join(err, errors.New("the thief claimed nothing"))
		}
	}
	return s.Store.Fork(ctx, l, f)
}
