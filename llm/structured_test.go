package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

type Lead struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

type Label struct {
	Stage      string  `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
	Reason     string  `json:"reason" jsonschema:"minLength=3"`
}

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func prompt(l Lead) []llm.Message {
	return []llm.Message{
		llm.System("Classify the sales lead. Answer with JSON only."),
		llm.User(l.Name + ": " + l.Message),
	}
}

const good = `{"stage":"warm","confidence":0.8,"reason":"asked for pricing"}`

var lead = Lead{Name: "Ada", Message: "What does the pro plan cost?"}

func opts(clock retry.Clock, o ...func(*llm.Options)) llm.Options {
	res := llm.Options{Retry: retry.Policy{MaxAttempts: 3, Jitter: -1, Clock: clock}}
	for _, f := range o {
		f(&res)
	}
	return res
}

func TestStructuredSendsTheSchemaAndDecodes(t *testing.T) {
	m := llmtest.New(llmtest.Config{Model: "m1", Answers: []llmtest.Answer{llmtest.Text("Here you go:\n```json\n" + good + "\n```")}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0)))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Equal(t, Label{Stage: "warm", Confidence: 0.8, Reason: "asked for pricing"}, res.Output)

	calls := m.Calls()
	require.Len(t, calls, 1)
	require.NotNil(t, calls[0].Output)
	assert.Equal(t, "Label", calls[0].Output.Name)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(calls[0].Output.Schema, &schema))
	assert.Contains(t, schema["properties"], "stage")
	assert.Equal(t, prompt(lead), calls[0].Messages)

	require.Len(t, res.Attempts, 1)
	a := res.Attempts[0]
	assert.Contains(t, a.Raw, "```json", "the raw answer is kept exactly")
	assert.Equal(t, "m1", a.Model)
	assert.Positive(t, a.InputTokens)
	assert.Positive(t, a.OutputTokens)
}

func TestBrokenAnswerIsReaskedWithItsViolations(t *testing.T) {
	bad := `{"stage":"HOT!!","confidence":1.3,"reason":"ok"}`
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text(bad), llmtest.Text(good)}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0)))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Equal(t, "warm", res.Output.Stage)

	calls := m.Calls()
	require.Len(t, calls, 2)
	conv := calls[1].Messages
	require.Len(t, conv, 4, "the re-ask carries the bad answer and the violations")
	assert.Equal(t, llm.Assistant(bad), conv[2])
	reask := conv[3].Content
	assert.Contains(t, reask, "/stage")
	assert.Contains(t, reask, "HOT!!")
	assert.Contains(t, reask, "/confidence")
	assert.Contains(t, reask, "/reason")

	require.Len(t, res.Attempts, 2)
	assert.Equal(t, retry.ClassContract, res.Attempts[0].Class)
	assert.Equal(t, bad, res.Attempts[0].Raw)
	assert.Len(t, res.Attempts[0].Violations, 3)
	assert.Equal(t, "re-ask 1", res.Attempts[1].Note)
	assert.False(t, llm.Reask(res.Attempts[0]), "the first ask")
	assert.True(t, llm.Reask(res.Attempts[1]))
	assert.Empty(t, llm.FallbackModel(res.Attempts[1]), "the primary model")
	assert.Equal(t, step.AttemptCall, res.Attempts[0].Kind)
	assert.Equal(t, step.AttemptReask, res.Attempts[1].Kind)
	assert.Equal(t, 1, res.Attempts[1].Reask)
	assert.Zero(t, res.Attempts[0].Reask)
}

func TestFallbackModelWhenThePrimaryKeepsBreakingTheContract(t *testing.T) {
	bad := llmtest.Text(`{"stage":"maybe"}`)
	primary := llmtest.New(llmtest.Config{Model: "big", Answers: []llmtest.Answer{bad, bad, bad}})
	cheap := llmtest.New(llmtest.Config{Model: "small", Answers: []llmtest.Answer{llmtest.Text(good)}})
	s := llm.Structured[Label]("classify", primary, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.FallbackModels = []llm.Model{cheap}
	}))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	require.Len(t, res.Attempts, 4, "a first try, two re-asks, then the fallback model")
	assert.Equal(t, "fallback model small", res.Attempts[3].Note)
	assert.Equal(t, "small", llm.FallbackModel(res.Attempts[3]))
	assert.False(t, llm.Reask(res.Attempts[3]))
	assert.Equal(t, "small", res.Attempts[3].Model)
	kinds := []step.AttemptKind{step.AttemptCall, step.AttemptReask, step.AttemptReask, step.AttemptFallbackModel}
	reasks := []int{0, 1, 2, 0}
	for i, a := range res.Attempts {
		assert.Equal(t, kinds[i], a.Kind, "attempt %d", i+1)
		assert.Equal(t, reasks[i], a.Reask, "attempt %d", i+1)
	}
	assert.Equal(t, "small", res.Attempts[3].FallbackModel)
	assert.Empty(t, res.Attempts[2].FallbackModel)
	assert.Len(t, cheap.Calls()[0].Messages, 2, "the fallback model gets the original prompt, not the failed conversation")
}

