package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/llm/llmtest"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

type Invoice struct {
	ID     string `json:"id" jsonschema:"minLength=1"`
	Amount int    `json:"amount"`
}

type Payment struct {
	Amount int    `json:"amount" jsonschema:"minimum=1"`
	Ref    string `json:"ref"`
}

type PaidReceipt struct {
	ID     string `json:"id"`
	Paid   bool   `json:"paid"`
	Amount int    `json:"amount"`
	Ref    string `json:"ref,omitempty"`
}

const payWithin = 72 * time.Hour

// invoicePipeline is "invoices": bill, then the await step "payment"
// (the invoice's payment, for 72 hours; unpaid by then is the default),
// then file. failPaid makes the event's decision fail permanently while
// it is set.
func invoicePipeline(t *testing.T, st store.Store, clock retry.Clock, failPaid *atomic.Bool) (*pipeline.Runtime, *pipeline.Pipeline[Invoice, string]) {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	sc := step.Config{Retry: retry.Never}
	billed := pipeline.New(rt, "invoices", step.New("bill", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, sc),
		pipeline.Policy{Outage: pipeline.NoOutage})
	paid := pipeline.Await(billed, "payment", func(in Invoice) string { return "invoice:" + in.ID },
		pipeline.AwaitOptions{Within: payWithin},
		func(in Invoice, p Payment) (PaidReceipt, error) {
			if failPaid != nil && failPaid.Load() {
				return PaidReceipt{}, retry.Permanent(errors.New("ledger rejected the payment"))
			}
			return PaidReceipt{ID: in.ID, Paid: true, Amount: p.Amount, Ref: p.Ref}, nil
		},
		func(in Invoice) (PaidReceipt, error) { return PaidReceipt{ID: in.ID}, nil })
	p := pipeline.Then(paid, step.New("file", func(_ context.Context, r PaidReceipt) (string, error) {
		if r.Paid {
			return "paid " + r.ID + " " + r.Ref, nil
		}
		return "unpaid " + r.ID, nil
	}, sc))
	require.NoError(t, p.Err())
	return rt, p
}

// drainAwaits works rt's pipelines with one slot until nothing is claimable.
func drainAwaits(t *testing.T, rt *pipeline.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true, Concurrency: 1, Poll: 5 * time.Millisecond, PruneEvery: -1}))
}

func getRun(t *testing.T, st store.Store, id string) *store.RunDetail {
	t.Helper()
	d, err := st.GetRun(context.Background(), id)
	require.NoError(t, err)
	return d
}

func lastRecordOf(d *store.RunDetail, stepName string) *store.StepRecord {
	for i := len(d.Steps) - 1; i >= 0; i-- {
		if d.Steps[i].Step == stepName {
			return &d.Steps[i]
		}
	}
	return nil
}

