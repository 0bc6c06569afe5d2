package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// sideEffects counts how often each step really ran.
type sideEffects struct{ parse, classify, draft atomic.Int64 }

func durable(k *pipelinetest.Kit, fx *sideEffects, rt *pipeline.Runtime, pol pipeline.Policy, cls ...func(context.Context, Lead) (Classified, error)) *pipeline.Pipeline[RawLead, Draft] {
	c := classify
	if len(cls) > 0 {
		c = cls[0]
	}
	p1 := pipeline.New(rt, "leads", step.New("parse", func(ctx context.Context, r RawLead) (Lead, error) {
		fx.parse.Add(1)
		return parse(ctx, r)
	}, step.Config{Retry: retry.Policy{MaxAttempts: 3, Jitter: -1}}), pol)
	p2 := pipeline.Then(p1, step.New("classify", func(ctx context.Context, l Lead) (Classified, error) {
		fx.classify.Add(1)
		return c(ctx, l)
	}, step.Config{Retry: retry.Policy{MaxAttempts: 3, Jitter: -1}}))
	return pipeline.Then(p2, step.New("draft", func(ctx context.Context, c Classified) (Draft, error) {
		fx.draft.Add(1)
		return draft(ctx, c)
	}, step.Config{Retry: retry.Policy{MaxAttempts: 3, Jitter: -1}}))
}

var ada = RawLead{Text: "Ada Lovelace <ada@example.com>"}

func TestSubmitAndWorkRecordsTheWholeTimeline(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{Trigger: step.Trigger{Source: "webhook", ExternalID: "lead-1"}})
	require.NoError(t, err)
	k.AssertStatus(id, store.Queued)
	k.Drain()

	d := k.AssertSucceeded(id)
	assert.JSONEq(t, `{"to":"ada@example.com","body":"Hi Ada Lovelace, thanks for reaching out."}`, string(d.Run.Output))
	assert.Equal(t, "lead-1", d.Run.Trigger.ExternalID)
	require.Len(t, d.Steps, 3)
	for i, name := range []string{"parse", "classify", "draft"} {
		assert.Equal(t, name, d.Steps[i].Step)
		assert.Equal(t, store.StepSucceeded, d.Steps[i].Status)
		assert.NotEmpty(t, d.Steps[i].Output, "each step's output is a checkpoint")
		require.Len(t, d.Steps[i].Attempts, 1)
	}
	assert.JSONEq(t, `{"name":"Ada Lovelace","email":"ada@example.com"}`, string(d.Steps[0].Output))

	def, err := k.Store.Pipeline(context.Background(), "leads")
	require.NoError(t, err)
	assert.Len(t, def.Steps, 3, "the pipeline registered its steps and contracts")
	assert.NotEmpty(t, def.Steps[1].OutputSchema)
}

func TestSubmitIsIdempotentAndRefusesBadInput(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	a, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{IdempotencyKey: "hubspot:77"})
	require.NoError(t, err)
	b, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{IdempotencyKey: "hubspot:77"})
	require.NoError(t, err)
	assert.Equal(t, a, b, "a second submit with the key returns the first run")

	type Strict struct {
		Email string `json:"email" jsonschema:"format=email"`
	}
	ps := pipeline.New(k.Runtime, "strict", step.New("check", func(_ context.Context, s Strict) (Strict, error) { return s, nil }, step.Config{}), pipeline.Policy{Outage: pipeline.NoOutage})
	_, err = ps.Submit(k.Context(), Strict{Email: "not-an-email"}, pipeline.SubmitOptions{})
	var ve *contract.ValidationError
	require.ErrorAs(t, err, &ve, "the ValidationError itself")
	assert.Equal(t, "/email", ve.Violations[0].Path)
	runsPage, err := k.Store.ListRuns(context.Background(), store.RunFilter{Pipeline: "strict"})
	runs := runsPage.Runs
	require.NoError(t, err)
	assert.Empty(t, runs, "nothing was enqueued")
}

