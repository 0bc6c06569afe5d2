package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Code beside a pipeline reads the runtime's settings, defaults applied,
// to stamp and log as the pipeline does.
func ExampleRuntime_Config() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: memstore.New(memstore.Config{})})
	cfg := rt.Config()
	fmt.Println(cfg.Clock == retry.SystemClock, cfg.LongWait)
	// Output: true 30s
}

// A run written other than through Submit (here the store's own Import)
// needs its pipeline's definition in the store for a replay to find it.
func ExamplePipeline_Register() {
	st := memstore.New(memstore.Config{})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	if err := p.Register(context.Background()); err != nil {
		panic(err)
	}
	def, _ := st.Pipeline(context.Background(), "leads")
	fmt.Println(def.Name, def.Steps[0].Name)

	inMemory := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	fmt.Println(inMemory.Register(context.Background()) == pipeline.ErrNoStore)
	// Output:
	// leads parse
	// true
}

// An event sent beside the pipeline's own goes where they go: here the
// Policy's notifier, with the pipeline's name and link filled in.
func ExamplePipeline_Notify() {
	told := notify.Func(func(_ context.Context, e notify.Event) error {
		fmt.Println(e.Kind, e.Pipeline, e.Link)
		return nil
	})
	p := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{Notifier: told})
	_ = p.Notify(context.Background(), notify.Event{Kind: notify.ReviewNeeded, RunID: "r-1", Reason: "a lead from a new domain"})
	// Output: review_needed leads plumb runs show r-1
}
