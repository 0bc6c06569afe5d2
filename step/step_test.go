package step_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

type Lead struct {
	Name  string `json:"name" jsonschema:"minLength=1"`
	Email string `json:"email" jsonschema:"format=email"`
}

type Label struct {
	Stage      string  `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
	Confidence float64 `json:"confidence" jsonschema:"minimum=0,maximum=1"`
}

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func policy(clock retry.Clock, attempts int) retry.Policy {
	return retry.Policy{MaxAttempts: attempts, InitialInterval: time.Second, Jitter: -1, Clock: clock}
}

var ada = Lead{Name: "Ada", Email: "ada@example.com"}

func TestRunSucceedsAndRecordsTheAttempt(t *testing.T) {
	s := step.New("classify", func(_ context.Context, l Lead) (Label, error) {
		return Label{Stage: "hot", Confidence: 0.9}, nil
	}, step.Config{})

	require.NoError(t, s.Err())
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, Label{Stage: "hot", Confidence: 0.9}, res.Output)
	assert.Equal(t, "classify", res.By)
	assert.False(t, res.Fallback("classify"))
	require.Len(t, res.Attempts, 1)
	assert.Equal(t, 1, res.Attempts[0].Number)
	assert.Empty(t, res.Attempts[0].Error)
}

func TestBadInputIsRejectedBeforeTheFunctionRuns(t *testing.T) {
	called := false
	fb := step.New("rules", func(_ context.Context, l Lead) (Label, error) { called = true; return Label{Stage: "new"}, nil }, step.Config{})
	s := step.New("classify", func(_ context.Context, l Lead) (Label, error) {
		called = true
		return Label{Stage: "hot"}, nil
	}, step.Config{}).Or(fb)
	_, err := s.Run(context.Background(), Lead{Name: "", Email: "not-an-email"})
	require.Error(t, err)
	assert.False(t, called, "neither the step nor a fallback sees a bad input")
	assert.ErrorIs(t, err, retry.ErrContract)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "classify", se.Step)
	assert.Equal(t, retry.ClassContract, se.Class)
	require.Len(t, se.Attempts, 1)
	assert.Equal(t, "input contract", se.Attempts[0].Note)
	var ve *contract.ValidationError
	require.ErrorAs(t, err, &ve)
	paths := []string{}
	for _, v := range ve.Violations {
		paths = append(paths, v.Path)
	}
	assert.ElementsMatch(t, []string{"/name", "/email"}, paths, "every violation is listed")
}

func TestBrokenOutputNeverPassesAndFallsBack(t *testing.T) {
	model := step.New("model", func(_ context.Context, l Lead) (Label, error) {
		return Label{Stage: "HOT", Confidence: 1.7}, nil // a confident wrong answer
	}, step.Config{}).Or(
		step.New("rules", func(_ context.Context, l Lead) (Label, error) { return Label{Stage: "new", Confidence: 0.5}, nil }, step.Config{}),
	)
	res, err := model.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, "rules", res.By, "the fallback produced the output")
	assert.True(t, res.Fallback("model"))
	assert.Equal(t, Label{Stage: "new", Confidence: 0.5}, res.Output)
	require.Len(t, res.Attempts, 2)
	assert.Equal(t, "model", res.Attempts[0].Step)
	assert.Equal(t, retry.ClassContract, res.Attempts[0].Class)
	assert.Len(t, res.Attempts[0].Violations, 2)
	assert.Contains(t, res.Attempts[0].Raw, `"stage":"HOT"`, "the broken output is kept for diagnosis")
	assert.Equal(t, "rules", res.Attempts[1].Step)
	assert.Equal(t, 2, res.Attempts[1].Number)
}

func TestTransientFailuresAreRetriedWithBackoff(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("crm", func(_ context.Context, l Lead) (Label, error) {
		calls++
		if calls < 3 {
			return Label{}, errors.New("connection reset by peer")
		}
		return Label{Stage: "warm"}, nil
	}, step.Config{Retry: policy(clock, 5)})
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, 3, calls)
	require.Len(t, res.Attempts, 3)
	assert.Equal(t, retry.ClassTransient, res.Attempts[0].Class)
	assert.Equal(t, time.Second, res.Attempts[0].Wait)
	assert.Equal(t, 2*time.Second, res.Attempts[1].Wait)
	assert.Empty(t, res.Attempts[2].Error)
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second}, clock.Sleeps())
}

func TestRetryAfterIsHonouredByTheStep(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("crm", func(_ context.Context, l Lead) (Label, error) {
		calls++
		if calls == 1 {
			return Label{}, retry.After(errors.New("HTTP 429"), 20*time.Second)
		}
		return Label{Stage: "warm"}, nil
	}, step.Config{Retry: policy(clock, 3)})
	_, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{20 * time.Second}, clock.Sleeps())
}

func TestExhaustedRetriesGiveATypedErrorWithEveryAttempt(t *testing.T) {
	clock := retrytest.NewClock(t0)
	s := step.New("crm", func(_ context.Context, l Lead) (Label, error) {
		// A bare error would be unclassified (see unclassified_test.go).
		return Label{}, retry.Transient(errors.New("HTTP 503"))
	}, step.Config{Retry: policy(clock, 3)})
	_, err := s.Run(context.Background(), ada)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, retry.ClassTransient, se.Class)
	assert.Len(t, se.Attempts, 3)
	assert.ErrorIs(t, err, retry.ErrTransient)
	assert.Equal(t, `step "crm" failed (transient) after 3 attempts: transient: HTTP 503`, err.Error())
}

func TestPermanentIsNotRetriedButFallsBack(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("crm", func(_ context.Context, l Lead) (Label, error) {
		calls++
		return Label{}, retry.Permanent(errors.New("HTTP 401"))
	}, step.Config{Retry: policy(clock, 5)}).Or(
		step.New("cache", func(_ context.Context, l Lead) (Label, error) {
			return Label{}, retry.Permanent(errors.New("cache miss"))
		}, step.Config{}),

		step.New("default", func(_ context.Context, l Lead) (Label, error) { return Label{Stage: "new"}, nil }, step.Config{}),
	)
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, 1, calls)
	assert.Empty(t, clock.Sleeps())
	assert.Equal(t, "default", res.By, "fallbacks are tried in order")
	assert.Equal(t, []string{"crm", "cache", "default"}, []string{res.Attempts[0].Step, res.Attempts[1].Step, res.Attempts[2].Step})
	assert.Equal(t, []string{"cache", "default"}, s.Fallbacks())
}

func TestAllFallbacksFailing(t *testing.T) {
	s := step.New("crm", func(_ context.Context, l Lead) (Label, error) {
		return Label{}, retry.Permanent(errors.New("HTTP 401"))
	}, step.Config{}).Or(
		step.New("cache", func(_ context.Context, l Lead) (Label, error) {
			return Label{}, retry.Permanent(errors.New("cache miss"))
		}, step.Config{}),
	)
	_, err := s.Run(context.Background(), ada)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "crm", se.Step, "the failure is reported under the step, not the fallback")
	assert.Len(t, se.Attempts, 2)
	assert.EqualError(t, se.Err, "permanent: cache miss")
}

func TestPanicBecomesAPermanentErrorWithItsStack(t *testing.T) {
	clock := retrytest.NewClock(t0)
	s := step.New("parse", func(_ context.Context, l Lead) (Label, error) {
		var m map[string]int
		m["boom"]++ // nil map write: a panic in user code
		return Label{}, nil
	}, step.Config{Retry: policy(clock, 3)})
	_, err := s.Run(context.Background(), ada)
	require.Error(t, err)
	assert.ErrorIs(t, err, step.ErrPanic)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	var pe *step.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Contains(t, string(pe.Stack), "step_test.go", "the stack points at the user's code")
	var se *step.Error
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Attempts, 1, "a panic is not retried")
	assert.Contains(t, se.Attempts[0].Stack, "goroutine")
	assert.Equal(t, retry.ClassPermanent, se.Class)
}

func TestPerAttemptTimeout(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("slow", func(ctx context.Context, l Lead) (Label, error) {
		calls++
		if calls == 1 {
			<-ctx.Done() // hangs until its attempt's deadline
			return Label{}, ctx.Err()
		}
		return Label{Stage: "hot"}, nil
	}, step.Config{Retry: policy(clock, 2), Timeout: 5 * time.Millisecond})
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	assert.Equal(t, retry.ClassTransient, res.Attempts[0].Class)
	assert.Contains(t, res.Attempts[0].Error, "attempt timed out after 5ms")
}

func TestCancellationIsNotAFailureAndSkipsFallbacks(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fbCalled := false
	s := step.New("slow", func(ctx context.Context, l Lead) (Label, error) {
		cancel()
		return Label{}, ctx.Err()
	}, step.Config{Retry: policy(retrytest.NewClock(t0), 5)}).Or(
		step.New("rules", func(_ context.Context, l Lead) (Label, error) { fbCalled = true; return Label{Stage: "new"}, nil }, step.Config{}),
	)
	_, err := s.Run(ctx, ada)
	assert.ErrorIs(t, err, retry.ErrCancelled)
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, fbCalled)
}

func TestNeedsReviewAndBudgetSkipFallbacks(t *testing.T) {
	for _, mk := range []func(error) error{retry.NeedsReview, retry.Budget} {
		fbCalled := false
		s := step.New("judge", func(ctx context.Context, l Lead) (Label, error) {
			return Label{}, mk(errors.New("x"))
		}, step.Config{}).Or(
			step.New("rules", func(_ context.Context, l Lead) (Label, error) { fbCalled = true; return Label{Stage: "new"}, nil }, step.Config{}),
		)
		_, err := s.Run(context.Background(), ada)
		require.Error(t, err)
		assert.False(t, fbCalled)
	}
}

// selfRecording makes a step whose function records its own attempts, as
// a model step does.
func selfRecording(fn step.Func[Lead, Label], cfg step.Config) *step.Step[Lead, Label] {
	return attempt.Plumb(step.New("model", fn, cfg), attempt.Plumbing{SelfRecording: true})
}

func TestSelfRecordingStepKeepsItsOwnAttempts(t *testing.T) {
	s := selfRecording(func(ctx context.Context, l Lead) (Label, error) {
		attempt.Record(ctx, step.Attempt{Note: "call 1", Raw: "not json", Error: "contract violated", Class: retry.ClassContract, Model: "m1", InputTokens: 10, OutputTokens: 3})
		attempt.Record(ctx, step.Attempt{Kind: step.AttemptReask, Reask: 1, Note: "re-ask 1", Raw: `{"stage":"hot","confidence":0.8}`, Model: "m1"})
		return Label{Stage: "hot", Confidence: 0.8}, nil
	}, step.Config{Retry: policy(retrytest.NewClock(t0), 5)})
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	require.Len(t, res.Attempts, 2, "the function's own records, nothing added")
	assert.Equal(t, "re-ask 1", res.Attempts[1].Note)
	assert.Equal(t, 2, res.Attempts[1].Number)
	assert.Equal(t, "model", res.Attempts[0].Step)

	failing := selfRecording(func(ctx context.Context, l Lead) (Label, error) {
		return Label{}, retry.Budget(errors.New("token budget spent"))
	}, step.Config{})
	_, err = failing.Run(context.Background(), ada)
	var se *step.Error
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Attempts, 1, "an outcome the function did not record is added")
	assert.Equal(t, "step outcome", se.Attempts[0].Note)
	assert.Equal(t, step.AttemptOutcome, se.Attempts[0].Kind)
	assert.Equal(t, retry.ClassBudget, se.Attempts[0].Class)
	attempt.Record(context.Background(), step.Attempt{}) // outside a step: nothing happens
}

// Whether the function's last record already tells its failure is decided
// by the error's identity: another error with the same text is another
// failure, and gets its own outcome record.
func TestSelfRecordedFailureIsKnownByIdentityNotText(t *testing.T) {
	run := func(returned func(recorded error) error) []step.Attempt {
		s := selfRecording(func(ctx context.Context, l Lead) (Label, error) {
			recorded := retry.Permanent(errors.New("the model refused"))
			a := step.Attempt{Model: "m1"}
			a.SetError(recorded)
			attempt.Record(ctx, a)
			return Label{}, returned(recorded)
		}, step.Config{})
		_, err := s.Run(context.Background(), ada)
		var se *step.Error
		require.ErrorAs(t, err, &se)
		return se.Attempts
	}
	same := run(func(recorded error) error { return recorded })
	require.Len(t, same, 1, "the recorded failure is the outcome")
	assert.Equal(t, step.AttemptCall, same[0].Kind)

	lookalike := run(func(error) error { return retry.Permanent(errors.New("the model refused")) })
	require.Len(t, lookalike, 2, "a different error with the same text is not the recorded one")
	assert.Equal(t, lookalike[0].Error, lookalike[1].Error)
	assert.Equal(t, step.AttemptOutcome, lookalike[1].Kind)
}

func TestDefinitionErrorsAreReportedNotPanicked(t *testing.T) {
	assert.Error(t, step.New("", func(_ context.Context, l Lead) (Label, error) { return Label{}, nil }, step.Config{}).Err())
	assert.Error(t, step.New[Lead, Label]("x", nil, step.Config{}).Err())
	ch := step.New("chan", func(_ context.Context, l Lead) (chan int, error) { return nil, nil }, step.Config{})
	require.Error(t, ch.Err(), "a type that cannot have a contract")
	_, err := ch.Run(context.Background(), ada)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	nilFB := step.New("x", func(_ context.Context, l Lead) (Label, error) { return Label{}, nil },
		step.Config{}).Or(nil)
	assert.ErrorContains(t, nilFB.Err(), "fallback 0 is nil")
}

func TestSkippingContracts(t *testing.T) {
	s := step.New("raw", func(_ context.Context, l Lead) (Label, error) { return Label{Stage: "??"}, nil },
		step.Config{SkipInputContract: true, SkipOutputContract: true})
	res, err := s.Run(context.Background(), Lead{})
	require.NoError(t, err)
	assert.Equal(t, "??", res.Output.Stage)
	assert.Nil(t, s.InputContract())
	assert.Nil(t, s.OutputContract())
}

func TestAttemptSetErrorFillsTheRecord(t *testing.T) {
	var a step.Attempt
	a.SetError(retry.Permanent(errors.New("HTTP 400: bad field")))
	assert.Equal(t, retry.ClassPermanent, a.Class)
	assert.True(t, strings.Contains(a.Error, "bad field"))
	assert.NotNil(t, a.Err())
}

// withRun returns a context as a pipeline's run makes it: the run's
// description and the machinery's Env.
func withRun(ctx context.Context, info step.RunInfo, env attempt.Env) context.Context {
	return attempt.WithRun(ctx, &attempt.Run[step.RunInfo]{Info: info, Env: env})
}

// A record says what each attempt was in typed fields, under the JSON names
// the stores keep; a record written before they existed still decodes, as
// a call whose Note says the rest.
func TestAttemptKindsAreTypedAndPersisted(t *testing.T) {
	clock := retrytest.NewClock(t0)
	calls := 0
	s := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		if calls++; calls < 3 {
			return Label{}, retry.Transient(errors.New("crm answered 503"))
		}
		return Label{Stage: "hot", Confidence: 1}, nil
	}, step.Config{Retry: policy(clock, 3)})
	res, err := s.Run(context.Background(), ada)
	require.NoError(t, err)
	require.Len(t, res.Attempts, 3)
	assert.Equal(t, step.AttemptCall, res.Attempts[0].Kind)
	assert.Equal(t, step.AttemptRetry, res.Attempts[1].Kind)
	assert.Equal(t, step.AttemptRetry, res.Attempts[2].Kind)

	_, err = s.Run(context.Background(), Lead{Name: "", Email: "x"})
	var se *step.Error
	require.ErrorAs(t, err, &se)
	assert.Equal(t, step.AttemptInputContract, se.Attempts[0].Kind)

	b, err := json.Marshal(step.Attempt{Step: "classify", Number: 4, Kind: step.AttemptReask, Reask: 2, FallbackModel: "small", Note: "re-ask 2"})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"kind":"reask","reask":2,"fallback_model":"small"`)
	var back step.Attempt
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, step.AttemptReask, back.Kind)
	assert.Equal(t, 2, back.Reask)
	assert.Equal(t, "small", back.FallbackModel)

	var old step.Attempt
	require.NoError(t, json.Unmarshal([]byte(`{"step":"classify","number":2,"note":"re-ask 1","start":"2026-11-27T02:17:00Z","duration":0}`), &old))
	assert.Equal(t, step.AttemptCall, old.Kind)
	assert.Equal(t, "re-ask 1", old.Note)
	b, err = json.Marshal(old)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"kind"`, "a call needs no kind on the wire")

	for k := step.AttemptCall; k <= step.AttemptOutcome; k++ {
		text, err := k.MarshalText()
		require.NoError(t, err)
		var got step.AttemptKind
		require.NoError(t, got.UnmarshalText(text))
		assert.Equal(t, k, got)
	}
	assert.Error(t, new(step.AttemptKind).UnmarshalText([]byte("guess")))
	_, err = step.AttemptKind(200).MarshalText()
	assert.Error(t, err)
}
