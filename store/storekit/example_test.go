package storekit_test

import (
	"encoding/json"
	"fmt"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// A store plans a replay with PlanReplay inside the transaction that
// writes it: the replay starts at the failed step and carries the
// checkpoints before it.
func ExamplePlanReplay() {
	def := &store.PipelineDef{Name: "leads", Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}}
	run := &store.Run{ID: "run-1", Pipeline: "leads", Status: store.DeadLettered, Attempt: 1, Step: "classify",
		Input: json.RawMessage(`{"email":"ada@example.com"}`)}
	recs := []store.StepRecord{
		{RunID: "run-1", RunAttempt: 1, Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"name":"Ada"}`)},
		{RunID: "run-1", RunAttempt: 1, Index: 1, Step: "classify", Status: store.StepFailed, Error: "bad label"},
	}
	plan, err := storekit.PlanReplay(run, recs, def, store.ReplayRequest{RunID: "run-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(plan.From, plan.FromStep, plan.Reason)
	for _, c := range plan.Carry {
		fmt.Println(c.Step, c.Status, c.Note)
	}
	// Output:
	// 1 classify replay from classify
	// parse reused reused from attempt 1
}
