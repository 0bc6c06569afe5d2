package llmtest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
)

// A scripted model that answers well, with a 100% chance of a wrong enum
// injected: the schema in the request says which field to break.
func ExampleNew() {
	model := llmtest.New(llmtest.Config{
		Respond: func(req llm.Request) llmtest.Answer {
			return llmtest.Text(`{"stage":"warm","score":0.7,"contact":{"email":"ada@example.com","phone":"+44"}}`)
		},
		Faults: llmtest.Faults{Seed: 1, RateLimited: 1},
	})
	_, err := model.Generate(context.Background(), llm.Request{Messages: []llm.Message{llm.User("hi")}})
	fmt.Println(errors.Is(err, llm.ErrRateLimited), model.Injected()[llmtest.FaultRateLimited])
	// Output: true 1
}
