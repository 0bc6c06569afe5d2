package llm_test

import (
	"context"
	"fmt"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// A model answers with a wrong enum and no reason; the step re-asks with
// the violations and the second answer meets the contract.
func ExampleStructured() {
	model := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{
		llmtest.Text(`Sure! {"stage": "HOT", "confidence": 0.9}`),
		llmtest.Text(`{"stage": "hot", "confidence": 0.9, "reason": "wants a demo this week"}`),
	}})
	classify := llm.Structured[Lead, Label]("classify", model, prompt)

	res, err := classify.Run(context.Background(), Lead{Name: "Ada", Message: "Can we get a demo this week?"})
	fmt.Println(res.Output.Stage, res.Output.Reason, err)
	for _, a := range res.Attempts {
		fmt.Printf("call %d %q: %d violations\n", a.Number, a.Note, len(a.Violations))
	}
	fmt.Println(model.Calls()[1].Messages[3].Content)
	// Output:
	// hot wants a demo this week <nil>
	// call 1 "": 2 violations
	// call 2 "re-ask 1": 0 violations
	// Your answer does not match the required JSON schema.
	// - (the whole answer): missing required property "reason"
	// - /stage: "HOT" is not one of "new", "warm", "hot"
	// Answer again with only the corrected JSON document: fix every problem listed, change nothing else, and add no commentary.
}

// Rate limits shared by every step that uses the model.
func ExampleLimit() {
	model := llm.Limit(llmtest.New(llmtest.Config{Model: "example-model"}), llm.Limits{RequestsPerMinute: 500, TokensPerMinute: 200_000})
	fmt.Println(model.Info().Model)
	// Output: example-model
}