func TestTransientFailuresAreRetriedHonouringRetryAfter(t *testing.T) {
	clock := retrytest.NewClock(t0)
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{
		{Err: &llm.Error{Provider: "p", Kind: llm.ErrRateLimited, Class: retry.ClassTransient, StatusCode: 429, After: 7 * time.Second}},
		{Err: &llm.Error{Provider: "p", Kind: llm.ErrServer, Class: retry.ClassTransient, StatusCode: 500}},
		llmtest.Text(good),
	}})
	s := llm.Structured[Label]("classify", m, prompt, opts(clock, func(o *llm.Options) { o.Retry.InitialInterval = time.Second }))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{7 * time.Second, 2 * time.Second}, clock.Sleeps())
	require.Len(t, res.Attempts, 3)
	assert.Equal(t, 7*time.Second, res.Attempts[0].Wait)
	assert.Contains(t, res.Attempts[0].Error, "HTTP 429")
	assert.Equal(t, []step.AttemptKind{step.AttemptCall, step.AttemptRetry, step.AttemptRetry},
		[]step.AttemptKind{res.Attempts[0].Kind, res.Attempts[1].Kind, res.Attempts[2].Kind}, "transport retries")
}

func TestOneAttemptBudgetCoversEverything(t *testing.T) {
	bad := llmtest.Text(`not json at all`)
	primary := llmtest.New(llmtest.Config{Respond: func(llm.Request) llmtest.Answer { return bad }})
	fb := llmtest.New(llmtest.Config{Respond: func(llm.Request) llmtest.Answer { return bad }})
	s := llm.Structured[Label]("classify", primary, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.MaxCalls = 4
		o.Reasks = 5
		o.FallbackModels = []llm.Model{fb}
	}))
	_, err := s.Run(context.Background(), lead)
	require.Error(t, err)
	assert.ErrorIs(t, err, retry.ErrBudget)
	assert.Len(t, primary.Calls(), 4, "re-asks stop at the step's budget of calls")
	assert.Empty(t, fb.Calls())
	var se *step.Error
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Attempts, 5, "four calls with their raw answers, and the budget stop")
	assert.Equal(t, "not json at all", se.Attempts[0].Raw)
	assert.Equal(t, "syntax", se.Attempts[0].Violations[0].Keyword)
}

func TestRefusalTriesTheNextModelAndIsItsOwnClass(t *testing.T) {
	refuse := llmtest.Answer{Text: "I can't help with that.", Finish: llm.FinishRefusal,
		Err: &llm.Error{Provider: "p", Kind: retry.ErrRefusal, Class: retry.ClassRefusal}}
	a := llmtest.New(llmtest.Config{Model: "a", Answers: []llmtest.Answer{refuse}})
	b := llmtest.New(llmtest.Config{Model: "b", Answers: []llmtest.Answer{refuse}})
	s := llm.Structured[Label]("classify", a, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) { o.FallbackModels = []llm.Model{b} }))
	_, err := s.Run(context.Background(), lead)
	require.Error(t, err)
	assert.ErrorIs(t, err, retry.ErrRefusal)
	assert.ErrorIs(t, err, retry.ErrRefusal)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, retry.ClassRefusal, se.Class)
	assert.Len(t, se.Attempts, 2)
	assert.Equal(t, "I can't help with that.", se.Attempts[0].Raw)

	c := llmtest.New(llmtest.Config{Model: "c", Answers: []llmtest.Answer{llmtest.Text(good)}})
	s = llm.Structured[Label]("classify", llmtest.New(llmtest.Config{Answers: []llmtest.Answer{refuse}}), prompt,
		opts(retrytest.NewClock(t0), func(o *llm.Options) { o.FallbackModels = []llm.Model{c} }))
	_, err = s.Run(context.Background(), lead)
	assert.NoError(t, err)
}

func TestPermanentErrorMovesToTheNextModel(t *testing.T) {
	auth := &llm.Error{Provider: "p", Kind: llm.ErrAuth, Class: retry.ClassPermanent, StatusCode: 401}
	a := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{{Err: auth}}})
	b := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{llmtest.Text(good)}})
	s := llm.Structured[Label]("classify", a, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) { o.FallbackModels = []llm.Model{b} }))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Len(t, a.Calls(), 1, "a 401 is not retried")
	assert.Equal(t, retry.ClassPermanent, res.Attempts[0].Class)
}

