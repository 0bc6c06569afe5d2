package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The pipeline's logger hears of a call abandoned at its timeout, with the
// run it belonged to.
func TestAbandonedCallIsLoggedOnThePipelinesLogger(t *testing.T) {
	var logs lockedBuffer
	release := make(chan struct{})
	defer close(release)
	slow := step.New("parse", func(_ context.Context, r RawLead) (Lead, error) {
		select { // ignores its context
		case <-release:
		case <-time.After(3 * time.Second):
		}
		return Lead{Name: "Ada", Email: "ada@example.com"}, nil
	}, step.Config{Timeout: 100 * time.Millisecond, Retry: retry.Never})
	sink := deadletter.NewMemory()
	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Logger: slog.New(slog.NewTextHandler(&logs, nil)), DeadLetters: []deadletter.Sink{sink}}), "leads", slow, pipeline.Policy{})
	_, err := p.Run(context.Background(), RawLead{Text: "Ada <ada@example.com>"}, pipeline.RunOptions{RunID: "run-3"})
	var dl *deadletter.Error
	require.ErrorAs(t, err, &dl)
	assert.Equal(t, retry.ClassTransient, dl.Letter.Class, "a timeout is a known transient failure")
	require.Len(t, dl.Letter.Attempts, 1)
	assert.True(t, dl.Letter.Attempts[0].Abandoned)
	assert.Contains(t, logs.String(), "abandoned")
	assert.Contains(t, logs.String(), "run_id=run-3")
	assert.Contains(t, logs.String(), "pipeline=leads")
}
