package pipeline_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// An await step: each invoice waits up to 72 hours for its payment,
// holding no worker. A payment sent for invoice 42 resumes its run at
// once; invoice 43 is never paid, and when its deadline passes the step
// takes its default.
func ExampleAwait() {
	clock := retrytest.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	st := memstore.New(memstore.Config{Clock: clock})
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})

	billed := pipeline.New(rt, "invoices", step.New("bill", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, step.Config{}),
		pipeline.Policy{})
	p := pipeline.Await(billed, "payment", func(in Invoice) string { return "invoice:" + in.ID },
		pipeline.AwaitOptions{Within: 72 * time.Hour},
		func(in Invoice, paid Payment) (string, error) {
			return fmt.Sprintf("invoice %s paid %d (%s)", in.ID, paid.Amount, paid.Ref), nil
		},
		func(in Invoice) (string, error) { return "invoice " + in.ID + " unpaid: send a reminder", nil })

	ctx := context.Background()
	work := func() { _ = rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true, Poll: time.Millisecond}) }
	paid, _ := p.Submit(ctx, Invoice{ID: "42", Amount: 100}, pipeline.SubmitOptions{})
	unpaid, _ := p.Submit(ctx, Invoice{ID: "43", Amount: 80}, pipeline.SubmitOptions{})
	work()
	d, _ := st.GetRun(ctx, paid)
	fmt.Println(d.Run.Status, "until", d.Run.NotBefore.Format(time.RFC3339), "at step", d.Run.Step)
	left, _ := rt.Backlog(ctx)
	fmt.Println(left)

	delivery, _ := rt.SendEvent(ctx, "payment", "invoice:42", Payment{Amount: 100, Ref: "ch_1"},
		pipeline.EventOptions{ID: "evt_1", Source: "stripe"})
	fmt.Println("woke the paid run:", delivery.Woke == paid)
	work()
	out, _ := p.Wait(ctx, paid)
	fmt.Println(out)

	clock.Advance(72 * time.Hour)
	work()
	out, _ = p.Wait(ctx, unpaid)
	fmt.Println(out)
	l, _ := st.Events(ctx, store.EventFilter{})
	fmt.Println("waits pending:", len(l.Waits))
	// Output:
	// queued until 2026-11-30T09:00:00Z at step payment
	// 0 runnable, 0 running, 0 deferred, 0 waiting, 0 awaiting review, 2 awaiting an event; next due at 2026-11-30T09:00:00Z
	// woke the paid run: true
	// invoice 42 paid 100 (ch_1)
	// invoice 43 unpaid: send a reminder
	// waits pending: 0
}