func TestResumeSkipsFinishedSteps(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)

	// A worker claims the run, checkpoints parse, and dies.
	c, err := k.Store.Claim(context.Background(), store.ClaimRequest{Worker: "doomed", Limit: 1, Lease: 30 * time.Second})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, k.Store.Checkpoint(context.Background(), c[0].Lease, store.StepRecord{
		Index: 0, Step: "parse", Status: store.StepSucceeded, Output: json.RawMessage(`{"name":"Ada From Checkpoint","email":"ada@example.com"}`)}))
	k.Drain()
	k.AssertStatus(id, store.Running) // its lease is still live
	k.Clock.Advance(31 * time.Second)
	k.Drain()

	d := k.AssertSucceeded(id)
	assert.Zero(t, fx.parse.Load(), "the finished step did not run again")
	assert.Equal(t, int64(1), fx.classify.Load())
	assert.Contains(t, string(d.Run.Output), "Ada From Checkpoint", "its recorded output was passed on")
}

func TestReplayFromTheFailedStepWithAPatch(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	broken := true
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage}, func(ctx context.Context, l Lead) (Classified, error) {
		if broken && l.Name == "Ada Lovelace" {
			return Classified{Lead: l, Stage: "Hot!!"}, nil
		}
		return classify(ctx, l)
	})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertDeadLettered(id, "classify", retry.ClassContract)
	assert.Len(t, k.Letters.Letters(), 1, "the other sinks get a copy")
	assert.Equal(t, d.Run.Error, k.Letters.Letters()[0].Error)

	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{Input: json.RawMessage(`{"name":"","email":"x"}`)})
	var ve *contract.ValidationError
	require.ErrorAs(t, err, &ve, "a patch that breaks the step's input contract is refused")
	k.AssertDeadLettered(id, "classify", retry.ClassContract)

	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{Input: json.RawMessage(`{"name":"Ada L.","email":"ada@example.com"}`)})
	require.NoError(t, err)
	k.Drain()
	d = k.AssertSucceeded(id)
	assert.Equal(t, int64(1), fx.parse.Load(), "parse ran once, in the first attempt")
	assert.Contains(t, string(d.Run.Output), "Ada L.")
	require.Len(t, d.Attempts, 2)
	assert.Equal(t, store.DeadLettered, d.Attempts[0].Status, "the first attempt's history is kept")
	assert.Contains(t, d.Attempts[1].Reason, "patched")
}

