package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// A branch awaiting review is live: its parent waits until a person
// decides, and then joins.
func TestABranchInReviewKeepsItsParentWaiting(t *testing.T) {
	k := pipelinetest.New(t)
	sub := pipeline.New(k.Runtime, "doubles", step.New("double", func(_ context.Context, n int) (int, error) { return 2 * n, nil },
		step.Config{Review: step.ReviewRule{If: func(n int) (string, bool) { return "a large amount", n > 100 }}}), noOutage)
	p := pipeline.FanOut(pipeline.New(k.Runtime, "batches", splitStep(), noOutage), "each", sub, pipeline.FanOutOptions{})
	id, err := p.Submit(k.Context(), "1,200", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()

	child := store.BranchID(id, 1, 1)
	k.AssertAwaitingReview(child, "double")
	k.AssertStatus(id, store.Waiting)

	ref, err := store.CurrentReview(context.Background(), k.Store, child)
	require.NoError(t, err)
	_, err = store.Approve(context.Background(), k.Store, child, ref, "ops@example.com", nil)
	require.NoError(t, err)
	k.Drain()
	assert.JSONEq(t, `[2,400]`, string(k.AssertSucceeded(id).Run.Output))
}

// A branch's transient failure waits out the outage schedule in the queue
// like any run's, and its parent waits with it, holding no worker.
func TestABranchWaitsOutAnOutageWhileItsParentWaits(t *testing.T) {
	k := pipelinetest.New(t)
	sub := pipeline.New(k.Runtime, "doubles", doubleStep(nil), pipeline.Policy{})
	p := pipeline.FanOut(pipeline.New(k.Runtime, "batches", splitStep(), noOutage), "each", sub, pipeline.FanOutOptions{})
	k.Fail("double", retry.ClassTransient, 0)
	id, err := p.Submit(k.Context(), "1,2", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertStatus(store.BranchID(id, 1, 0), store.Queued)
	k.AssertStatus(id, store.Waiting)

	k.Heal("double")
	k.Clock.Advance(pipeline.DefaultOutage[0])
	k.Drain()
	assert.JSONEq(t, `[2,4]`, string(k.AssertSucceeded(id).Run.Output))
}

// A sub-pipeline's breaker counts its branch runs: failing branches pause
// its intake, and the failures wait for it to heal.
func TestABranchPipelinesBreakerCountsItsBranches(t *testing.T) {
	k := pipelinetest.New(t)
	sub := pipeline.New(k.Runtime, "doubles", doubleStep(nil), pipeline.Policy{Outage: pipeline.NoOutage, Breaker: pipeline.BreakerConfig{Consecutive: 2}})
	p := pipeline.FanOut(pipeline.New(k.Runtime, "batches", splitStep(), noOutage), "each", sub, pipeline.FanOutOptions{})
	id, err := p.Submit(k.Context(), "-1,-2,-3,4", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	pause, err := k.Store.GetPause(context.Background(), "doubles")
	require.NoError(t, err)
	require.NotNil(t, pause, "the branches' failures tripped the sub-pipeline's breaker")
	k.AssertStatus(id, store.Waiting)
}

// A run's budget covers its branches: each branch may spend what its
// parent had left when it forked, and the join refuses the branches'
// total when it crosses the parent's budget.
func TestARunBudgetCoversItsBranches(t *testing.T) {
	k := pipelinetest.New(t)
	model := llmtest.New(llmtest.Config{Model: "m", Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Text: `{"text":"fine"}`, Usage: llm.Usage{InputTokens: 500, OutputTokens: 100}}
	}})
	ask := func(s Summary) []llm.Message { return []llm.Message{llm.User("Summarise: " + s.Text)} }
	sub := pipeline.New(k.Runtime, "summaries", llm.Structured[Summary]("summarise", model, ask, llm.Options{Retry: retry.Never, MaxTokens: 100}), noOutage)
	split := step.New("split", func(_ context.Context, s string) ([]Summary, error) {
		var out []Summary
		for _, f := range strings.Split(s, ",") {
			out = append(out, Summary{Text: f})
		}
		return out, nil
	}, step.Config{})
	p := pipeline.FanOut(pipeline.New(k.Runtime, "reports", split, pipeline.Policy{Outage: pipeline.NoOutage, RunBudget: llm.Budget{Tokens: 1000}}),
		"each", sub, pipeline.FanOutOptions{})
	require.NoError(t, p.Err())
	id, err := p.Submit(k.Context(), "a,b,c", pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()

	for i := range 3 {
		c := k.AssertSucceeded(store.BranchID(id, 1, i))
		assert.Equal(t, store.Spend{Tokens: 1000}, c.Run.Budget, "a branch may spend what its parent had left")
		assert.Equal(t, store.Spend{Tokens: 600}, c.Run.Spent, "a branch's outcome records what it spent")
	}
	d := k.AssertDeadLettered(id, "each", retry.ClassBudget)
	assert.Contains(t, d.Run.Error, `the branches of step "each" spent 1800 tokens`)
	assert.Contains(t, d.Run.Error, "run token budget of 1000 would be exceeded")
	assert.Equal(t, store.Spend{Tokens: 1800}, d.Run.Spent, "the parent's spending includes its branches'")
}

// A branch's spans sit in its parent's trace, under the root span of the
// execution that forked, and name the parent's run.
func TestBranchSpansSitInTheirParentsTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel := observe.New(observe.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))
	check := func(t *testing.T, parentID string, wantWaiting bool) {
		var parents, children []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			switch s.Name {
			case observe.SpanRun + " batches":
				parents = append(parents, s)
			case observe.SpanRun + " doubles":
				children = append(children, s)
			}
		}
		require.NotEmpty(t, parents)
		require.Len(t, children, 2)
		first := parents[0]
		if wantWaiting {
			require.Len(t, parents, 2, "the execution that forked, and the one that joined")
			assert.Contains(t, first.Attributes, observe.AttrOutcome.String(observe.OutcomeWaiting))
		}
		for _, c := range children {
			assert.Equal(t, first.SpanContext.TraceID(), c.SpanContext.TraceID(), "in the parent's trace")
			assert.Equal(t, first.SpanContext.SpanID(), c.Parent.SpanID(), "under the root span of the execution that forked")
			assert.Contains(t, c.Attributes, observe.AttrParentRunID.String(parentID))
		}
	}
	t.Run("durable", func(t *testing.T) {
		exp.Reset()
		k := pipelinetest.New(t)
		p, _ := batches(k.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel}), pipeline.FanOutOptions{}, nil)
		id, err := p.Submit(k.Context(), "1,2", pipeline.SubmitOptions{})
		require.NoError(t, err)
		k.Drain()
		k.AssertSucceeded(id)
		check(t, id, true)
	})
	t.Run("in memory", func(t *testing.T) {
		exp.Reset()
		p, _ := batches(pipeline.NewRuntime(pipeline.RuntimeConfig{Telemetry: tel}), pipeline.FanOutOptions{}, nil)
		_, err := p.Run(context.Background(), "1,2", pipeline.RunOptions{RunID: "batch-run-3"})
		require.NoError(t, err)
		check(t, "batch-run-3", false)
	})
}
