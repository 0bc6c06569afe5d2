package storekit_test

import (
	"encoding/json"
	"fmt"

	"github.com/plumb-dev/plumb/step"
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

// A store keeps a step record's attempts as one versioned blob, and reads
// the bare array stores wrote before the format had a version.
func ExampleDecodeAttempts() {
	blob, _ := storekit.EncodeAttempts([]store.AttemptRecord{{Step: "classify", Number: 1, Kind: step.AttemptReask, Reask: 1}})
	fmt.Printf("%q\n", blob)
	back, _ := storekit.DecodeAttempts(blob)
	fmt.Println(back[0].Step, back[0].Kind, back[0].Reask)

	old, _ := storekit.DecodeAttempts([]byte(`[{"step":"classify","number":1,"start":"0001-01-01T00:00:00Z","duration":0,"error":"bad label","class":"contract"}]`))
	fmt.Println(old[0].Step, old[0].Kind, old[0].Class)
	// Output:
	// "\x02\x01\x06\bclassify\x01\x00\x1a{\"kind\":\"reask\",\"reask\":1}"
	// classify reask 1
	// classify call contract
}

// A store plans a fork with CheckFork and PlanFork inside the transaction
// that writes it: children beyond the limit wait for a slot, and the
// parent waits for its live children.
func ExamplePlanFork() {
	f := store.Fork{Record: store.StepRecord{Index: 1, Step: "enrich", Status: store.StepWaiting}, Limit: 2}
	for i, lead := range []string{"ada", "grace", "edsger"} {
		f.Children = append(f.Children, store.NewRun{ID: store.BranchID("run-1", 1, i), Pipeline: "enrich-lead",
			Input:  json.RawMessage(`{"lead":"` + lead + `"}`),
			Parent: &store.Parent{RunID: "run-1", Step: "enrich", Index: 1, Branch: i}})
	}
	if err := storekit.CheckFork("run-1", f); err != nil {
		fmt.Println(err)
		return
	}
	plan := storekit.PlanFork(f, nil)
	for _, c := range plan.Create {
		fmt.Println(c.Run.ID, c.Status)
	}
	fmt.Println("parent", plan.Parent, "live", plan.Live)
	// Output:
	// run-1.1.0 queued
	// run-1.1.1 queued
	// run-1.1.2 waiting
	// parent waiting live 3
}
