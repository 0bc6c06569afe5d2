package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

type Ticket struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

type Answer struct {
	Team  string `json:"team"`
	Reply string `json:"reply"`
}

func answering(rt *pipeline.Runtime, team string) *pipeline.Pipeline[Ticket, Answer] {
	return pipeline.New(rt, team, step.New("answer", func(_ context.Context, t Ticket) (Answer, error) {
		return Answer{Team: team, Reply: "re: " + t.Text}, nil
	}, step.Config{}), noOutage)
}

func triage(rt *pipeline.Runtime) *pipeline.Pipeline[string, Answer] {
	intake := pipeline.New(rt, "tickets", step.New("read", func(_ context.Context, s string) (Ticket, error) {
		kind, text, _ := strings.Cut(s, ":")
		return Ticket{Kind: kind, Text: text}, nil
	}, step.Config{}), noOutage)
	return pipeline.Route(intake, "route", func(t Ticket) string { return t.Kind }, map[string]*pipeline.Pipeline[Ticket, Answer]{
		"billing": answering(rt, "billing"),
		"bug":     answering(rt, "engineering"),
	})
}

func TestRouteRecordsTheChosenRoute(t *testing.T) {
	k := pipelinetest.New(t)
	p := triage(k.Runtime)
	require.NoError(t, p.Err())
	id, err := p.Submit(k.Context(), "bug:it crashes", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()

	d := k.AssertSucceeded(id)
	assert.JSONEq(t, `{"team":"engineering","reply":"re: it crashes"}`, string(d.Run.Output))
	assert.Equal(t, "route:bug", lastRecord(d, "route").By, "the record names the route taken")
	// Routes are numbered in their keys' order: billing 0, bug 1.
	c := k.AssertSucceeded(store.BranchID(id, 1, 1))
	assert.Equal(t, "engineering", c.Run.Pipeline)
	assert.Equal(t, "bug", c.Run.Parent.Name)
}

func TestRouteOfAKeyWithNoRouteDeadLettersNamingTheKey(t *testing.T) {
	k := pipelinetest.New(t)
	p := triage(k.Runtime)
	id, err := p.Submit(k.Context(), "sales:a quote please", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertDeadLettered(id, "route", retry.ClassPermanent)
	assert.Contains(t, d.Run.Error, `no route for key "sales"`)
	page, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: id})
	require.NoError(t, err)
	assert.Empty(t, page.Runs)

	// In memory, the same: a *NoRouteError, never a silent drop.
	letters := deadletter.NewMemory()
	mem := pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{letters}})
	_, err = triage(mem).Run(context.Background(), "sales:a quote please", pipeline.RunOptions{})
	var nr *pipeline.NoRouteError
	require.ErrorAs(t, err, &nr)
	assert.Equal(t, pipeline.NoRouteError{Pipeline: "tickets", Step: "route", Key: "sales"}, *nr)
	assert.ErrorIs(t, err, pipeline.ErrNoRoute)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Len(t, letters.Letters(), 1)
}

type Profile struct {
	Name  string `json:"name"`
	Score int    `json:"score"`
	Tags  string `json:"tags"`
}

