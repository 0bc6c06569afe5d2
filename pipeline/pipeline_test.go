package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

type RawLead struct {
	Text string `json:"text"`
}

type Lead struct {
	Name  string `json:"name" jsonschema:"minLength=1"`
	Email string `json:"email" jsonschema:"format=email"`
}

type Classified struct {
	Lead  Lead   `json:"lead"`
	Stage string `json:"stage" jsonschema:"enum=new,enum=warm,enum=hot"`
}

type Draft struct {
	To   string `json:"to" jsonschema:"format=email"`
	Body string `json:"body" jsonschema:"minLength=10"`
}

var t0 = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

func parse(_ context.Context, r RawLead) (Lead, error) {
	name, email, ok := strings.Cut(r.Text, "<")
	if !ok {
		return Lead{}, retry.Permanent(fmt.Errorf("no email in %q", r.Text))
	}
	return Lead{Name: strings.TrimSpace(name), Email: strings.TrimSuffix(email, ">")}, nil
}

func classify(_ context.Context, l Lead) (Classified, error) {
	return Classified{Lead: l, Stage: "warm"}, nil
}

func draft(_ context.Context, c Classified) (Draft, error) {
	return Draft{To: c.Lead.Email, Body: "Hi " + c.Lead.Name + ", thanks for reaching out."}, nil
}

func build(t *testing.T, sink deadletter.Sink, cls func(context.Context, Lead) (Classified, error)) *pipeline.Pipeline[RawLead, Draft] {
	t.Helper()
	clock := retrytest.NewClock(t0)
	p1 := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{sink}, Clock: clock}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	p2 := pipeline.Then(p1, step.New("classify", cls, step.Config{
		Retry: retry.Policy{MaxAttempts: 3, Clock: clock},
	}))
	p := pipeline.Then(p2, step.New("draft", draft, step.Config{}))
	require.NoError(t, p.Err())
	return p
}

func TestRunPassesTypedValuesThroughEveryStep(t *testing.T) {
	sink := deadletter.NewMemory()
	p := build(t, sink, classify)
	assert.Equal(t, []string{"parse", "classify", "draft"}, p.Steps())
	assert.Equal(t, "leads", p.Name())
	out, err := p.Run(context.Background(), RawLead{Text: "Ada Lovelace <ada@example.com>"}, pipeline.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, Draft{To: "ada@example.com", Body: "Hi Ada Lovelace, thanks for reaching out."}, out)
	assert.Zero(t, sink.Len())
}

func TestFailureIsDeadLetteredWithEverythingKept(t *testing.T) {
	sink := deadletter.NewMemory()
	calls := 0
	p := build(t, sink, func(_ context.Context, l Lead) (Classified, error) {
		calls++
		return Classified{Lead: l, Stage: "Hot"}, nil // a confident wrong enum
	})
	trig := step.Trigger{Source: "webhook:hubspot", ExternalID: "lead-77", ReceivedAt: t0}
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{Trigger: trig, RunID: "run-1"})
	require.Error(t, err)
	assert.ErrorIs(t, err, retry.ErrContract, "the class survives the dead letter")
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	assert.NoError(t, dl.SinkErr)
	l := dl.Letter
	assert.Equal(t, "leads", l.Pipeline)
	assert.Equal(t, "run-1", l.RunID)
	assert.Equal(t, "classify", l.Step)
	assert.Equal(t, trig, l.Trigger)
	assert.JSONEq(t, `{"name":"Ada","email":"ada@example.com"}`, string(l.Input), "the failed step's input")
	assert.Equal(t, retry.ClassContract, l.Class)
	assert.True(t, l.NeedsHuman)
	assert.Contains(t, l.LastOutput, `"stage":"Hot"`)
	require.Len(t, l.Attempts, 1, "a contract failure is not retried blindly")
	assert.Equal(t, 1, calls)
	assert.NotEmpty(t, l.Attempts[0].Violations)
	assert.Equal(t, "/stage", l.Attempts[0].Violations[0].Path)
	assert.Equal(t, t0, l.StartedAt)
	require.Equal(t, 1, sink.Len(), "the letter reached the sink")
	assert.Equal(t, "run-1", sink.Letters()[0].RunID)
	assert.Contains(t, err.Error(), "leads run run-1 dead-lettered")
}

func TestTransientExhaustionIsDeadLettered(t *testing.T) {
	sink := deadletter.NewMemory()
	p := build(t, sink, func(_ context.Context, l Lead) (Classified, error) {
		return Classified{}, retry.Transient(errors.New("HTTP 503"))
	})
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	assert.Equal(t, retry.ClassTransient, dl.Letter.Class)
	assert.False(t, dl.Letter.NeedsHuman, "a transient failure can be replayed without a person")
	assert.Len(t, dl.Letter.Attempts, 3)
	assert.NotEmpty(t, dl.Letter.RunID)
}

