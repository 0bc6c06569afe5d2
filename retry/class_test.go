package retry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
)

type httpErr struct {
	status int
	after  time.Duration
}

func (e *httpErr) Error() string             { return fmt.Sprintf("http %d", e.status) }
func (e *httpErr) RetryAfter() time.Duration { return e.after }

type netTimeout struct{}

func (netTimeout) Error() string   { return "i/o timeout" }
func (netTimeout) Timeout() bool   { return true }
func (netTimeout) Temporary() bool { return true }

var _ net.Error = netTimeout{}

func TestClassify(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name string
		err  error
		want retry.Class
	}{
		{"nil", nil, 0},
		{"unknown error is transient", base, retry.ClassTransient},
		{"permanent", retry.Permanent(base), retry.ClassPermanent},
		{"wrapped permanent", fmt.Errorf("calling crm: %w", retry.Permanent(base)), retry.ClassPermanent},
		{"transient", retry.Transient(base), retry.ClassTransient},
		{"needs review", retry.NeedsReview(base), retry.ClassNeedsReview},
		{"budget", retry.Budget(base), retry.ClassBudget},
		{"refusal", retry.Refusal(base), retry.ClassRefusal},
		{"after", retry.After(base, time.Second), retry.ClassTransient},
		{"sentinel contract", fmt.Errorf("bad: %w", retry.ErrContract), retry.ClassContract},
		{"sentinel permanent", retry.ErrPermanent, retry.ClassPermanent},
		{"context canceled", context.Canceled, retry.ClassCancelled},
		{"wrapped canceled", fmt.Errorf("x: %w", context.Canceled), retry.ClassCancelled},
		{"deadline is transient", context.DeadlineExceeded, retry.ClassTransient},
		{"net timeout is transient", netTimeout{}, retry.ClassTransient},
		{"retry-after carrier is transient", &httpErr{429, time.Second}, retry.ClassTransient},
		{"outermost class wins", retry.Permanent(retry.Transient(base)), retry.ClassPermanent},
		{"mark cancelled", retry.Mark(retry.ClassCancelled, base), retry.ClassCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, retry.Classify(tt.err))
		})
	}
}

func TestErrorMatchesItsSentinelOnly(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("wrapped: %w", retry.Permanent(base))
	assert.ErrorIs(t, err, retry.ErrPermanent)
	assert.ErrorIs(t, err, base, "the cause stays reachable")
	assert.NotErrorIs(t, err, retry.ErrTransient)
	var ce *retry.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, retry.ClassPermanent, ce.Class)
	assert.Equal(t, "permanent: boom", ce.Error())
	assert.Nil(t, retry.Permanent(nil), "nil stays nil")
}

func TestClassNames(t *testing.T) {
	for c := retry.ClassTransient; c <= retry.ClassRefusal; c++ {
		b, err := c.MarshalText()
		require.NoError(t, err)
		var back retry.Class
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, c, back)
		assert.Equal(t, c.Sentinel(), retry.Classify(c.Sentinel()).Sentinel())
	}
	assert.Equal(t, "needs_review", retry.ClassNeedsReview.String())
	var c retry.Class
	assert.Error(t, c.UnmarshalText([]byte("flaky")))
	assert.NoError(t, c.UnmarshalText(nil))
	assert.Equal(t, retry.Class(0), c)
}

func TestRetryAfter(t *testing.T) {
	assert.Equal(t, 3*time.Second, retry.RetryAfter(fmt.Errorf("x: %w", &httpErr{429, 3 * time.Second})))
	assert.Equal(t, 2*time.Second, retry.RetryAfter(retry.After(errors.New("busy"), 2*time.Second)))
	assert.Zero(t, retry.RetryAfter(errors.New("plain")))
	assert.True(t, retry.IsTimeout(netTimeout{}))
	assert.True(t, retry.IsTimeout(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	assert.False(t, retry.IsTimeout(errors.New("x")))
	assert.True(t, retry.IsTimeout(retry.Transient(&retry.TimeoutError{After: time.Second, Err: errors.New("abandoned")})),
		"an attempt timeout whatever its cause")
}
