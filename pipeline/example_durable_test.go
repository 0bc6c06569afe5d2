package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Durable runs: Submit enqueues, a worker claims and checkpoints every
// step, a failed run is dead-lettered in the store, and Replay runs it
// again from the failed step with a patched input.
func ExamplePipeline_Submit() {
	st := memstore.New(memstore.Config{})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	p := pipeline.Then(pipeline.New(rt, "leads", step.New("parse", parse, step.Config{Retry: retry.Never}), pol),
		step.New("classify", classify, step.Config{}))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = rt.Work(ctx, pipeline.WorkerConfig{Poll: 10 * time.Millisecond}) }()
	wait := func(id string) *store.RunDetail {
		for {
			d, _ := p.Get(ctx, id)
			if d.Run.Status != store.Queued && d.Run.Status != store.Running {
				return d
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	id, _ := p.Submit(ctx, RawLead{Text: "Ada, no address"}, pipeline.SubmitOptions{IdempotencyKey: "form-17"})
	d := wait(id)
	fmt.Println(d.Run.Status, d.Run.Step, d.Run.Class)

	_, err := p.Replay(ctx, id, pipeline.ReplayOptions{Input: json.RawMessage(`{"text":"Ada <ada@example.com>"}`)})
	fmt.Println(err)
	d = wait(id)
	fmt.Println(d.Run.Status, "on attempt", d.Run.Attempt, string(d.Run.Output))
	// Output:
	// dead_lettered parse permanent
	// <nil>
	// succeeded on attempt 2 {"lead":{"name":"Ada","email":"ada@example.com"},"stage":"warm"}
}