func TestParallelStepsTakeTheSameInputAndJoinTheirOutputs(t *testing.T) {
	for _, durable := range []bool{true, false} {
		t.Run(fmt.Sprintf("durable=%v", durable), func(t *testing.T) {
			k := pipelinetest.New(t)
			rt := k.Runtime
			if !durable {
				rt = nil
			}
			named := pipeline.New(rt, "names", step.New("upper", func(_ context.Context, s string) (string, error) { return strings.ToUpper(s), nil }, step.Config{}), noOutage)
			scored := pipeline.New(rt, "scores", step.New("length", func(_ context.Context, s string) (int, error) { return len(s), nil }, step.Config{}), noOutage)
			tagged := pipeline.New(rt, "tags", step.New("tag", func(_ context.Context, s string) (string, error) { return "#" + s, nil }, step.Config{}), noOutage)
			in := pipeline.New(rt, "profiles", step.New("trim", func(_ context.Context, s string) (string, error) { return strings.TrimSpace(s), nil }, step.Config{}), noOutage)
			two := pipeline.Parallel2(in, "enrich", named, scored, func(_ context.Context, n string, s int) (Profile, error) {
				return Profile{Name: n, Score: s}, nil
			})
			require.NoError(t, two.Err())
			if durable {
				id, err := two.Submit(k.Context(), " ada ", pipeline.SubmitOptions{})
				require.NoError(t, err)
				k.Drain()
				d := k.AssertSucceeded(id)
				assert.JSONEq(t, `{"name":"ADA","score":3,"tags":""}`, string(d.Run.Output))
				assert.Equal(t, "names", k.Get(store.BranchID(id, 1, 0)).Run.Parent.Name)
				assert.Equal(t, "scores", k.Get(store.BranchID(id, 1, 1)).Run.Parent.Name)
			} else {
				out, err := two.Run(context.Background(), " ada ", pipeline.RunOptions{})
				require.NoError(t, err)
				assert.Equal(t, Profile{Name: "ADA", Score: 3}, out)
			}

			in3 := pipeline.New(rt, "profiles3", step.New("trim", func(_ context.Context, s string) (string, error) { return strings.TrimSpace(s), nil }, step.Config{}), noOutage)
			three := pipeline.Parallel3(in3, "enrich", named, scored, tagged, func(_ context.Context, n string, s int, tg string) (Profile, error) {
				if s > 10 {
					return Profile{}, errors.New("too long a name")
				}
				return Profile{Name: n, Score: s, Tags: tg}, nil
			})
			require.NoError(t, three.Err())
			if durable {
				ok, err := three.Submit(k.Context(), "bob", pipeline.SubmitOptions{})
				require.NoError(t, err)
				bad, err := three.Submit(k.Context(), "bartholomew", pipeline.SubmitOptions{})
				require.NoError(t, err)
				k.Drain()
				assert.JSONEq(t, `{"name":"BOB","score":3,"tags":"#bob"}`, string(k.AssertSucceeded(ok).Run.Output))
				d := k.AssertDeadLettered(bad, "enrich", retry.ClassPermanent)
				assert.Contains(t, d.Run.Error, "too long a name", "an unclassified error of the join fails the step permanently")
			} else {
				out, err := three.Run(context.Background(), "bob", pipeline.RunOptions{})
				require.NoError(t, err)
				assert.Equal(t, Profile{Name: "BOB", Score: 3, Tags: "#bob"}, out)
			}
		})
	}
}

func TestAppendRunsASubPipelineInlineUnderItsOwnStepNames(t *testing.T) {
	k := pipelinetest.New(t)
	cleanup := pipeline.Then(pipeline.New(k.Runtime, "cleanup", step.New("trim", func(_ context.Context, s string) (string, error) {
		return strings.TrimSpace(s), nil
	}, step.Config{}), noOutage), step.New("upper", func(_ context.Context, s string) (string, error) { return strings.ToUpper(s), nil }, step.Config{}))
	first := pipeline.New(k.Runtime, "greetings", step.New("trim", func(_ context.Context, s string) (string, error) { return s + " ", nil }, step.Config{}), pipeline.Policy{})
	p := pipeline.Then(pipeline.Append(first, cleanup), step.New("greet", func(_ context.Context, s string) (string, error) { return "hello " + s, nil }, step.Config{}))
	require.NoError(t, p.Err())
	assert.Equal(t, []string{"trim", "cleanup/trim", "cleanup/upper", "greet"}, p.Steps(), "the sub's steps keep their names, under the sub's")

	k.Fail("upper", retry.ClassTransient, 0)
	id, err := p.Submit(k.Context(), " ada", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertStatus(id, store.Queued)
	k.Heal("upper")
	k.Clock.Advance(pipeline.DefaultOutage[0])
	k.Drain()
	d := k.AssertSucceeded(id)
	assert.JSONEq(t, `"hello ADA"`, string(d.Run.Output))
	var checkpoints []string
	for _, r := range d.Steps {
		checkpoints = append(checkpoints, r.Step+" "+string(r.Status))
	}
	assert.Equal(t, []string{"trim succeeded", "cleanup/trim succeeded", "cleanup/upper deferred", "cleanup/upper succeeded", "greet succeeded"}, checkpoints,
		"one record; each of the sub's steps checkpointed, and resumed from after a wait")
	page, err := k.Store.ListRuns(context.Background(), store.RunFilter{Parent: id})
	require.NoError(t, err)
	assert.Empty(t, page.Runs, "an appended pipeline runs inline, not as a branch run")
}