func TestUnclassifiedExhaustionIsDeadLetteredAsPermanent(t *testing.T) {
	sink := deadletter.NewMemory()
	p := build(t, sink, func(_ context.Context, l Lead) (Classified, error) {
		return Classified{}, errors.New("field x is malformed")
	})
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	assert.Equal(t, retry.ClassPermanent, dl.Letter.Class, "retrying did not help and nothing says waiting will")
	assert.True(t, dl.Letter.NeedsHuman, "a person must classify the error or fix the data")
	require.Len(t, dl.Letter.Attempts, 3, "the step's retry policy still applies")
	for _, a := range dl.Letter.Attempts {
		assert.True(t, a.Unclassified)
	}
}

func TestCancelledRunIsNotDeadLettered(t *testing.T) {
	sink := deadletter.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	p := build(t, sink, func(ctx context.Context, l Lead) (Classified, error) {
		cancel()
		return Classified{}, ctx.Err()
	})
	_, err := p.Run(ctx, RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
	assert.ErrorIs(t, err, retry.ErrCancelled)
	var dl *deadletter.Error
	assert.False(t, errors.As(err, &dl))
	assert.Zero(t, sink.Len())
}

type failingSink struct{}

func (failingSink) Send(context.Context, *deadletter.Letter) error { return errors.New("disk full") }
func (failingSink) Name() string                                   { return "jsonl:/var/plumb/dead.jsonl" }

func TestAFailingSinkIsNeverSilent(t *testing.T) {
	mem := deadletter.NewMemory()
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{failingSink{}, mem}, Logger: slog.New(slog.DiscardHandler)}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	_, err := p.Run(context.Background(), RawLead{Text: "no email here"}, pipeline.RunOptions{})
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	require.Error(t, dl.SinkErr)
	assert.ErrorIs(t, dl.SinkErr, deadletter.ErrSink)
	assert.Contains(t, err.Error(), "jsonl:/var/plumb/dead.jsonl")
	assert.Contains(t, err.Error(), "disk full")
	assert.Equal(t, 1, mem.Len(), "the other sinks still get the letter")
}

func TestDuplicateStepNamesFailTheBuild(t *testing.T) {
	p1 := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	p2 := pipeline.Then(p1, step.New("parse", classify, step.Config{}))
	p := pipeline.Then(p2, step.New("draft", draft, step.Config{}))
	err := p.Err()
	require.Error(t, err)
	var be *pipeline.BuildError
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), `duplicate step name "parse"`)
	_, runErr := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{})
	assert.ErrorIs(t, runErr, be)
	assert.NoError(t, p1.Err(), "the pipeline it was built from is unchanged")
}

func TestBuildErrors(t *testing.T) {
	assert.Error(t, pipeline.New[RawLead, Lead](nil, "leads", nil, pipeline.Policy{}).Err())
	assert.Error(t, pipeline.New(nil, "", step.New("parse", parse, step.Config{}), pipeline.Policy{}).Err())
	assert.Error(t, pipeline.Then[RawLead, Lead, Classified](pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), nil).Err())
	bad := step.New[Lead, Classified]("classify", nil, step.Config{})
	assert.ErrorContains(t, pipeline.Then(pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{}), bad).Err(), "function is nil")
	assert.ErrorContains(t, pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}).Or(nil), pipeline.Policy{}).Err(), `step "parse": fallback 0 is nil`)
	wrongRule := step.New("parse", parse, step.Config{Review: step.ReviewRule{If: func(RawLead) (string, bool) { return "", false }}})
	assert.ErrorContains(t, pipeline.New(nil, "leads", wrongRule, pipeline.Policy{}).Err(), `step "parse": Review.If is a func(pipeline_test.RawLead) (string, bool)`)
}

func TestNothingReachesTheNextStepUnlessItMetItsContract(t *testing.T) {
	sink := deadletter.NewMemory()
	reached := false
	p1 := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{sink}}), "leads", step.New("parse", func(_ context.Context, r RawLead) (Lead, error) {
		return Lead{Name: "Ada", Email: "not an email"}, nil
	}, step.Config{}), pipeline.Policy{})
	p := pipeline.Then(p1, step.New("classify", func(_ context.Context, l Lead) (Classified, error) {
		reached = true
		return Classified{Lead: l, Stage: "new"}, nil
	}, step.Config{}))
	_, err := p.Run(context.Background(), RawLead{Text: "x"}, pipeline.RunOptions{})
	require.Error(t, err)
	assert.False(t, reached)
	assert.Equal(t, "parse", sink.Letters()[0].Step)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
