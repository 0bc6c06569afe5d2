package main

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// runs show tells an abandoned call from an ordinary timeout, and says
// when the record keeps only the first of many violations.
func TestRunsShowAbandonedCallsAndViolationCounts(t *testing.T) {
	f := newFixture(t, nil)
	st, discard := f.st, slog.New(slog.DiscardHandler)

	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	parse := step.New("parse", func(_ context.Context, r RawLead) (Lead, error) {
		if r.Text == "slow" {
			<-release // ignores its context
			return Lead{}, nil
		}
		var violations []contract.Violation
		for range 250 {
			violations = append(violations, contract.Violation{Path: "/items/0", Message: "is wrong"})
		}
		return Lead{}, &contract.ValidationError{Violations: violations[:contract.MaxViolations], Total: len(violations)}
	}, step.Config{Timeout: 50 * time.Millisecond, Retry: retry.Policy{MaxAttempts: 1}})
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Logger: discard, DeadLetters: []deadletter.Sink{deadletter.NewMemory()}}), pipelineName, parse, pipeline.Policy{Outage: pipeline.NoOutage})
	for _, id := range []string{"slow", "many"} {
		_, err := p.Run(context.Background(), RawLead{ID: id, Text: id}, pipeline.RunOptions{RunID: id})
		var dl *deadletter.Error
		require.True(t, errors.As(err, &dl), "%s: %v", id, err)
	}

	slow := f.ok("runs", "show", "slow").stdout
	assert.Contains(t, slow, "abandoned  the function ignored its context")
	many := f.ok("runs", "show", "many").stdout
	assert.Contains(t, many, "violations (the first 100 of 250)")
	assert.NotContains(t, slow, "violations (the first")
}
