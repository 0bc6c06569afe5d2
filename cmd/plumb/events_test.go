package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

type Invoice struct {
	ID string `json:"id" jsonschema:"minLength=1"`
}

type Payment struct {
	Amount int    `json:"amount" jsonschema:"minimum=1"`
	Ref    string `json:"ref"`
}

type Settled struct {
	ID   string `json:"id"`
	Paid bool   `json:"paid"`
	Ref  string `json:"ref,omitempty"`
}

// invoices is "invoices" on the fixture's store: the await step
// "payment" (the event "payment" for "invoice:<id>", for 72 hours), then
// file. Its worker registers the definition, so that the CLI knows the
// event's contract.
func invoices(t *testing.T, f *fixture) (*pipeline.Runtime, *pipeline.Pipeline[Invoice, string]) {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: f.st, Clock: f.retryClock(), Logger: slog.New(slog.DiscardHandler)})
	sc := step.Config{Retry: retry.Never}
	billed := pipeline.New(rt, "invoices", step.New("bill", func(_ context.Context, in Invoice) (Invoice, error) { return in, nil }, sc),
		pipeline.Policy{Outage: pipeline.NoOutage})
	paid := pipeline.Await(billed, "payment", func(in Invoice) string { return "invoice:" + in.ID }, pipeline.AwaitOptions{Within: 72 * time.Hour},
		func(in Invoice, p Payment) (Settled, error) { return Settled{ID: in.ID, Paid: true, Ref: p.Ref}, nil },
		func(in Invoice) (Settled, error) { return Settled{ID: in.ID}, nil })
	p := pipeline.Then(paid, step.New("file", func(_ context.Context, s Settled) (string, error) { return s.ID, nil }, sc))
	require.NoError(t, p.Err())
	return rt, p
}

func drainRuntime(t *testing.T, rt *pipeline.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, rt.Work(ctx, pipeline.WorkerConfig{StopWhenDrained: true, Poll: 5 * time.Millisecond, PruneEvery: -1}))
}

func TestEventsSendListAndTheTimeline(t *testing.T) { eventsCases(t, newFixture(t, nil)) }

func TestEventsSendListAndTheTimelineOnPostgres(t *testing.T) { eventsCases(t, newPostgresFixture(t)) }

func eventsCases(t *testing.T, f *fixture) {
	ctx := context.Background()
	rt, p := invoices(t, f)
	waiting, err := p.Submit(ctx, Invoice{ID: "42"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	drainRuntime(t, rt)

	t.Run("list shows the wait and its deadline", func(t *testing.T) {
		r := f.ok("events", "list")
		assert.Contains(t, r.stdout, "Waiting (1, oldest first)\n")
		assert.Regexp(t, `(?m)^RUN +PIPELINE +STEP +EVENT +KEY +DEADLINE \(UTC\) +STATE$`, r.stdout)
		assert.Regexp(t, `(?m)^`+waiting+` +invoices +payment +payment +invoice:42 +\d{4}-\d\d-\d\d [\d:]+ UTC +waiting$`, r.stdout)
		assert.Contains(t, r.stdout, "\nKept events: none\n")
		l := decode[store.EventList](t, f.ok("events", "list", "--json"))
		require.Len(t, l.Waits, 1)
		assert.Equal(t, waiting, l.Waits[0].RunID)

		show := f.ok("runs", "show", waiting)
		assert.Contains(t, show.stdout, "(step payment waits for an event: plumb events list)")
		assert.Contains(t, show.stdout, "payment  waited for an event")
		assert.Contains(t, show.stdout, "note   waiting for payment invoice:42 until ")
	})

	t.Run("send refuses a payload that breaks the contract, and an unknown event", func(t *testing.T) {
		r := f.plumb("events", "send", "payment", "invoice:42", "--data", `{"amount":0}`)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "breaks the contract of step payment of pipeline invoices")
		assert.Contains(t, r.stderr, "/amount")
		r = f.plumb("events", "send", "refund", "invoice:42", "--data", `{}`)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "no step awaits an event of that name")
		r = f.plumb("events", "send", "payment", "invoice:42", "--data", `{not json`)
		assert.Equal(t, exitUsage, r.code, r.String())
		assert.Empty(t, decode[store.EventList](t, f.ok("events", "list", "--all", "--json")).Events, "nothing was sent")
	})

	t.Run("send delivers to the waiting run, and a duplicate changes nothing", func(t *testing.T) {
		r := f.ok("events", "send", "payment", "invoice:42", "--data", `{"amount":100,"ref":"ch_1"}`, "--source", "stripe", "--id", "evt_1")
		assert.Contains(t, r.stdout, "event payment invoice:42 (id evt_1, from stripe) delivered: run "+waiting+" waited for it at step payment and is due now\n")
		dup := decode[store.Delivery](t, f.ok("events", "send", "payment", "invoice:42", "--data", `{"amount":100,"ref":"ch_1"}`, "--source", "stripe", "--id", "evt_1", "--json"))
		assert.True(t, dup.Duplicate)
		r = f.ok("events", "send", "payment", "invoice:42", "--data", `{"amount":100,"ref":"ch_1"}`, "--source", "stripe", "--id", "evt_1")
		assert.Contains(t, r.stdout, "was delivered before")
		drainRuntime(t, rt)
		out, err := p.Wait(ctx, waiting)
		require.NoError(t, err)
		assert.Equal(t, "42", out)

		show := f.ok("runs", "show", waiting)
		assert.Contains(t, show.stdout, "payment  succeeded  on the event it waited for")
		assert.Contains(t, show.stdout, "note   event payment invoice:42 from stripe at ")
		all := f.ok("events", "list", "--all")
		assert.Regexp(t, `(?m)^`+waiting+` +invoices +payment +payment +invoice:42 +.* took evt_1 from stripe at `, all.stdout)
		assert.Regexp(t, `(?m)^evt_1 +stripe +payment +invoice:42 +.* taken by `+waiting+` at step payment$`, all.stdout)
	})
}