func TestTruncatedAnswerIsReaskedAsCutOff(t *testing.T) {
	trunc := llmtest.Answer{Text: `{"stage":"warm","confid`, Finish: llm.FinishLength,
		Err: &llm.Error{Provider: "p", Kind: llm.ErrTruncated, Class: retry.ClassContract}}
	m := llmtest.New(llmtest.Config{Answers: []llmtest.Answer{trunc, llmtest.Text(good)}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0)))
	res, err := s.Run(context.Background(), lead)
	require.NoError(t, err)
	assert.Equal(t, "warm", res.Output.Stage)
	assert.Contains(t, m.Calls()[1].Messages[3].Content, "cut off at the token limit")
	assert.Equal(t, retry.ClassContract, res.Attempts[0].Class)
}

func TestTokenBudgetsStopBeforeSpending(t *testing.T) {
	m := llmtest.New(llmtest.Config{Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Text: `{"stage":"nope"}`, Usage: llm.Usage{InputTokens: 400, OutputTokens: 100}}
	}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.Budget = llm.Budget{Tokens: 1200}
		o.MaxTokens = 100
	}))
	_, err := s.Run(context.Background(), lead)
	require.Error(t, err)
	assert.ErrorIs(t, err, retry.ErrBudget)
	var be *llm.BudgetExceededError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "step", be.Scope)
	assert.Len(t, m.Calls(), 2, "the third call would cross 1,200 tokens, so it is not made")

	// A run budget, shared by every step of the run.
	spend := attempt.NewSpend(0, 0.01)
	ctx := attempt.WithRun(context.Background(), &attempt.Run[step.RunInfo]{
		Info: step.RunInfo{Pipeline: "leads", RunID: "r1"}, Env: attempt.Env{Spend: spend}})
	priced := llm.Structured[Label]("classify", llmtest.New(llmtest.Config{Model: "gpt", Respond: func(llm.Request) llmtest.Answer {
		return llmtest.Answer{Text: good, Usage: llm.Usage{InputTokens: 1000, OutputTokens: 500}}
	}}), prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.Prices = map[string]llm.Price{"gpt": {InputPerMillion: 2.5, OutputPerMillion: 10}}
	}))
	for i := 0; i < 10; i++ {
		res, err := priced.Run(ctx, lead)
		if err != nil {
			require.ErrorIs(t, err, retry.ErrBudget)
			assert.ErrorContains(t, err, "run cost budget")
			_, cost := spend.Total()
			assert.LessOrEqual(t, cost, 0.01, "the run never spent past its budget")
			assert.Equal(t, 1, i, "0.0075 per call: a second would pass 0.01, so it is not made")
			return
		}
		assert.InDelta(t, 0.0075, res.Attempts[0].Cost, 1e-12)
	}
	t.Fatal("the run budget never stopped the calls")
}

func TestCancellationStopsAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	m := llmtest.New(llmtest.Config{Respond: func(llm.Request) llmtest.Answer {
		cancel()
		return llmtest.Answer{Err: &llm.Error{Provider: "p", Kind: llm.ErrServer, Class: retry.ClassTransient}}
	}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0)))
	_, err := s.Run(ctx, lead)
	assert.ErrorIs(t, err, retry.ErrCancelled)
	assert.LessOrEqual(t, len(m.Calls()), 1)
}

func TestStructuredDefinitionErrors(t *testing.T) {
	s := llm.Structured[Label]("classify", nil, prompt, llm.Options{})
	_, err := s.Run(context.Background(), lead)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.ErrorContains(t, err, "the model is nil")
	s = llm.Structured[Label, Lead]("classify", llmtest.New(llmtest.Config{}), nil, llm.Options{})
	_, err = s.Run(context.Background(), lead)
	assert.ErrorContains(t, err, "prompt function is nil")
}

func TestPerCallTimeoutIsTransient(t *testing.T) {
	m := llmtest.New(llmtest.Config{Latency: time.Hour, Answers: []llmtest.Answer{llmtest.Text(good)}})
	s := llm.Structured[Label]("classify", m, prompt, opts(retrytest.NewClock(t0), func(o *llm.Options) {
		o.Timeout = 5 * time.Millisecond
		o.Retry.MaxAttempts = 2
	}))
	_, err := s.Run(context.Background(), lead)
	require.Error(t, err)
	assert.ErrorIs(t, err, llm.ErrTimeout)
	assert.ErrorIs(t, err, retry.ErrTransient)
	assert.Len(t, m.Calls(), 2)
	assert.True(t, strings.Contains(err.Error(), "deadline"))
}

var _ = errors.New
