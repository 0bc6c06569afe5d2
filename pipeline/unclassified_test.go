package pipeline_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// An unclassified error is a bug until someone says otherwise: the step's
// retry policy retries it, then the run is dead-lettered at once, not put
// back in the queue for 3 h 41 min of outage schedule.
func TestUnclassifiedErrorIsDeadLetteredWithoutDeferral(t *testing.T) {
	k := pipelinetest.New(t)
	var fx sideEffects
	rt := k.Runtime
	pol := pipeline.Policy{Outage: pipeline.DefaultOutage}
	k.FailWith("draft", errors.New("field x is malformed"), 0)
	p := durable(k, &fx, rt, pol)
	id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	k.Drain()

	d := k.AssertDeadLettered(id, "draft", retry.ClassPermanent)
	assert.Zero(t, d.Run.Deferrals, "no outage schedule")
	assert.True(t, d.Run.NotBefore.IsZero() || !d.Run.NotBefore.After(k.Clock.Now()))
	assert.Equal(t, 3, k.Attempts("draft"), "the step's retry policy, once")
	rec := d.Steps[len(d.Steps)-1]
	require.Equal(t, store.StepFailed, rec.Status)
	require.Len(t, rec.Attempts, 3)
	for _, a := range rec.Attempts {
		assert.True(t, a.Unclassified, "the record says the error was unclassified")
		assert.Equal(t, retry.ClassTransient, a.Class, "and that it was retried as transient")
	}
}

// Failures known to pass keep the outage schedule.
func TestKnownTransientErrorsFollowTheOutageSchedule(t *testing.T) {
	for _, cause := range []error{
		retry.Transient(errors.New("crm answered 503")),
		fmt.Errorf("calling crm: %w", netTimeout{}),
		fmt.Errorf("reading answer: %w", io.ErrUnexpectedEOF),
	} {
		t.Run(cause.Error(), func(t *testing.T) {
			k := pipelinetest.New(t)
			var fx sideEffects
			rt := k.Runtime
			pol := pipeline.Policy{Outage: pipeline.DefaultOutage}
			k.FailWith("draft", cause, 0)
			p := durable(k, &fx, rt, pol)
			id, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
			require.NoError(t, err)
			k.Drain()
			d := k.AssertStatus(id, store.Queued)
			assert.True(t, d.Run.NotBefore.Equal(k.Clock.Now().Add(time.Minute)), "not before %s", d.Run.NotBefore)
			assert.Equal(t, 1, d.Run.Deferrals)
			for _, wait := range pipeline.DefaultOutage[1:] {
				k.Clock.Advance(d.Run.NotBefore.Sub(k.Clock.Now()))
				k.Drain()
				d = k.AssertStatus(id, store.Queued)
				assert.True(t, d.Run.NotBefore.Equal(k.Clock.Now().Add(wait)), "not before %s, want %s later", d.Run.NotBefore, wait)
			}
			k.Clock.Advance(d.Run.NotBefore.Sub(k.Clock.Now()))
			k.Drain()
			k.AssertDeadLettered(id, "draft", retry.ClassTransient)
			assert.Equal(t, 15, k.Attempts("draft"), "three tries in each of five rounds")
		})
	}
}

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }
