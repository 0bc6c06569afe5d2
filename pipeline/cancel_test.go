package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// ticket is the item of the cancellation, wait and drain tests.
type ticket struct {
	ID string `json:"id"`
}

// events collects notifications and hands each to the test as it comes.
type eventChan chan notify.Event

func (e eventChan) Notify(_ context.Context, ev notify.Event) error {
	e <- ev
	return nil
}

// blocking is a step that tells started it began, then holds until its
// context ends and tells causes why.
func blocking(name string, started chan<- string, causes chan<- error) *step.Step[ticket, ticket] {
	return step.New(name, func(ctx context.Context, t ticket) (ticket, error) {
		started <- step.RunInfoFrom(ctx).RunID
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return ticket{}, ctx.Err()
	}, step.Config{Retry: retry.Never})
}

// work runs the runtime's workers until the test ends, heartbeating
// often, so that a cancellation reaches a running step at once.
func work(t *testing.T, ctx context.Context, rt *pipeline.Runtime) {
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- rt.Work(ctx, pipeline.WorkerConfig{Heartbeat: 2 * time.Millisecond, Poll: 5 * time.Millisecond, PruneEvery: -1, Concurrency: 4})
	}()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
	})
}

// cancelRunning cancels a run while its step runs: the step's context
// ends with the operator's cause within a heartbeat, the run ends
// cancelled, and the worker notifies and counts it once.
func cancelRunning(t *testing.T, st store.Store, clock retry.Clock) {
	ev := make(eventChan, 8)
	tel, _, reader := telemetry(t)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Notifier: ev, Telemetry: tel, Logger: slog.New(slog.DiscardHandler)})
	started, causes := make(chan string, 1), make(chan error, 1)
	p := pipeline.New(rt, "support", blocking("answer", started, causes), noOutage)
	ctx := context.Background()
	id, err := p.Submit(ctx, ticket{ID: "t-1"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	work(t, ctx, rt)
	require.Equal(t, id, <-started)

	run, err := rt.Cancel(ctx, id, pipeline.CancelOptions{By: "ops@example.com", Reason: "the customer withdrew"})
	require.NoError(t, err)
	assert.Equal(t, store.Running, run.Status, "a running run is marked; its worker ends it")
	require.NotNil(t, run.Cancel)

	var ce *pipeline.CancelledError
	require.ErrorAs(t, <-causes, &ce, "the step's context says an operator cancelled it")
	assert.Equal(t, "ops@example.com", ce.By)
	assert.Equal(t, "the customer withdrew", ce.Reason)

	_, err = p.Wait(ctx, id)
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, retry.ErrCancelled)
	assert.ErrorIs(t, err, pipeline.ErrRunCancelled)
	assert.Equal(t, "ops@example.com", ce.By)

	e := <-ev
	assert.Equal(t, notify.Cancelled, e.Kind)
	assert.Equal(t, id, e.RunID)
	assert.Equal(t, "answer", e.Step)
	assert.Equal(t, "cancelled by ops@example.com: the customer withdrew", e.Reason)
	assert.Equal(t, int64(1), collect(t, reader)["plumb.runs|cancelled|"])

	det, err := st.GetRun(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, det.Run.Status)
	assert.Equal(t, retry.ClassCancelled, det.Run.Class)
}

func TestCancelARunningRun(t *testing.T) { onEveryStore(t, cancelRunning) }

func TestCancelAQueuedRunEndsItAtOnceAndItCanBeReplayed(t *testing.T) {
	k := pipelinetest.New(t)
	ev := make(eventChan, 8)
	tel, _, reader := telemetry(t)
	rt := k.NewRuntime(pipeline.RuntimeConfig{Notifier: ev, Telemetry: tel})
	p := pipeline.New(rt, "support", step.New("answer", func(_ context.Context, t ticket) (ticket, error) {
		return ticket{ID: t.ID + " answered"}, nil
	}, step.Config{}), noOutage)
	ctx := k.Context()
	id, err := p.Submit(ctx, ticket{ID: "t-2"}, pipeline.SubmitOptions{NotBefore: k.Clock.Now().Add(time.Hour)})
	require.NoError(t, err)

	run, err := p.Cancel(ctx, id, pipeline.CancelOptions{Reason: "sent by mistake"})
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, run.Status)
	assert.Equal(t, "api", run.Cancel.By, "By defaults to the API")
	e := <-ev
	assert.Equal(t, notify.Cancelled, e.Kind)
	assert.Equal(t, "cancelled by api: sent by mistake", e.Reason)
	assert.Equal(t, int64(1), collect(t, reader)["plumb.runs|cancelled|"])

	_, err = p.Cancel(ctx, id, pipeline.CancelOptions{})
	assert.ErrorIs(t, err, store.ErrFinal, "a run that has ended cannot be cancelled")

	_, err = p.Replay(ctx, id, pipeline.ReplayOptions{})
	require.NoError(t, err)
	k.Drain()
	out, err := p.Wait(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "t-2 answered", out.ID)
	d := k.AssertSucceeded(id)
	assert.Nil(t, d.Run.Cancel, "a replay clears the cancellation")
	assert.Equal(t, 2, d.Run.Attempt)
}