// The wait holds no worker: a run waiting for its event is queued until
// its deadline, leased by nobody, while a worker with one slot runs other
// runs; the event makes it due, and it resumes with the payment.
func TestAwaitHoldsNoWorkerAndAnEventResumesIt(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		rt, p := invoicePipeline(t, st, clock, nil)
		id, err := p.Submit(ctx, Invoice{ID: "42", Amount: 100}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		d := getRun(t, st, id)
		assert.Equal(t, store.Queued, d.Run.Status, "the run waits in the queue")
		assert.Empty(t, d.Run.LeaseOwner, "held by no worker")
		assert.True(t, d.Run.NotBefore.Equal(clock.Now().Add(payWithin)), "until the deadline")
		assert.Equal(t, "payment", d.Run.Step)
		rec := lastRecordOf(d, "payment")
		require.NotNil(t, rec)
		assert.Equal(t, store.StepAwaiting, rec.Status)
		assert.Equal(t, "waiting for payment invoice:42 until "+clock.Now().Add(payWithin).UTC().Format(time.RFC3339), rec.Note)

		// Other runs go through the one slot meanwhile.
		others := make([]string, 3)
		for i := range others {
			_, err := rt.SendEvent(ctx, "payment", "invoice:o"+string(rune('a'+i)), Payment{Amount: 1}, pipeline.EventOptions{})
			require.NoError(t, err)
			others[i], err = p.Submit(ctx, Invoice{ID: "o" + string(rune('a'+i))}, pipeline.SubmitOptions{})
			require.NoError(t, err)
		}
		drainAwaits(t, rt)
		for _, o := range others {
			assert.Equal(t, store.Succeeded, getRun(t, st, o).Run.Status, "run %s went on at once with its kept event", o)
		}
		assert.Equal(t, store.Queued, getRun(t, st, id).Run.Status, "still waiting")
		left, err := rt.Backlog(ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, left.AwaitingEvent, "the backlog says the run waits for an event")
		assert.Zero(t, left.Deferred, "not that it is deferred")
		assert.True(t, left.Next.Equal(clock.Now().Add(payWithin)), "its deadline is when it runs next at the latest")
		assert.Contains(t, left.String(), "1 awaiting an event")
		assert.False(t, left.Empty())

		dl, err := rt.SendEvent(ctx, "payment", "invoice:42", Payment{Amount: 100, Ref: "ch_1"}, pipeline.EventOptions{ID: "evt_1", Source: "stripe"})
		require.NoError(t, err)
		assert.Equal(t, id, dl.Woke)
		drainAwaits(t, rt)
		out, err := p.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "paid 42 ch_1", out)
		left, err = rt.Backlog(ctx)
		require.NoError(t, err)
		assert.True(t, left.Empty(), "%s", left)
		d = getRun(t, st, id)
		rec = lastRecordOf(d, "payment")
		assert.Equal(t, store.StepSucceeded, rec.Status)
		assert.Equal(t, "event", rec.By)
		assert.Contains(t, rec.Note, "event payment invoice:42 from stripe at ")
		assert.Equal(t, 1, d.Run.Attempt)
	})
}

// When the deadline passes first, the step takes its default; an event
// that comes later is kept for another wait.
func TestAwaitDeadlineTakesTheDefault(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		rt, p := invoicePipeline(t, st, clock, nil)
		id, err := p.Submit(ctx, Invoice{ID: "7"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		require.Equal(t, store.Queued, getRun(t, st, id).Run.Status)
		clock.(*retrytest.Clock).Advance(payWithin + time.Second)
		drainAwaits(t, rt)
		out, err := p.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "unpaid 7", out)
		rec := lastRecordOf(getRun(t, st, id), "payment")
		assert.Equal(t, "deadline passed: default", rec.Note)
		assert.Equal(t, "deadline", rec.By)
		dl, err := rt.SendEvent(ctx, "payment", "invoice:7", Payment{Amount: 3}, pipeline.EventOptions{})
		require.NoError(t, err)
		assert.Empty(t, dl.Woke, "too late: kept for another wait")
	})
}

// An event is checked against the await step's contract when it is sent:
// a bad one is refused with its violations, and an event no step awaits
// is refused too. Nothing is kept of either.
func TestAwaitRefusesABadEvent(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		rt, _ := invoicePipeline(t, st, clock, nil)
		_, err := rt.SendEvent(ctx, "payment", "invoice:1", json.RawMessage(`{"amount":0}`), pipeline.EventOptions{})
		var ve *contract.ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Contains(t, err.Error(), "/amount")
		_, err = rt.SendEvent(ctx, "refund", "invoice:1", Payment{Amount: 1}, pipeline.EventOptions{})
		assert.ErrorIs(t, err, store.ErrUnknownEvent)
		// A runtime that only sends events checks them against the
		// registered definitions.
		_, p := invoicePipeline(t, st, clock, nil)
		_, err = p.Submit(ctx, Invoice{ID: "reg"}, pipeline.SubmitOptions{}) // registers the definition
		require.NoError(t, err)
		sender := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock})
		_, err = sender.SendEvent(ctx, "payment", "invoice:1", json.RawMessage(`{"amount":0,"ref":""}`), pipeline.EventOptions{})
		require.ErrorAs(t, err, &ve)
		_, err = sender.SendEvent(ctx, "refund", "invoice:1", json.RawMessage(`{}`), pipeline.EventOptions{})
		assert.ErrorIs(t, err, store.ErrUnknownEvent)
		l, err := st.Events(ctx, store.EventFilter{All: true})
		require.NoError(t, err)
		assert.Empty(t, l.Events)
		dl, err := sender.SendEvent(ctx, "payment", "invoice:1", json.RawMessage(`{"amount":3,"ref":"x"}`), pipeline.EventOptions{})
		require.NoError(t, err)
		assert.Equal(t, "api", dl.Event.Source)
	})
}

