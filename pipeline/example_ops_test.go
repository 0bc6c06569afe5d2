package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store/memstore"
)

type Order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

type Receipt struct {
	Order string `json:"order"`
	Key   string `json:"key"`
}

// charge is a step with a side effect: it gives the payment provider the
// step's idempotency key, so that a charge retried or resumed after a
// crash is made once.
var charge = step.New("charge", func(ctx context.Context, o Order) (Receipt, error) {
	key := step.RunInfoFrom(ctx).IdempotencyKey() // "<run id>/<attempt>/charge"
	return Receipt{Order: o.ID, Key: key}, nil
}, step.Config{})

// Cancelling a run: one that no worker holds ends at once, notified and
// counted; Wait then says who cancelled it and why.
func ExampleRuntime_Cancel() {
	told := notify.Func(func(_ context.Context, e notify.Event) error {
		fmt.Println("notified:", e.Kind, e.Reason)
		return nil
	})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: memstore.New(memstore.Config{}), Notifier: told, Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "orders", charge, pipeline.Policy{})
	ctx := context.Background()
	id, _ := p.Submit(ctx, Order{ID: "o-1", Amount: 40}, pipeline.SubmitOptions{NotBefore: time.Now().Add(time.Hour)})

	run, err := rt.Cancel(ctx, id, pipeline.CancelOptions{By: "ops@example.com", Reason: "ordered twice"})
	fmt.Println(run.Status, err)

	_, err = p.Wait(ctx, id)
	var ce *pipeline.CancelledError
	fmt.Println(errors.As(err, &ce), errors.Is(err, retry.ErrCancelled), ce.By, "/", ce.Reason)
	// Output:
	// notified: cancelled cancelled by ops@example.com: ordered twice
	// cancelled <nil>
	// true true ops@example.com / ordered twice
}

// Waiting for a run's result: the store wakes Wait when the run ends, and
// the output comes back typed.
func ExamplePipeline_Wait() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: memstore.New(memstore.Config{}), Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "orders", charge, pipeline.Policy{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = rt.Work(ctx, pipeline.WorkerConfig{}) }()

	id, _ := p.Submit(ctx, Order{ID: "o-2", Amount: 40}, pipeline.SubmitOptions{RunID: "run-2"})
	receipt, err := p.Wait(ctx, id)
	fmt.Println(receipt.Order, receipt.Key, err)
	// Output:
	// o-2 run-2/1/charge <nil>
}

// A web handler's call: submit and wait in one, durable and deduplicated
// by the request's idempotency key, so that a retried request gets the
// first one's answer and nothing is charged twice.
func ExamplePipeline_SubmitAndWait() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: memstore.New(memstore.Config{}), Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "orders", charge, pipeline.Policy{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = rt.Work(ctx, pipeline.WorkerConfig{}) }()

	first, _ := p.SubmitAndWait(ctx, Order{ID: "o-3"}, pipeline.SubmitOptions{RunID: "run-3", IdempotencyKey: "request-77"})
	retried, _ := p.SubmitAndWait(ctx, Order{ID: "o-3"}, pipeline.SubmitOptions{IdempotencyKey: "request-77"})
	fmt.Println(first.Key, retried.Key)
	// Output:
	// run-3/1/charge run-3/1/charge
}

// A batch worker: work the queue until nothing is left to run, exit, and
// say what is left for later.
func ExampleWorkerConfig_stopWhenDrained() {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: memstore.New(memstore.Config{}), Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "orders", charge, pipeline.Policy{})
	ctx := context.Background()
	tomorrow := time.Date(2031, 5, 2, 9, 0, 0, 0, time.UTC)
	for _, o := range []string{"o-4", "o-5"} {
		_, _ = p.Submit(ctx, Order{ID: o}, pipeline.SubmitOptions{})
	}
	_, _ = p.Submit(ctx, Order{ID: "o-6"}, pipeline.SubmitOptions{NotBefore: tomorrow})

	err := rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true})
	fmt.Println("worker stopped:", err)
	left, _ := rt.Backlog(ctx)
	fmt.Println(left)
	fmt.Println("all done:", left.Empty())
	// Output:
	// worker stopped: <nil>
	// 0 runnable, 0 running, 1 deferred, 0 waiting, 0 awaiting review; next due at 2031-05-02T09:00:00Z
	// all done: false
}

