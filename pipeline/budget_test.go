package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
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

// What a step's model calls spent before its run was deferred (an outage
// schedule's wait in the queue) counts against the run's budget when the
// run resumes, and in what the run records it spent: a deferral gives
// the run none of its budget back.
func TestRunBudgetSurvivesADeferral(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		var calls atomic.Int32
		model := llmtest.New(llmtest.Config{Model: "m", Respond: func(req llm.Request) llmtest.Answer {
			switch calls.Add(1) {
			case 1:
				// Spends, and breaks the contract: the step re-asks.
				return llmtest.Answer{Text: `{"text":""}`, Usage: llm.Usage{InputTokens: 600, OutputTokens: 100}}
			case 2:
				// The provider is down: the run waits in the queue.
				return llmtest.Answer{Err: &llm.Error{Provider: "llmtest", Kind: llm.ErrServer, Class: retry.ClassTransient, StatusCode: 503}}
			default:
				return llmtest.Answer{Text: `{"text":"fine"}`, Usage: llm.Usage{InputTokens: 150, OutputTokens: 50}}
			}
		}})
		ask := func(s Summary) []llm.Message { return []llm.Message{llm.User("Summarise: " + s.Text)} }
		o := llm.Options{Retry: retry.Never, MaxTokens: 100}
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		pol := pipeline.Policy{Outage: []time.Duration{time.Minute}, RunBudget: llm.Budget{Tokens: 1000}}
		p := pipeline.Then(pipeline.New(rt, "summaries", llm.Structured[Summary]("summarise", model, ask, o), pol),
			llm.Structured[Summary]("shorten", model, ask, o))
		require.NoError(t, p.Err())

		id, err := p.Submit(context.Background(), Summary{Text: "report"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		d := getRun(t, st, id)
		require.Equal(t, store.Queued, d.Run.Status)
		require.Equal(t, 1, d.Run.Deferrals, "the outage deferred the run")
		assert.Equal(t, 700, d.Run.Spent.Tokens, "what the attempt spent up to its deferral")
		clock.(*retrytest.Clock).Advance(time.Minute)
		drainAwaits(t, rt)
		d = getRun(t, st, id)
		assert.Equal(t, store.DeadLettered, d.Run.Status)
		assert.Equal(t, "shorten", d.Run.Step)
		assert.Equal(t, retry.ClassBudget, d.Run.Class)
		assert.Equal(t, int32(3), calls.Load(), "700 before the deferral and 200 after leave too little for shorten's call")
		assert.Equal(t, 900, d.Run.Spent.Tokens, "the attempt's spending, both executions")
	})
}
