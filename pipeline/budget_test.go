package pipeline_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

type Summary struct {
	Text string `json:"text" jsonschema:"minLength=1"`
}

// Config.RunBudget is one budget for every model step of a run: what the
// first step spent counts against the second, whose call would cross it
// and is not made. Each run has a budget of its own.
func TestRunBudgetIsSharedByTheModelStepsOfARun(t *testing.T) {
	k := pipelinetest.New(t)
	model := llmtest.New(llmtest.Config{Model: "m", Respond: func(req llm.Request) llmtest.Answer {
		return llmtest.Answer{Text: `{"text":"fine"}`, Usage: llm.Usage{InputTokens: 800, OutputTokens: 100}}
	}})
	ask := func(s Summary) []llm.Message { return []llm.Message{llm.User("Summarise: " + s.Text)} }
	o := llm.Options{Retry: retry.Never, MaxTokens: 100}
	pol := pipeline.Policy{Outage: pipeline.NoOutage, RunBudget: llm.Budget{Tokens: 1000}}
	p := pipeline.Then(pipeline.New(k.Runtime, "summaries", llm.Structured[Summary]("first", model, ask, o), pol),
		llm.Structured[Summary]("second", model, ask, o))
	require.NoError(t, p.Err())

	for i := range 2 {
		_, err := p.Run(k.Context(), Summary{Text: fmt.Sprint("report ", i)}, pipeline.RunOptions{})
		require.Error(t, err, "run %d", i)
		assert.ErrorIs(t, err, retry.ErrBudget)
		var be *llm.BudgetExceededError
		require.ErrorAs(t, err, &be)
		assert.Equal(t, "run", be.Scope)
		assert.Equal(t, llm.Budget{Tokens: 1000}, be.Limit)
		assert.Equal(t, 900, be.SpentTokens, "the first step's call counts against the run")
		var se *step.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "second", se.Step)
	}
	assert.Len(t, model.Calls(), 2, "one call a run: the second step's would cross the run's budget")
}
