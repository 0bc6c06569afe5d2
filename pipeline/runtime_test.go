package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// One call works every pipeline bound to the runtime: two pipelines, one
// Work, both queues drained.
func TestRuntimeWorksEveryBoundPipeline(t *testing.T) {
	k := pipelinetest.New(t)
	leads := pipeline.New(k.Runtime, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	greet := pipeline.New(k.Runtime, "greetings", step.New("draft", draft, step.Config{}), pipeline.Policy{})
	assert.Equal(t, []string{"greetings", "leads"}, k.Runtime.Pipelines())

	a, err := leads.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	b, err := greet.Submit(k.Context(), Classified{Lead: Lead{Name: "Ada", Email: "ada@example.com"}, Stage: "warm"}, pipeline.SubmitOptions{})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() { done <- k.Runtime.Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1}) }()
	require.Eventually(t, func() bool {
		return k.Get(a).Run.Status == store.Succeeded && k.Get(b).Run.Status == store.Succeeded
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

// A pipeline grown with Then takes its prefix's place; a second pipeline
// of the same name on one runtime is a build error, since the name is what
// identifies a pipeline's runs in the store.
func TestRuntimeRefusesTwoPipelinesOfOneName(t *testing.T) {
	k := pipelinetest.New(t)
	p1 := pipeline.New(k.Runtime, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	p2 := pipeline.Then(p1, step.New("classify", classify, step.Config{}))
	require.NoError(t, p2.Err())
	assert.Equal(t, []string{"leads"}, k.Runtime.Pipelines())

	other := pipeline.New(k.Runtime, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	var be *pipeline.BuildError
	require.ErrorAs(t, other.Err(), &be)
	assert.Contains(t, be.Error(), `the runtime already has a pipeline named "leads"`)
	_, err := other.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	assert.ErrorIs(t, err, be, "nothing is accepted by a refused definition")
	grown := pipeline.Then(other, step.New("classify", classify, step.Config{}))
	assert.Equal(t, 1, strings.Count(grown.Err().Error(), "already has a pipeline"), "the refusal is said once: %v", grown.Err())

	// A second branch grown from the same prefix is another pipeline too.
	branch := pipeline.Then(p1, step.New("classify-again", classify, step.Config{}))
	assert.ErrorAs(t, branch.Err(), &be)

	// The bound one still works.
	id, err := p2.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
}

// A nil runtime is the in-memory one: Run is a one-liner, and what needs a
// store says so.
func TestNilRuntimeRunsInMemory(t *testing.T) {
	p := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	out, err := p.Run(context.Background(), ada, pipeline.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Ada Lovelace", out.Name)
	_, err = p.Submit(context.Background(), ada, pipeline.SubmitOptions{})
	assert.ErrorIs(t, err, pipeline.ErrNoStore)
	assert.Nil(t, p.Runtime().Store())

	_, err = pipeline.NewRuntime(pipeline.RuntimeConfig{}).NewWorker(pipeline.WorkerConfig{})
	assert.ErrorIs(t, err, pipeline.ErrNoStore)
	k := pipelinetest.New(t)
	_, err = k.NewRuntime(pipeline.RuntimeConfig{}).NewWorker(pipeline.WorkerConfig{})
	assert.ErrorContains(t, err, "no pipelines to work")
}

// The runtime's clock is the one clock: it paces the retry waits of steps
// whose policy names none, so backoff on the kit's clock takes no time at
// all, and the run's record is stamped by the same clock. (The waits stay
// inside the lease: the kit's store reads the same clock.)
func TestRuntimeClockPacesStepRetries(t *testing.T) {
	k := pipelinetest.New(t)
	calls := 0
	flaky := step.New("parse", func(ctx context.Context, r RawLead) (Lead, error) {
		if calls++; calls < 3 {
			return Lead{}, retry.Transient(errors.New("CRM busy"))
		}
		return parse(ctx, r)
	}, step.Config{Retry: retry.Policy{MaxAttempts: 3, InitialInterval: 4 * time.Second, MaxInterval: 8 * time.Second, Jitter: -1}})
	p := pipeline.New(k.Runtime, "leads", flaky, pipeline.Policy{})
	start := time.Now()
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertSucceeded(id)
	assert.Less(t, time.Since(start), 4*time.Second, "the waits were taken on the runtime's clock")
	d := k.Get(id)
	require.Len(t, d.Steps[0].Attempts, 3)
	assert.Equal(t, 4*time.Second, d.Steps[0].Attempts[0].Wait)
	assert.Equal(t, 8*time.Second, d.Steps[0].Attempts[1].Wait)
	assert.GreaterOrEqual(t, d.Steps[0].Attempts[2].Start.Sub(d.Steps[0].Attempts[0].Start), 12*time.Second,
		"the attempts are stamped by the runtime's clock, which moved through the waits")
}
