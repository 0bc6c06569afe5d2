package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/plumb-dev/plumb/retry"
)

// stated is a wrapper whose Is answers for a class it took from the error
// it wraps, and which says whether that class was stated or defaulted, as
// step.Error does.
type stated struct {
	class retry.Class
	known bool
	err   error
}

func (e *stated) Error() string        { return "step failed: " + e.err.Error() }
func (e *stated) Unwrap() error        { return e.err }
func (e *stated) Is(target error) bool { return target == e.class.Sentinel() }
func (e *stated) ClassKnown() bool     { return e.known }

func TestKnownTellsStatedFromDefaultedClasses(t *testing.T) {
	base := errors.New("field x is malformed")
	tests := []struct {
		name  string
		err   error
		known bool
	}{
		{"nil", nil, false},
		{"plain error", base, false},
		{"wrapped plain error", fmt.Errorf("parsing lead: %w", base), false},
		{"joined plain errors", errors.Join(base, errors.New("field y is empty")), false},
		{"io.EOF says nothing about the far side", io.EOF, false},
		{"retry-after carrier without a class", &httpErr{429, time.Second}, true},
		{"transient", retry.Transient(base), true},
		{"permanent", retry.Permanent(base), true},
		{"wrapped permanent", fmt.Errorf("crm: %w", retry.Permanent(base)), true},
		{"after", retry.After(base, time.Second), true},
		{"class sentinel", fmt.Errorf("bad: %w", retry.ErrContract), true},
		{"context canceled", context.Canceled, true},
		{"context deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), true},
		{"net timeout", netTimeout{}, true},
		{"os deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"connection aborted", syscall.ECONNABORTED, true},
		{"broken pipe", syscall.EPIPE, true},
		{"timed out", syscall.ETIMEDOUT, true},
		{"other errno", syscall.ENOENT, false},
		{"unexpected EOF", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), true},
		{"attempt timeout", attemptTimeout(), true},
		{"bare timeout error", &retry.TimeoutError{After: time.Second, Err: base}, true},
		{"known in one branch of a join", errors.Join(base, retry.Transient(base)), true},
		{"a wrapper that took its class from a plain error", &stated{class: retry.ClassPermanent, known: false, err: base}, false},
		{"a wrapper that stated its class", &stated{class: retry.ClassPermanent, known: true, err: base}, true},
		{"a class stated outside such a wrapper", retry.Permanent(&stated{class: retry.ClassTransient, err: base}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.known, retry.Known(tt.err))
		})
	}
}

// Known does not change what Classify says: an unclassified error is still
// retried as transient.
func TestUnclassifiedErrorsAreStillRetried(t *testing.T) {
	err := errors.New("field x is malformed")
	assert.Equal(t, retry.ClassTransient, retry.Classify(err))
	assert.False(t, retry.Known(err))
}

func attemptTimeout() error {
	return retry.Attempt(context.Background(), time.Millisecond, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
}
