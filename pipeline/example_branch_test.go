package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// A fan-out maps a list through a sub-pipeline, each element a branch run
// of its own; the outputs come back in the order of the elements. With a
// store, the branches run on every worker and the parent waits for them
// holding none.
func ExampleFanOut() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{deadletter.NewMemory()}})
	words := pipeline.New(rt, "headlines", step.New("split", func(_ context.Context, s string) ([]string, error) {
		return strings.Fields(s), nil
	}, step.Config{}), pipeline.Policy{})
	title := pipeline.New(rt, "titles", step.New("title", func(_ context.Context, w string) (string, error) {
		if w == "x" {
			return "", retry.Permanent(errors.New("not a word"))
		}
		return strings.ToUpper(w[:1]) + w[1:], nil
	}, step.Config{}), pipeline.Policy{})

	all := pipeline.FanOut(words, "each", title, pipeline.FanOutOptions{Limit: 2})
	out, err := all.Run(context.Background(), "plumb keeps working", pipeline.RunOptions{})
	fmt.Println(out, err)

	_, err = all.Run(context.Background(), "plumb x works", pipeline.RunOptions{RunID: "run-1"})
	var be *pipeline.BranchError
	if errors.As(err, &be) {
		fmt.Println(be.Failed[0].RunID, be.Failed[0].Step, be.Failed[0].Class)
	}

	some := pipeline.FanOut(words, "some", title, pipeline.FanOutOptions{Join: pipeline.KeepSucceeded()})
	out, err = some.Run(context.Background(), "plumb x works", pipeline.RunOptions{})
	fmt.Println(out, err)
	// Output:
	// [Plumb Keeps Working] <nil>
	// run-1.1.1 title permanent
	// [Plumb Works] <nil>
}

// A route sends a value to the one sub-pipeline its key names; a key with
// no route is an error that names it, never a silent drop.
func ExampleRoute() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{deadletter.NewMemory()}})
	reply := func(team string) *pipeline.Pipeline[string, string] {
		return pipeline.New(rt, team, step.New("reply", func(_ context.Context, s string) (string, error) {
			return team + " answers: " + s, nil
		}, step.Config{}), pipeline.Policy{})
	}
	intake := pipeline.New(rt, "support", step.New("trim", func(_ context.Context, s string) (string, error) {
		return strings.TrimSpace(s), nil
	}, step.Config{}), pipeline.Policy{})
	kind := func(s string) string { k, _, _ := strings.Cut(s, ":"); return k }
	p := pipeline.Route(intake, "route", kind, map[string]*pipeline.Pipeline[string, string]{
		"bug":     reply("engineering"),
		"invoice": reply("billing"),
	})

	out, err := p.Run(context.Background(), " invoice: twice charged ", pipeline.RunOptions{})
	fmt.Println(out, err)
	_, err = p.Run(context.Background(), "hello: anyone?", pipeline.RunOptions{})
	var nr *pipeline.NoRouteError
	fmt.Println(errors.As(err, &nr), nr.Key)
	// Output:
	// billing answers: invoice: twice charged <nil>
	// true hello
}

// Two sub-pipelines take the same input at once; their outputs are joined
// into one typed value.
func ExampleParallel2() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{})
	length := pipeline.New(rt, "length", step.New("count", func(_ context.Context, s string) (int, error) {
		return len(s), nil
	}, step.Config{}), pipeline.Policy{})
	shout := pipeline.New(rt, "shout", step.New("upper", func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	}, step.Config{}), pipeline.Policy{})
	in := pipeline.New(rt, "posts", step.New("trim", func(_ context.Context, s string) (string, error) {
		return strings.TrimSpace(s), nil
	}, step.Config{}), pipeline.Policy{})

	p := pipeline.Parallel2(in, "both", length, shout, func(_ context.Context, n int, loud string) (string, error) {
		return fmt.Sprintf("%s (%d characters)", loud, n), nil
	})
	out, err := p.Run(context.Background(), " ship it ", pipeline.RunOptions{})
	fmt.Println(out, err)
	// Output:
	// SHIP IT (7 characters) <nil>
}

// A pipeline appended to another runs inline, in the same run, its steps
// recorded under "<sub>/<step>".
func ExampleAppend() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{})
	clean := pipeline.Then(pipeline.New(rt, "clean", step.New("trim", func(_ context.Context, s string) (string, error) {
		return strings.TrimSpace(s), nil
	}, step.Config{}), pipeline.Policy{}), step.New("lower", func(_ context.Context, s string) (string, error) {
		return strings.ToLower(s), nil
	}, step.Config{}))
	intake := pipeline.New(rt, "signups", step.New("trim", func(_ context.Context, s string) (string, error) {
		return s, nil
	}, step.Config{}), pipeline.Policy{})

	p := pipeline.Append(intake, clean)
	fmt.Println(p.Steps())
	out, err := p.Run(context.Background(), "  Ada@Example.COM ", pipeline.RunOptions{})
	fmt.Println(out, err)
	// Output:
	// [trim clean/trim clean/lower]
	// ada@example.com <nil>
}
