package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
)

// A flaky call is retried with exponential backoff; the fake clock records
// the waits instead of sleeping.
func ExamplePolicy_Do() {
	clock := retrytest.NewClock(time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC))
	p := retry.Policy{MaxAttempts: 4, InitialInterval: time.Second, Jitter: -1, Clock: clock}
	calls := 0
	err := p.Do(context.Background(), func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return errors.New("connection reset")
		}
		return nil
	})
	fmt.Println(err, calls, clock.Sleeps())
	// Output: <nil> 3 [1s 2s]
}

// Errors carry their class; the class decides whether to retry.
func ExampleClassify() {
	errs := []error{
		errors.New("connection reset"),
		retry.Permanent(errors.New("HTTP 401")),
		retry.After(errors.New("HTTP 429"), 20*time.Second),
		context.Canceled,
	}
	for _, err := range errs {
		fmt.Printf("%-16s %-10s wait=%s\n", err, retry.Classify(err), retry.RetryAfter(err))
	}
	// Output:
	// connection reset transient  wait=0s
	// permanent: HTTP 401 permanent  wait=0s
	// transient: HTTP 429 transient  wait=20s
	// context canceled cancelled  wait=0s
}

// Known tells a class that was stated or recognised from one Classify
// defaulted: only a known transient failure is worth waiting out.
func ExampleKnown() {
	errs := []error{
		errors.New("field x is malformed"),
		retry.Transient(errors.New("crm answered 503")),
		fmt.Errorf("reading answer: %w", io.ErrUnexpectedEOF),
		retry.Permanent(errors.New("field x is malformed")),
	}
	for _, err := range errs {
		fmt.Printf("%-34s %-9s known=%t\n", err, retry.Classify(err), retry.Known(err))
	}
	// Output:
	// field x is malformed               transient known=false
	// transient: crm answered 503        transient known=true
	// reading answer: unexpected EOF     transient known=true
	// permanent: field x is malformed    permanent known=true
}
