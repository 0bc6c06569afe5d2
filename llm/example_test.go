package llm_test

import (
	"context"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// A model answers with a wrong enum and no reason; the step re-asks with
// the violations and the second answer meets the contract.
func ExampleStructured() {
	model := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{
		llmtest.Text(`Sure! {"stage": "HOT", "confidence": 0.9}`),
		llmtest.Text(`{"stage": "hot", "confidence": 0.9, "reason": "wants a demo this week"}`),
	}})
	classify := llm.Structured[Label]("classify", model, prompt, llm.Options{})

	res, err := classify.Run(context.Background(), Lead{Name: "Ada", Message: "Can we get a demo this week?"})
	fmt.Println(res.Output.Stage, res.Output.Reason, err)
	for _, a := range res.Attempts {
		fmt.Printf("attempt %d, %s (re-ask %d): %d violations\n", a.Number, a.Kind, a.Reask, len(a.Violations))
	}
	fmt.Println(model.Calls()[1].Messages[3].Content)
	// Output:
	// hot wants a demo this week <nil>
	// attempt 1, call (re-ask 0): 2 violations
	// attempt 2, reask (re-ask 1): 0 violations
	// Your answer does not match the required JSON schema.
	// - (the whole answer): missing required property "reason"
	// - /stage: "HOT" is not one of "new", "warm", "hot"
	// Answer again with only the corrected JSON document: fix every problem listed, change nothing else, and add no commentary.
}

// The primary model keeps failing with 503s; once its retries are spent the
// fallback model answers. Each attempt says in typed fields what it was.
func ExampleFallbackModel() {
	down := llmtest.New(llmtest.Config{Model: "big", Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: llm.ErrServer, Class: retry.ClassTransient, StatusCode: 503}}
	}})
	small := llmtest.New(llmtest.Config{Model: "small", Answers: []llmtest.Answer{
		llmtest.Text(`{"stage": "warm", "confidence": 0.6, "reason": "asked for pricing"}`),
	}})
	classify := llm.Structured[Label]("classify", down, prompt, llm.Options{
		FallbackModels: []llm.Model{small},
		Retry:          retry.Policy{MaxAttempts: 2, InitialInterval: time.Millisecond, Jitter: -1},
	})

	res, _ := classify.Run(context.Background(), Lead{Name: "Ada", Message: "What does it cost?"})
	for _, a := range res.Attempts {
		fmt.Printf("%d %s model=%s fallback=%q failed=%t\n", a.Number, a.Kind, a.Model, llm.FallbackModel(a), a.Error != "")
	}
	// Output:
	// 1 call model=big fallback="" failed=true
	// 2 retry model=big fallback="" failed=true
	// 3 fallback_model model=small fallback="small" failed=false
}

// Fallback models are tried inside the step; a fallback step added with Or
// (keyword rules here) answers once every model has failed.
func ExampleStructured_fallbackStep() {
	refuses := llmtest.New(llmtest.Config{Model: "big", Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: retry.ErrRefusal, Class: retry.ClassRefusal}}
	}})
	small := llmtest.New(llmtest.Config{Model: "small", Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: llm.ErrModelNotFound, Class: retry.ClassPermanent, StatusCode: 404}}
	}})
	byRules := step.New("classify-by-rules", func(_ context.Context, l Lead) (Label, error) {
		return Label{Stage: "new", Confidence: 0.3, Reason: "no model answered; keyword rules"}, nil
	}, step.Config{})
	classify := llm.Structured[Label]("classify", refuses, prompt, llm.Options{FallbackModels: []llm.Model{small}}).Or(byRules)

	res, err := classify.Run(context.Background(), Lead{Name: "Ada", Message: "Hello"})
	fmt.Println(res.By, res.Output.Stage, err)
	for _, a := range res.Attempts {
		fmt.Printf("%d %s %s model=%q class=%s\n", a.Number, a.Step, a.Kind, a.Model, a.Class)
	}
	// Output:
	// classify-by-rules new <nil>
	// 1 classify call model="big" class=refusal
	// 2 classify fallback_model model="small" class=permanent
	// 3 classify-by-rules call model="" class=
}

// Rate limits shared by every step that uses the model.
func ExampleLimit() {
	model := llm.Limit(llmtest.New(llmtest.Config{Model: "example-model"}), llm.Limits{RequestsPerMinute: 500, TokensPerMinute: 200_000})
	fmt.Println(model.Info().Model)
	// Output: example-model
}
