package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/memstore"
)

// qualified is the prospect the new build takes: it scores only those
// scored 50 or more.
type qualified struct {
	Name  string `json:"name" jsonschema:"minLength=1"`
	Score int    `json:"score" jsonschema:"minimum=50"`
}

// The deploy-time check: the CI of a new build makes its pipelines on a
// runtime over a copy of production's store, and fails the deploy when a
// run there would break the new definitions (a worker of the new build
// would hold it).
func ExampleRuntime_CheckVersions() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	prod := memstore.New(memstore.Config{})

	// What production runs: v1, with two runs in its queue.
	live := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: prod, Logger: quiet})
	v1 := pipeline.New(live, "prospects", step.New("score", func(_ context.Context, p prospect) (scoredV1, error) {
		return scoredV1{p.Name, p.Score}, nil
	}, step.Config{}), pipeline.Policy{Version: "v1"})
	_, _ = v1.Submit(ctx, prospect{"Ada", 80}, pipeline.SubmitOptions{RunID: "run-1"})
	_, _ = v1.Submit(ctx, prospect{"Bob", 10}, pipeline.SubmitOptions{RunID: "run-2"})

	// The new build, in CI.
	ci := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: prod, Logger: quiet})
	v2 := pipeline.New(ci, "prospects", step.New("score", func(_ context.Context, q qualified) (scoredV2, error) {
		return scoredV2{q.Name, q.Score}, nil
	}, step.Config{}), pipeline.Policy{Version: "v2"})

	rep, err := ci.CheckVersions(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("checked %d runs of prospects against %s: %d would break it\n", rep.Checked, v2.Version().Label, len(rep.Broken))
	for _, inc := range rep.Broken {
		fmt.Printf("%s (%s) at step %s, %s: %s\n", inc.RunID, inc.Version.Label, inc.Step, inc.What, inc.Reason)
	}
	if !rep.OK() {
		fmt.Println("the deploy fails: replay or cancel these runs first, or accept them")
	}
	// Output:
	// checked 2 runs of prospects against v2: 1 would break it
	// run-2 (v1) at step score, input: its input breaks the input contract of step score (/score: must be at least 50, got 10)
	// the deploy fails: replay or cancel these runs first, or accept them
}
