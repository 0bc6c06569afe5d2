package deadletter_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

type broken struct{}

func (broken) Send(context.Context, *deadletter.Letter) error { return errors.New("webhook down") }

func TestMultiSendsToEverySinkAndNamesFailures(t *testing.T) {
	a, b := deadletter.NewMemory(), deadletter.NewMemory()
	m := deadletter.Multi(a, nil, broken{}, b)
	err := m.Send(context.Background(), letter("run-1", 1))
	require.Error(t, err)
	var se *deadletter.SinkError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "deadletter_test.broken", se.Sink)
	assert.ErrorIs(t, err, deadletter.ErrSink)
	assert.Equal(t, 1, a.Len())
	assert.Equal(t, 1, b.Len(), "one failing sink does not stop the others")
	assert.Equal(t, "multi(memory, deadletter_test.broken, memory)", deadletter.SinkName(m), "a nil sink is skipped")

	assert.NoError(t, deadletter.Multi().Send(context.Background(), letter("run-2", 1)))
}

func TestSlogSinkLogsTheLetter(t *testing.T) {
	var buf bytes.Buffer
	s := deadletter.NewSlog(slog.New(slog.NewJSONHandler(&buf, nil)))
	require.NoError(t, s.Send(context.Background(), letter("run-7", 1)))
	out := buf.String()
	assert.Contains(t, out, `"level":"ERROR"`)
	assert.Contains(t, out, `"run_id":"run-7"`)
	assert.Contains(t, out, `"class":"contract"`)
	assert.Contains(t, out, `"step":"classify"`)
	assert.Equal(t, "slog", deadletter.SinkName(s))
}

func TestMemoryKeepsCopies(t *testing.T) {
	m := deadletter.NewMemory()
	l := letter("run-1", 1)
	require.NoError(t, m.Send(context.Background(), l))
	l.RunID = "changed"
	assert.Equal(t, "run-1", m.Letters()[0].RunID)
}

func TestLetterSummaryAndNeedsHuman(t *testing.T) {
	l := letter("run-1", 1)
	l.Error = "contract violated: 2 violations:\n- /stage: enum"
	assert.Equal(t, `leads run run-1 dead-lettered at step "classify" (contract) after 1 attempt: contract violated: 2 violations: …`, l.Summary())
	assert.True(t, deadletter.NeedsHuman(retry.ClassContract))
	assert.True(t, deadletter.NeedsHuman(retry.ClassRefusal))
	assert.False(t, deadletter.NeedsHuman(retry.ClassTransient))
}

func TestLetterRecordForStores(t *testing.T) {
	l := letter("run-1", 1)
	d := l.Record()
	assert.Equal(t, store.DeadLettered, d.Run.Status)
	assert.Equal(t, "classify", d.Run.Step)
	require.Len(t, d.Steps, 1)
	assert.Equal(t, store.AttemptRecords(l.Attempts), d.Steps[0].Attempts)
	assert.True(t, d.Run.KeepPayloads)
}

func TestErrorUnwrapsToTheStepFailure(t *testing.T) {
	cause := retry.Permanent(errors.New("HTTP 401"))
	err := &deadletter.Error{Letter: letter("run-1", 1), Err: cause}
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.Equal(t, "leads run run-1 dead-lettered: permanent: HTTP 401", err.Error())
}
