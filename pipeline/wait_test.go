package pipeline_test

import (
	"context"
	"errors"
	"log/slog"
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

type answer struct {
	Ticket string `json:"ticket"`
	Text   string `json:"text" jsonschema:"minLength=1"`
}

// answerDesk is a pipeline whose run dead-letters for the ticket "bad",
// awaits review for "unsure", and answers the rest.
func answerDesk(rt *pipeline.Runtime) *pipeline.Pipeline[ticket, answer] {
	return pipeline.New(rt, "answers", step.New("answer", func(_ context.Context, t ticket) (answer, error) {
		switch t.ID {
		case "bad":
			return answer{}, retry.Permanent(errors.New("ticket bad has no text"))
		case "unsure":
			return answer{Ticket: t.ID, Text: "maybe"}, nil
		}
		return answer{Ticket: t.ID, Text: "hello " + t.ID}, nil
	}, step.Config{Review: step.ReviewRule{If: func(a answer) (string, bool) { return "unsure answer", a.Text == "maybe" }}}), noOutage)
}

// waitForEveryEnd submits runs that end each way and waits for each.
func waitForEveryEnd(t *testing.T, st store.Store, clock retry.Clock) {
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	p := answerDesk(rt)
	ctx := context.Background()
	ids := map[string]string{}
	for _, tk := range []string{"ok", "bad", "unsure"} {
		id, err := p.Submit(ctx, ticket{ID: tk}, pipeline.SubmitOptions{})
		require.NoError(t, err)
		ids[tk] = id
	}
	work(t, ctx, rt)

	out, err := p.Wait(ctx, ids["ok"])
	require.NoError(t, err)
	assert.Equal(t, answer{Ticket: "ok", Text: "hello ok"}, out)

	_, err = p.Wait(ctx, ids["bad"])
	var dl *pipeline.DeadLetteredError
	require.ErrorAs(t, err, &dl)
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.ErrorIs(t, err, pipeline.ErrDeadLettered)
	assert.Equal(t, "answer", dl.Step)
	assert.Contains(t, err.Error(), "plumb replay "+ids["bad"])

	_, err = p.Wait(ctx, ids["unsure"])
	var pe *pipeline.PendingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, store.AwaitingReview, pe.Status)
	assert.Equal(t, "answer", pe.Step)
	assert.Equal(t, "unsure answer", pe.Reason)
	assert.ErrorIs(t, err, retry.ErrNeedsReview)

	// Submit and wait, twice with one idempotency key: one run, one answer.
	first, err := p.SubmitAndWait(ctx, ticket{ID: "web"}, pipeline.SubmitOptions{IdempotencyKey: "req-1"})
	require.NoError(t, err)
	again, err := p.SubmitAndWait(ctx, ticket{ID: "web"}, pipeline.SubmitOptions{IdempotencyKey: "req-1"})
	require.NoError(t, err)
	assert.Equal(t, first, again)
	page, err := st.ListRuns(ctx, store.RunFilter{IdempotencyKey: "req-1"})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 1)

	_, err = p.Wait(ctx, "no-such-run")
	assert.ErrorIs(t, err, store.ErrNotFound)
	short, cancel := context.WithCancel(ctx)
	cancel()
	id, err := p.Submit(ctx, ticket{ID: "later"}, pipeline.SubmitOptions{NotBefore: clock.Now().Add(time.Hour)})
	require.NoError(t, err)
	_, err = p.Wait(short, id)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestWaitReturnsEachEnd(t *testing.T) { onEveryStore(t, waitForEveryEnd) }

func TestWaitRefusesARunOfAnotherPipeline(t *testing.T) {
	k := pipelinetest.New(t)
	p := answerDesk(k.Runtime)
	other := pipeline.New(k.Runtime, "other", step.New("echo", func(_ context.Context, t ticket) (ticket, error) { return t, nil }, step.Config{}), noOutage)
	id, err := other.Submit(k.Context(), ticket{ID: "x"}, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()
	_, err = p.Wait(k.Context(), id)
	assert.ErrorIs(t, err, store.ErrConflict)
}
