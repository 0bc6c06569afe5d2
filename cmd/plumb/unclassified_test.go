package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

// A run dead-lettered by an error nobody classified says so, and says how
// to classify it; one that failed with a stated class does not.
func TestUnclassifiedErrorAdvice(t *testing.T) {
	f := newFixture(t, nil)
	st, discard := f.st, slog.New(slog.DiscardHandler)

	clock := retrytest.NewClock(goldenStart)
	parse := step.New("parse", func(_ context.Context, r RawLead) (Lead, error) {
		if r.Text == "stated" {
			return Lead{}, retry.Permanent(errors.New("lead has no email address"))
		}
		return Lead{}, errors.New("field x is malformed")
	}, step.Config{Retry: retry.Policy{MaxAttempts: 2, Clock: clock}})
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: discard, DeadLetters: []deadletter.Sink{deadletter.NewMemory()}}), pipelineName, parse, pipeline.Policy{})
	for id, text := range map[string]string{"malformed-1": "malformed", "stated-1": "stated"} {
		_, err := p.Run(context.Background(), RawLead{ID: id, Text: text}, pipeline.RunOptions{RunID: id})
		var dl *deadletter.Error
		require.ErrorAs(t, err, &dl, id)
	}

	const hint = "unclassified error: wrap it with retry.Permanent(err) if retrying cannot help, or retry.Transient(err) if it can"
	show := f.ok("runs", "show", "malformed-1").stdout
	assert.Contains(t, show, "dead_lettered at step parse (permanent)")
	assert.Contains(t, show, "failed: transient (unclassified)")
	assert.Contains(t, show, hint)
	assert.Equal(t, 1, strings.Count(show, hint), "once for the step, not once per attempt")

	dl := f.ok("deadletters", "show", "malformed-1").stdout
	assert.Contains(t, dl, "The step's error was unclassified")
	assert.Contains(t, dl, "retry.Transient(err)")
	assert.NotContains(t, dl, "The step refused its input", "the permanent class's advice would guess")

	// deadletters list keeps the unclassified apart from the permanent.
	list := f.ok("deadletters", "list").stdout
	assert.Contains(t, list, "step parse · unclassified (dead-lettered as permanent): 1 run")
	assert.Contains(t, list, "step parse · permanent: 1 run")

	stated := f.ok("deadletters", "show", "stated-1").stdout
	assert.NotContains(t, stated, "unclassified")
	assert.Contains(t, stated, "The step refused its input")
}
