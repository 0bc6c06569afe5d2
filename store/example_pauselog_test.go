package store_test

import (
	"context"
	"fmt"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Every pause and resume is kept with who took it and why: here the
// breaker trips, then an operator resumes the pipeline.
func ExampleOps_PipelineLog() {
	ctx := context.Background()
	s := memstore.New(memstore.Config{})
	_ = s.SetPause(ctx, store.Pause{Pipeline: "leads", Reason: "classify failing 60% of 20", By: "breaker:classify"})
	_, _ = s.ClearPause(ctx, store.Resume{Pipeline: "leads", By: "ana@example.com", Reason: "the provider is back"})

	log, _ := s.PipelineLog(ctx, "leads", 0)
	for _, e := range log {
		fmt.Printf("%s by %s: %s\n", e.Action, e.By, e.Reason)
	}
	// Output:
	// resumed by ana@example.com: the provider is back
	// paused by breaker:classify: classify failing 60% of 20
}