func TestEventsSendKeepsAnEventForAWaitToCome(t *testing.T) {
	f := newFixture(t, nil)
	rt, p := invoices(t, f)
	drainRuntime(t, rt) // registers the definition
	r := cli{dir: f.dir, stdin: `{"amount":5,"ref":"ch_43"}`}.run(t, append(append([]string(nil), f.target...), "events", "send", "payment", "invoice:43", "--data", "-")...)
	require.Equal(t, 0, r.code, r.String())
	assert.Contains(t, r.stdout, "kept: no run waits for it yet; the first to wait before ")
	kept := f.ok("events", "list")
	assert.Contains(t, kept.stdout, "Waiting: none\n")
	assert.Regexp(t, `(?m)^evt_\S+ +cli +payment +invoice:43 +.* kept until `, kept.stdout)

	id, err := p.Submit(context.Background(), Invoice{ID: "43"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	drainRuntime(t, rt)
	d := f.get(id)
	assert.Equal(t, store.Succeeded, d.Run.Status, "the kept event was taken at once")
	show := f.ok("runs", "show", id)
	assert.Contains(t, show.stdout, "note   event payment invoice:43 from cli at ")
	assert.NotContains(t, show.stdout, "waited for an event", "it never waited")
}

func TestEventsRefusedListedAndReplaced(t *testing.T) { refusedCases(t, newFixture(t, nil)) }

func TestEventsRefusedListedAndReplacedOnPostgres(t *testing.T) {
	refusedCases(t, newPostgresFixture(t))
}

// A delivery refused at intake (intake.NewEvents keeps it as a refused
// event) is listed with --refused, with why and the command that sends it
// corrected; that command takes its place and wakes the waiting run.
func refusedCases(t *testing.T, f *fixture) {
	ctx := context.Background()
	rt, p := invoices(t, f)
	waiting, err := p.Submit(ctx, Invoice{ID: "42"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	drainRuntime(t, rt)
	_, err = f.st.SendEvent(ctx, store.NewEvent{Name: "payment", Key: "invoice:42", Source: "webhook:stripe", ID: "evt_bad",
		Payload: []byte(`{"amount":0,"ref":"ch_1"}`), Refused: "contract violated: /amount: must be at least 1, got 0"})
	require.NoError(t, err)

	r := f.ok("events", "list", "--refused")
	assert.Contains(t, r.stdout, "Refused deliveries (1, oldest first)\n")
	assert.Contains(t, r.stdout, "evt_bad from webhook:stripe: event payment invoice:42, received ")
	assert.Contains(t, r.stdout, "  refused: contract violated: /amount: must be at least 1, got 0\n")
	assert.Contains(t, r.stdout, `  payload: {"amount":0,"ref":"ch_1"}`+"\n")
	assert.Regexp(t, `(?m)^  fix: .*events send payment invoice:42 --source webhook:stripe --id evt_bad --data @fixed.json$`, r.stdout)
	l := decode[store.EventList](t, f.ok("events", "list", "--refused", "--json"))
	require.Len(t, l.Events, 1)
	assert.Empty(t, l.Waits)
	assert.Contains(t, f.ok("events", "list").stdout, "\nKept events: none\n", "a refused event is kept for no wait")
	assert.Regexp(t, `(?m)^evt_bad +webhook:stripe +payment +invoice:42 +.* refused$`, f.ok("events", "list", "--all").stdout)

	bad := f.plumb("events", "send", "payment", "invoice:42", "--source", "webhook:stripe", "--id", "evt_bad", "--data", `{"amount":0}`)
	assert.NotEqual(t, 0, bad.code, "the contract still refuses it")
	sent := f.ok("events", "send", "payment", "invoice:42", "--source", "webhook:stripe", "--id", "evt_bad", "--data", `{"amount":100,"ref":"ch_1"}`)
	assert.Contains(t, sent.stdout, "delivered: run "+waiting+" waited for it at step payment and is due now\n")
	assert.Contains(t, sent.stdout, "  it took the place of the delivery refused under that id\n")
	assert.Contains(t, f.ok("events", "list", "--refused").stdout, "Refused deliveries: none\n")
	drainRuntime(t, rt)
	assert.Equal(t, store.Succeeded, f.get(waiting).Run.Status)
}