// A waiting run is cancelled at once (no worker holds it), and a replay of
// a run whose decision failed takes the event it had again.
func TestAwaitCancelAndReplay(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		var failing atomic.Bool
		rt, p := invoicePipeline(t, st, clock, &failing)
		cancelled, err := p.Submit(ctx, Invoice{ID: "c"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		r, err := rt.Cancel(ctx, cancelled, pipeline.CancelOptions{By: "ops", Reason: "customer left"})
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, r.Status)
		dl, err := rt.SendEvent(ctx, "payment", "invoice:c", Payment{Amount: 1}, pipeline.EventOptions{})
		require.NoError(t, err)
		assert.Empty(t, dl.Woke, "a cancelled run takes no event")

		failing.Store(true)
		id, err := p.Submit(ctx, Invoice{ID: "r"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		_, err = rt.SendEvent(ctx, "payment", "invoice:r", Payment{Amount: 9, Ref: "ch_r"}, pipeline.EventOptions{ID: "evt_r", Source: "stripe"})
		require.NoError(t, err)
		drainAwaits(t, rt)
		d := getRun(t, st, id)
		require.Equal(t, store.DeadLettered, d.Run.Status)
		assert.Equal(t, "payment", d.Run.Step)

		failing.Store(false)
		_, err = p.Replay(ctx, id, pipeline.ReplayOptions{From: "payment"})
		require.NoError(t, err)
		drainAwaits(t, rt)
		out, err := p.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, "paid r ch_r", out, "the replay took the payment the run had")
	})
}

