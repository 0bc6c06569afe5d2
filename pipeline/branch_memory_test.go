package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// In memory, a fan-out runs its branches at once, Limit at a time, with
// the same join policies and errors; each branch's dead letter reaches the
// sinks as its own run's.
func TestFanOutInMemory(t *testing.T) {
	letters := deadletter.NewMemory()
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{letters}})
	var mu sync.Mutex
	running, most := 0, 0
	seen := func(context.Context, int) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		mu.Lock()
		running--
		mu.Unlock()
	}
	p, _ := batches(rt, pipeline.FanOutOptions{Limit: 2}, seen)
	out, err := p.Run(context.Background(), "3,1,2,5,4", pipeline.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, []int{6, 2, 4, 10, 8}, out)
	assert.LessOrEqual(t, most, 2)

	_, err = p.Run(context.Background(), "1,-2,3", pipeline.RunOptions{RunID: "batch-run-4"})
	var be *pipeline.BranchError
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, pipeline.ErrBranchFailed)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Equal(t, 3, be.Branches)
	assert.Equal(t, 2, be.Succeeded)
	require.Len(t, be.Failed, 1)
	f := be.Failed[0]
	assert.Equal(t, pipeline.FailedBranch{RunID: store.BranchID("batch-run-4", 1, 1), Pipeline: "doubles", Branch: 1,
		Status: store.DeadLettered, Step: "double", Class: retry.ClassPermanent, Error: f.Error}, f)
	assert.Contains(t, f.Error, "-2 is negative")
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	assert.Equal(t, "each", dl.Letter.Step)

	var runs []string
	for _, l := range letters.Letters() {
		runs = append(runs, l.Pipeline+" "+l.RunID+" "+l.Step)
	}
	assert.Equal(t, []string{"doubles batch-run-4.1.1 double", "batches batch-run-4 each"}, runs,
		"the failed branch's letter as its own run's, then its parent's")

	keep, _ := batches(pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{deadletter.NewMemory()}}),
		pipeline.FanOutOptions{Join: pipeline.KeepSucceeded()}, nil)
	out, err = keep.Run(context.Background(), "1,-2,3", pipeline.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, []int{2, 6}, out)
}

func TestBranchingStepsBuildErrors(t *testing.T) {
	k := pipelinetest.New(t)
	other := pipelinetest.New(t)
	list := func(name string) *pipeline.Pipeline[string, []int] {
		return pipeline.New(k.Runtime, name, splitStep(), noOutage)
	}
	sub := pipeline.New(k.Runtime, "doubles", doubleStep(nil), noOutage)
	elsewhere := pipeline.New(other.Runtime, "doubles", doubleStep(nil), noOutage)
	invalid := pipeline.Then(pipeline.New(k.Runtime, "invalid", doubleStep(nil), noOutage), doubleStep(nil))
	grown := pipeline.New(k.Runtime, "grown", doubleStep(nil), noOutage)
	pipeline.Then(grown, step.New("again", func(_ context.Context, n int) (int, error) { return n, nil }, step.Config{}))

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil sub", pipeline.FanOut(list("a"), "each", (*pipeline.Pipeline[int, int])(nil), pipeline.FanOutOptions{}).Err(), `step "each": the sub-pipeline is nil`},
		{"another runtime", pipeline.FanOut(list("b"), "each", elsewhere, pipeline.FanOutOptions{}).Err(), `sub-pipeline "doubles" is bound to another runtime`},
		{"in memory under a store", pipeline.FanOut(list("c"), "each", pipeline.New(nil, "mem", doubleStep(nil), noOutage), pipeline.FanOutOptions{}).Err(), `sub-pipeline "mem" is bound to another runtime`},
		{"invalid sub", pipeline.FanOut(list("d"), "each", invalid, pipeline.FanOutOptions{}).Err(), `duplicate step name "double"`},
		{"grown since", pipeline.FanOut(list("e"), "each", grown, pipeline.FanOutOptions{}).Err(), `is not the pipeline its runtime runs under that name`},
		{"negative limit", pipeline.FanOut(list("f"), "each", sub, pipeline.FanOutOptions{Limit: -1}).Err(), `FanOutOptions.Limit is -1`},
		{"share above 1", pipeline.FanOut(list("g"), "each", sub, pipeline.FanOutOptions{Join: pipeline.AtLeastShare(1.5)}).Err(), `AtLeastShare(1.5)`},
		{"share of 0", pipeline.FanOut(list("h"), "each", sub, pipeline.FanOutOptions{Join: pipeline.AtLeastShare(0)}).Err(), `AtLeastShare(0)`},
		{"at least 0", pipeline.FanOut(list("i"), "each", sub, pipeline.FanOutOptions{Join: pipeline.AtLeast(0)}).Err(), `AtLeast(0)`},
		{"no name", pipeline.FanOut(list("j"), "", sub, pipeline.FanOutOptions{}).Err(), `a branching step needs a name`},
		{"duplicate step", pipeline.FanOut(list("k"), "split", sub, pipeline.FanOutOptions{}).Err(), `duplicate step name "split"`},
		{"no routes", pipeline.Route(pipeline.New(k.Runtime, "l", doubleStep(nil), noOutage), "route", func(int) bool { return true }, map[bool]*pipeline.Pipeline[int, int]{}).Err(), `Route needs at least one route`},
		{"nil route", pipeline.Route(pipeline.New(k.Runtime, "m", doubleStep(nil), noOutage), "route", func(int) bool { return true }, map[bool]*pipeline.Pipeline[int, int]{true: nil}).Err(), `the route for key "true" is nil`},
		{"nil join", pipeline.Parallel2(pipeline.New(k.Runtime, "n", doubleStep(nil), noOutage), "both", sub, sub, (func(context.Context, int, int) (int, error))(nil)).Err(), `the join func is nil`},
		{"nil appended", pipeline.Append(pipeline.New(k.Runtime, "o", doubleStep(nil), noOutage), (*pipeline.Pipeline[int, int])(nil)).Err(), `the appended pipeline is nil`},
		{"appended elsewhere", pipeline.Append(pipeline.New(k.Runtime, "p", doubleStep(nil), noOutage), elsewhere).Err(), `appended pipeline "doubles" is bound to another runtime`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var be *pipeline.BuildError
			require.True(t, errors.As(tc.err, &be), "a build error: %v", tc.err)
			assert.ErrorContains(t, tc.err, tc.want)
		})
	}
}