// Pausing a pipeline by hand, for a partner's maintenance window: runs
// submitted meanwhile wait in the queue, and the pause and the resume are
// in the pipeline's log with who took them and why.
func ExamplePipeline_Pause() {
	told := notify.Func(func(_ context.Context, e notify.Event) error {
		fmt.Println("notified:", e.Kind, e.Reason)
		return nil
	})
	st := memstore.New(memstore.Config{})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Notifier: told, Logger: slog.New(slog.DiscardHandler)})
	p := pipeline.New(rt, "orders", charge, pipeline.Policy{})
	ctx := context.Background()

	_ = p.Pause(ctx, "payment provider maintenance", "ana@example.com")
	_, _ = p.Submit(ctx, Order{ID: "o-7"}, pipeline.SubmitOptions{})
	_ = rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true})
	left, _ := rt.Backlog(ctx)
	fmt.Println("while paused:", left)

	_ = p.Resume(ctx, "maintenance over", "ben@example.com")
	_ = rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true})
	left, _ = rt.Backlog(ctx)
	fmt.Println("after resume, all done:", left.Empty())

	log, _ := st.PipelineLog(ctx, "orders", 10)
	for _, e := range log {
		fmt.Println(e.Action, "by", e.By+":", e.Reason)
	}
	// Output:
	// notified: paused payment provider maintenance (paused by ana@example.com)
	// while paused: 1 runnable, 0 running, 0 deferred, 0 waiting, 0 awaiting review
	// notified: resumed maintenance over (resumed by ben@example.com)
	// after resume, all done: true
	// resumed by ben@example.com: maintenance over
	// paused by ana@example.com: payment provider maintenance
}

// A person at the decision edge: a refund over 100 waits for a review;
// Reviews lists what waits, oldest first, and Approve with an edit (checked
// against the step's output contract) lets the run go on with it.
func ExamplePipeline_Approve() {
	st := memstore.New(memstore.Config{})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: slog.New(slog.DiscardHandler)})
	refund := step.New("refund", func(_ context.Context, o Order) (Order, error) { return o, nil }, step.Config{
		Review: step.ReviewRule{If: func(o Order) (string, bool) { return "a refund over 100", o.Amount > 100 }},
	})
	p := pipeline.Then(pipeline.New(rt, "refunds", refund, pipeline.Policy{}), charge)
	ctx := context.Background()
	_, _ = p.Submit(ctx, Order{ID: "o-8", Amount: 40}, pipeline.SubmitOptions{RunID: "run-8"})
	_, _ = p.Submit(ctx, Order{ID: "o-9", Amount: 900}, pipeline.SubmitOptions{RunID: "run-9"})
	_ = rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true})

	reviews, _ := p.Reviews(ctx)
	for _, r := range reviews {
		fmt.Println("to review:", r.ID, "-", r.Review.Reason)
	}
	_, err := p.Approve(ctx, "run-9", "ana@example.com", json.RawMessage(`{"id":"o-9","amount":90}`))
	fmt.Println("approved with an edit:", err)
	_ = rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true})
	for _, id := range []string{"run-8", "run-9"} {
		d, _ := p.Get(ctx, id)
		fmt.Println(id, d.Run.Status, string(d.Run.Output))
	}
	// Output:
	// to review: run-9 - a refund over 100
	// approved with an edit: <nil>
	// run-8 succeeded {"order":"o-8","key":"run-8/1/charge"}
	// run-9 succeeded {"order":"o-9","key":"run-9/1/charge"}
}