// The run's budget covers the steps on both sides of a wait: what the
// model step before it spent counts against the one after.
func TestAwaitKeepsTheRunBudget(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		model := llmtest.New(llmtest.Config{Model: "m", Respond: func(llm.Request) llmtest.Answer {
			return llmtest.Answer{Text: `{"text":"fine"}`, Usage: llm.Usage{InputTokens: 800, OutputTokens: 100}}
		}})
		rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		ask := func(s Summary) []llm.Message { return []llm.Message{llm.User("Summarise: " + s.Text)} }
		o := llm.Options{Retry: retry.Never, MaxTokens: 100}
		first := pipeline.New(rt, "budgeted", llm.Structured[Summary]("first", model, ask, o),
			pipeline.Policy{Outage: pipeline.NoOutage, RunBudget: llm.Budget{Tokens: 1000}})
		acked := pipeline.Await(first, "ack", func(s Summary) string { return "summary:" + s.Text }, pipeline.AwaitOptions{Within: time.Hour},
			func(s Summary, p Payment) (Summary, error) { return s, nil }, func(s Summary) (Summary, error) { return s, nil })
		p := pipeline.Then(acked, llm.Structured[Summary]("second", model, ask, o))
		require.NoError(t, p.Err())
		id, err := p.Submit(ctx, Summary{Text: "q3"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		require.Equal(t, store.Queued, getRun(t, st, id).Run.Status)
		_, err = rt.SendEvent(ctx, "ack", "summary:fine", Payment{Amount: 1}, pipeline.EventOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		d := getRun(t, st, id)
		require.Equal(t, store.DeadLettered, d.Run.Status)
		assert.Equal(t, "second", d.Run.Step)
		assert.Equal(t, retry.ClassBudget, d.Run.Class, "the first step's 900 tokens count after the wait")
		assert.Len(t, model.Calls(), 1)
	})
}

// Build problems are build errors.
func TestAwaitBuildErrors(t *testing.T) {
	p := pipeline.New(nil, "mem", step.New("bill", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, step.Config{}), pipeline.Policy{})
	bad := pipeline.Await(p, "payment", func(in Invoice) string { return in.ID }, pipeline.AwaitOptions{},
		func(in Invoice, p Payment) (PaidReceipt, error) { return PaidReceipt{}, nil }, nil)
	err := bad.Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Within")
	assert.Contains(t, err.Error(), "onDeadline")
	assert.Contains(t, err.Error(), "no store to wait in")
}

// Run of a durable pipeline returns a *PendingError that names the event
// the run waits for; it is no failure of any class.
func TestAwaitRunReturnsPending(t *testing.T) {
	k := pipelinetest.New(t)
	_, p := invoicePipeline(t, k.Store, k.Clock, nil)
	_, err := p.Run(context.Background(), Invoice{ID: "9"}, pipeline.RunOptions{})
	var pe *pipeline.PendingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, store.Queued, pe.Status)
	assert.Equal(t, "payment invoice:9", pe.Event)
	assert.Equal(t, "payment", pe.Step)
	assert.True(t, pe.NotBefore.Equal(k.Clock.Now().Add(payWithin)))
	assert.NotErrorIs(t, err, retry.ErrTransient)
	assert.Contains(t, err.Error(), "waits for event payment invoice:9 at step \"payment\" until ")
}

// Branches of a fan-out that wait for their events give their slots to
// the next: a batch of four invoices under a limit of two is sent whole,
// each waiting for its own payment, instead of two at a time.
func TestAwaitInAFanOutGivesItsSlotBack(t *testing.T) {
	onEveryStore(t, func(t *testing.T, st store.Store, clock retry.Clock) {
		ctx := context.Background()
		rt, invoices := invoicePipeline(t, st, clock, nil)
		batch := pipeline.New(rt, "batches", step.New("split", func(_ context.Context, ids []string) ([]Invoice, error) {
			out := make([]Invoice, len(ids))
			for i, id := range ids {
				out[i] = Invoice{ID: id, Amount: 10}
			}
			return out, nil
		}, step.Config{Retry: retry.Never}), pipeline.Policy{Outage: pipeline.NoOutage})
		all := pipeline.FanOut(batch, "each", invoices, pipeline.FanOutOptions{Limit: 2})
		require.NoError(t, all.Err())

		id, err := all.Submit(ctx, []string{"a", "b", "c", "d"}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		drainAwaits(t, rt)
		bs, err := st.Branches(ctx, store.BranchQuery{Parent: id})
		require.NoError(t, err)
		require.Len(t, bs, 4)
		for _, b := range bs {
			d := getRun(t, st, b.RunID)
			assert.Equal(t, store.Queued, d.Run.Status, "branch %s", b.RunID)
			assert.Equal(t, "payment", d.Run.Step, "branch %s waits for its payment", b.RunID)
		}
		left, err := rt.Backlog(ctx)
		require.NoError(t, err)
		assert.Equal(t, 4, left.AwaitingEvent)

		for _, inv := range []string{"a", "b", "c", "d"} {
			_, err := rt.SendEvent(ctx, "payment", "invoice:"+inv, Payment{Amount: 10, Ref: "ch_" + inv}, pipeline.EventOptions{})
			require.NoError(t, err)
		}
		drainAwaits(t, rt)
		out, err := all.Wait(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, []string{"paid a ch_a", "paid b ch_b", "paid c ch_c", "paid d ch_d"}, out)
	})
}