func TestCancelAnotherPipelinesRunIsRefused(t *testing.T) {
	k := pipelinetest.New(t)
	echo := step.New("echo", func(_ context.Context, t ticket) (ticket, error) { return t, nil }, step.Config{})
	a := pipeline.New(k.Runtime, "a", echo, noOutage)
	b := pipeline.New(k.Runtime, "b", echo, noOutage)
	id, err := a.Submit(k.Context(), ticket{}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	_, err = b.Cancel(k.Context(), id, pipeline.CancelOptions{})
	assert.ErrorIs(t, err, store.ErrConflict)
	k.AssertStatus(id, store.Queued)
}

func TestCancelMatchingListsOnADryRunThenCancelsWithProgress(t *testing.T) {
	k := pipelinetest.New(t)
	ev := make(eventChan, 8)
	rt := k.NewRuntime(pipeline.RuntimeConfig{Notifier: ev})
	p := pipeline.New(rt, "support", step.New("answer", func(_ context.Context, t ticket) (ticket, error) { return t, nil }, step.Config{}), noOutage)
	ctx := k.Context()
	var ids []string
	for _, ext := range []string{"lead-1", "lead-1", "lead-2"} {
		id, err := p.Submit(ctx, ticket{ID: ext}, pipeline.SubmitOptions{Trigger: step.Trigger{ExternalID: ext}})
		require.NoError(t, err)
		ids = append(ids, id)
	}
	f := store.RunFilter{ExternalID: "lead-1"}
	res, err := p.CancelMatching(ctx, f, pipeline.CancelOptions{DryRun: true})
	require.NoError(t, err)
	assert.Len(t, res.Matched, 2)
	assert.Empty(t, res.Cancelled)
	k.AssertStatus(ids[0], store.Queued)

	var mu sync.Mutex
	var progress []string
	res, err = p.CancelMatching(ctx, f, pipeline.CancelOptions{By: "ops", Reason: "duplicate", Progress: func(done, total int, id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		assert.NoError(t, err)
		assert.Equal(t, 2, total)
		progress = append(progress, id)
	}})
	require.NoError(t, err)
	assert.ElementsMatch(t, ids[:2], res.Cancelled)
	assert.ElementsMatch(t, ids[:2], progress)
	k.AssertStatus(ids[0], store.Cancelled)
	k.AssertStatus(ids[1], store.Cancelled)
	k.AssertStatus(ids[2], store.Queued)
	assert.Equal(t, notify.Cancelled, (<-ev).Kind)
	assert.Equal(t, notify.Cancelled, (<-ev).Kind)
}

// Cancelling a parent whose branch runs are running cancels them too:
// the store marks the running ones, their workers stop them at the next
// heartbeat with the parent as the cause, and the queued ones end at once.
func TestCancelAParentCancelsItsRunningBranches(t *testing.T) {
	k := pipelinetest.New(t)
	started, causes := make(chan string, 4), make(chan error, 4)
	sub := pipeline.New(k.Runtime, "reply", blocking("send", started, causes), noOutage)
	split := step.New("split", func(_ context.Context, s string) ([]ticket, error) {
		var out []ticket
		for _, id := range strings.Split(s, ",") {
			out = append(out, ticket{ID: id})
		}
		return out, nil
	}, step.Config{})
	p := pipeline.FanOut(pipeline.New(k.Runtime, "batch", split, noOutage), "each", sub, pipeline.FanOutOptions{Limit: 2})
	require.NoError(t, p.Err())
	ctx := k.Context()
	id, err := p.Submit(ctx, "a,b,c", pipeline.SubmitOptions{})
	require.NoError(t, err)
	work(t, ctx, k.Runtime)
	<-started
	<-started // two branches run; the third waits for a slot

	run, err := k.Runtime.Cancel(ctx, id, pipeline.CancelOptions{By: "ops", Reason: "wrong batch"})
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, run.Status, "a waiting parent ends at once")
	for range 2 {
		var ce *pipeline.CancelledError
		require.ErrorAs(t, <-causes, &ce)
		assert.Equal(t, "parent "+id, ce.By)
	}
	branches, err := k.Store.Branches(ctx, store.BranchQuery{Parent: id})
	require.NoError(t, err)
	require.Len(t, branches, 3)
	for _, b := range branches {
		_, err := sub.Wait(ctx, b.RunID)
		assert.ErrorIs(t, err, pipeline.ErrRunCancelled, "branch %s", b.RunID)
		k.AssertCancelled(b.RunID, "parent "+id)
	}
	_, err = p.Wait(ctx, id)
	assert.ErrorIs(t, err, pipeline.ErrRunCancelled)
}

// A write refused because the run was cancelled while held is the run's
// end, not a store failure to retry.
func TestAStepThatIgnoresItsContextStillEndsCancelled(t *testing.T) {
	k := pipelinetest.New(t)
	started, release := make(chan string, 1), make(chan struct{})
	p := pipeline.Then(pipeline.New(k.Runtime, "support", step.New("answer", func(ctx context.Context, t ticket) (ticket, error) {
		started <- step.RunInfoFrom(ctx).RunID
		<-release // ignores its context
		return t, nil
	}, step.Config{}), noOutage), step.New("close", func(_ context.Context, t ticket) (ticket, error) { return t, nil }, step.Config{}))
	ctx := k.Context()
	id, err := p.Submit(ctx, ticket{ID: "t-3"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	work(t, ctx, k.Runtime)
	<-started
	_, err = k.Runtime.Cancel(ctx, id, pipeline.CancelOptions{By: "ops"})
	require.NoError(t, err)
	close(release)
	_, err = p.Wait(ctx, id)
	var ce *pipeline.CancelledError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ops", ce.By)
	k.AssertStatus(id, store.Cancelled)
}

func TestCancelWithoutAStore(t *testing.T) {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{})
	_, err := rt.Cancel(context.Background(), "r", pipeline.CancelOptions{})
	assert.True(t, errors.Is(err, pipeline.ErrNoStore))
}
