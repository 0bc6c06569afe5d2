package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Config is what the runtime runs with: its defaults applied, and a copy.
func TestRuntimeConfigHasItsDefaults(t *testing.T) {
	cfg := pipeline.NewRuntime(pipeline.RuntimeConfig{}).Config()
	assert.Equal(t, retry.SystemClock, cfg.Clock)
	assert.Same(t, observe.Default(), cfg.Telemetry)
	assert.NotNil(t, cfg.Logger)
	assert.Equal(t, pipeline.DefaultLongWait, cfg.LongWait)
	require.Len(t, cfg.DeadLetters, 1, "without a store, dead letters are logged")

	k := pipelinetest.New(t)
	cfg = k.Runtime.Config()
	assert.Same(t, k.Clock, cfg.Clock, "the kit's clock is the runtime's")
	assert.Same(t, k.Store, cfg.Store)

	mem := deadletter.NewMemory()
	rt := k.NewRuntime(pipeline.RuntimeConfig{DeadLetters: []deadletter.Sink{mem}})
	got := rt.Config()
	got.DeadLetters[0] = nil
	got.Clock = nil
	assert.Same(t, mem, rt.Config().DeadLetters[0].(*deadletter.Memory), "a copy: the runtime keeps its own")
	assert.Same(t, k.Clock, rt.Config().Clock)
}

// Register records the definition before any Submit, once; without a
// store or with a build error it says why not.
func TestRegisterRecordsTheDefinition(t *testing.T) {
	k := pipelinetest.New(t)
	p := pipeline.New(k.Runtime, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{Version: "v1"})
	_, err := k.Store.Pipeline(k.Context(), "leads")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing registers at build")

	require.NoError(t, p.Register(k.Context()))
	def, err := k.Store.Pipeline(k.Context(), "leads")
	require.NoError(t, err)
	assert.Equal(t, p.Definition().Version, def.Version)
	require.Len(t, def.Steps, 1)
	assert.Equal(t, "parse", def.Steps[0].Name)
	require.NoError(t, p.Register(k.Context()), "again is a no-op")

	mem := pipeline.New(nil, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	assert.ErrorIs(t, mem.Register(context.Background()), pipeline.ErrNoStore)

	bad := pipeline.New(k.Runtime, "bad", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	bad = pipeline.Then(bad, step.New("parse", parse2, step.Config{}))
	var be *pipeline.BuildError
	require.ErrorAs(t, bad.Register(k.Context()), &be)
	_, err = k.Store.Pipeline(k.Context(), "bad")
	assert.ErrorIs(t, err, store.ErrNotFound, "an invalid definition is never recorded")
}

func parse2(_ context.Context, l Lead) (Lead, error) { return l, nil }

// Notify takes the pipeline's own path: the Policy's notifier before the
// runtime's, the runtime's clock, the pipeline's link, and a panic made
// an error.
func TestNotifyTakesThePipelinesPath(t *testing.T) {
	k := pipelinetest.New(t)
	runtimeEvents, policyEvents := &events{}, &events{}
	rt := k.NewRuntime(pipeline.RuntimeConfig{Notifier: runtimeEvents})
	plain := pipeline.New(rt, "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	own := pipeline.New(rt, "client", step.New("parse", parse, step.Config{}),
		pipeline.Policy{Notifier: policyEvents, Link: func(id string) string { return "https://ops.example.com/runs/" + id }})

	require.NoError(t, plain.Notify(k.Context(), notify.Event{Kind: notify.Silent, Reason: "quiet"}))
	require.NoError(t, own.Notify(k.Context(), notify.Event{Kind: notify.DeadLettered, RunID: "r1", Pipeline: "webhook:crm"}))
	require.Len(t, runtimeEvents.all, 1)
	require.Len(t, policyEvents.all, 1, "the Policy's notifier hears its pipeline, not the runtime's")
	e := runtimeEvents.all[0]
	assert.Equal(t, "leads", e.Pipeline, "an event naming no pipeline names this one")
	assert.Equal(t, k.Clock.Now(), e.At, "stamped by the runtime's clock")
	assert.Equal(t, "", e.Link)
	e = policyEvents.all[0]
	assert.Equal(t, "webhook:crm", e.Pipeline, "a name the event gives is kept")
	assert.Equal(t, "https://ops.example.com/runs/r1", e.Link)

	boom := errors.New("slack is down")
	failing := pipeline.New(rt, "failing", step.New("parse", parse, step.Config{}),
		pipeline.Policy{Notifier: notify.Func(func(context.Context, notify.Event) error { return boom })})
	assert.ErrorIs(t, failing.Notify(k.Context(), notify.Event{Kind: notify.Silent}), boom)
	panics := pipeline.New(rt, "panics", step.New("parse", parse, step.Config{}),
		pipeline.Policy{Notifier: notify.Func(func(context.Context, notify.Event) error { panic("nil map") })})
	var pe *notify.NotifierPanicError
	require.ErrorAs(t, panics.Notify(k.Context(), notify.Event{Kind: notify.Silent}), &pe)
	assert.Equal(t, "nil map", pe.Value)
	assert.NotEmpty(t, pe.Stack)

	none := pipeline.New(k.Runtime, "quiet", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	assert.ErrorIs(t, none.Notify(k.Context(), notify.Event{Kind: notify.Silent}), pipeline.ErrNoNotifier)
}

// A digest around the notifier groups what Notify sends with the
// pipeline's own events.
func TestNotifyGoesThroughTheDigest(t *testing.T) {
	k := pipelinetest.New(t)
	out := &events{}
	d := notify.NewDigest(out, notify.DigestConfig{Window: time.Hour, Clock: k.Clock, ManualFlush: true})
	p := pipeline.New(k.NewRuntime(pipeline.RuntimeConfig{Notifier: d}), "leads", step.New("parse", parse, step.Config{}), pipeline.Policy{})
	for range 3 {
		require.NoError(t, p.Notify(k.Context(), notify.Event{Kind: notify.Silent, Reason: "quiet"}))
	}
	assert.Len(t, out.all, 1, "the first of the window at once, the rest in its digest")
	k.Clock.Advance(time.Hour)
	require.NoError(t, d.Flush(k.Clock.Now()))
	require.Len(t, out.all, 2)
	assert.Equal(t, 2, out.all[1].Count)
}

// A panicking notifier no longer takes the worker down with it: the run's
// dead letter is recorded and the panic logged.
func TestPanickingNotifierDoesNotEndTheRun(t *testing.T) {
	k := pipelinetest.New(t)
	n := notify.Func(func(context.Context, notify.Event) error { panic("bad notifier") })
	failing := step.New("parse", func(context.Context, RawLead) (Lead, error) { return Lead{}, retry.Permanent(errors.New("no")) }, step.Config{})
	p := pipeline.New(k.NewRuntime(pipeline.RuntimeConfig{Notifier: n}), "leads", failing, pipeline.Policy{Outage: pipeline.NoOutage})
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	k.AssertDeadLettered(id, "parse", retry.ClassPermanent)
}