func TestBatchReplayWithDryRun(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	k.Fail("classify", retry.ClassPermanent, 5)
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	var ids []string
	for i := 0; i < 5; i++ {
		id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	k.Drain()
	for _, id := range ids {
		k.AssertDeadLettered(id, "classify", retry.ClassPermanent)
	}
	dry, err := p.ReplayMatching(k.Context(), store.RunFilter{Step: "classify", Class: retry.ClassPermanent}, "", true)
	require.NoError(t, err)
	assert.Len(t, dry.Matched, 5)
	assert.Empty(t, dry.Replayed, "a dry run replays nothing")
	k.AssertDeadLettered(ids[0], "classify", retry.ClassPermanent)

	res, err := p.ReplayMatching(k.Context(), store.RunFilter{Step: "classify"}, "", false)
	require.NoError(t, err)
	assert.Len(t, res.Replayed, 5)
	k.Drain()
	for _, id := range ids {
		k.AssertSucceeded(id)
	}
	assert.Equal(t, int64(5), fx.parse.Load(), "parse is not redone by the replays")
}

func TestLongRetryAfterWaitsInTheQueue(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	k.FailWith("classify", retry.After(errors.New("HTTP 429"), 10*time.Minute), 1)
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertStatus(id, store.Queued)
	assert.True(t, d.Run.NotBefore.Equal(pipelinetest.Start.Add(10*time.Minute)), "not before %s", d.Run.NotBefore)
	assert.Equal(t, 1, d.Run.Deferrals)
	assert.Equal(t, store.StepDeferred, d.Steps[len(d.Steps)-1].Status)

	k.Clock.Advance(10 * time.Minute)
	k.Drain()
	k.AssertSucceeded(id)
	assert.Equal(t, int64(1), fx.parse.Load())
}

func TestOutageScheduleThenDeadLetter(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	rt := k.Runtime
	pol := pipeline.Policy{Outage: []time.Duration{time.Minute, 10 * time.Minute}}
	k.Fail("draft", retry.ClassTransient, 0) // the email API is down for hours
	p := durable(k, &fx, rt, pol)
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	assert.True(t, k.AssertStatus(id, store.Queued).Run.NotBefore.Equal(k.Clock.Now().Add(time.Minute)))
	k.Clock.Advance(time.Minute)
	k.Drain()
	assert.Equal(t, 2, k.AssertStatus(id, store.Queued).Run.Deferrals)
	k.Clock.Advance(10 * time.Minute)
	k.Drain()
	k.AssertDeadLettered(id, "draft", retry.ClassTransient)
	assert.Equal(t, 9, k.Attempts("draft"), "three tries in each of three rounds")
	assert.Equal(t, int64(1), fx.classify.Load())

	// And an outage that ends heals by itself.
	k2 := pipelinetest.New(t)
	rt2 := k2.Runtime
	pol2 := pipeline.Policy{Outage: []time.Duration{time.Minute}}
	k2.Fail("draft", retry.ClassTransient, 3)
	p2 := durable(k2, &fx, rt2, pol2)
	id2, err := p2.Submit(k2.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k2.Drain()
	k2.Clock.Advance(time.Minute)
	k2.Drain()
	k2.AssertSucceeded(id2)
}

func TestRunWithAStoreIsDurableAndInline(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	out, err := p.Run(k.Context(), ada, pipeline.RunOptions{RunID: "inline-1"})
	require.NoError(t, err)
	assert.Equal(t, "ada@example.com", out.To)
	d := k.AssertSucceeded("inline-1")
	assert.Len(t, d.Steps, 3)

	k.Fail("classify", retry.ClassPermanent, 1)
	_, err = p.Run(k.Context(), ada, pipeline.RunOptions{RunID: "inline-2"})
	require.Error(t, err)
	k.AssertDeadLettered("inline-2", "classify", retry.ClassPermanent)
}

func TestHashedPayloadsAndReplayNeedingInput(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	rt := k.NewRuntime(pipeline.RuntimeConfig{HashPayloads: true})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	k.Fail("classify", retry.ClassPermanent, 1)
	p := durable(k, &fx, rt, pol)
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertDeadLettered(id, "classify", retry.ClassPermanent)
	assert.Nil(t, d.Run.Input)
	assert.NotEmpty(t, d.Run.InputHash)
	for _, l := range k.Letters.Letters() {
		assert.Nil(t, l.Input, "copies keep no payload either")
		assert.NotEmpty(t, l.InputHash)
	}
	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{From: "parse"})
	assert.ErrorIs(t, err, store.ErrNeedsInput)
	_, err = p.Replay(k.Context(), id, pipeline.ReplayOptions{From: "parse", Input: json.RawMessage(`{"text":"Ada <ada@example.com>"}`)})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
}

func TestPanicAndCancellationInDurableRuns(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	k.Panic("draft", 1)
	p := durable(k, &fx, k.Runtime, pipeline.Policy{Outage: pipeline.NoOutage})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	d := k.AssertDeadLettered(id, "draft", retry.ClassPermanent)
	last := d.Steps[len(d.Steps)-1]
	assert.Contains(t, last.Attempts[0].Stack, "goroutine", "the panic's stack is in the record")

	ctx, cancel := context.WithCancel(k.Context())
	// Another definition of "leads": another runtime, as another process
	// would have.
	other := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: k.Store, Clock: k.Clock})
	pc := durable(k, &fx, other, pipeline.Policy{Outage: pipeline.NoOutage}, func(ctx context.Context, l Lead) (Classified, error) {
		cancel()
		<-ctx.Done()
		return Classified{}, ctx.Err()
	})
	_, err = pc.Run(ctx, ada, pipeline.RunOptions{RunID: "cancelled-1"})
	assert.ErrorIs(t, err, retry.ErrCancelled)
	k.AssertStatus("cancelled-1", store.Queued) // resumable, not dead-lettered
}
