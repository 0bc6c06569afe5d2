package step_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
)

// A step whose function fails twice with a transient error, then succeeds.
func ExampleNew() {
	clock := retrytest.NewClock(time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC))
	calls := 0
	enrich := step.New("enrich", func(ctx context.Context, l Lead) (Label, error) {
		calls++
		if calls < 3 {
			// Say what the failure is: an unclassified error is retried
			// too, but never waited out in the queue as an outage.
			return Label{}, retry.Transient(errors.New("crm: connection reset"))
		}
		return Label{Stage: "warm", Confidence: 0.8}, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 5, Jitter: -1, Clock: clock}})

	res, err := enrich.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	fmt.Println(res.Output.Stage, err)
	for _, a := range res.Attempts {
		if a.Error == "" {
			fmt.Printf("attempt %d: ok\n", a.Number)
			continue
		}
		fmt.Printf("attempt %d: %s (%s), waited %s\n", a.Number, a.Error, a.Class, a.Wait)
	}
	// Output:
	// warm <nil>
	// attempt 1: transient: crm: connection reset (transient), waited 200ms
	// attempt 2: transient: crm: connection reset (transient), waited 400ms
	// attempt 3: ok
}

// A model's confident wrong answer breaks the output contract; the
// fallback answers instead, and the record keeps what the model said.
func ExampleStep_Or() {
	model := step.New("model", func(ctx context.Context, l Lead) (Label, error) {
		return Label{Stage: "Hot", Confidence: 1.4}, nil
	}, step.Config{}).Or(
		step.New("rules", func(ctx context.Context, l Lead) (Label, error) {
			return Label{Stage: "new", Confidence: 0.5}, nil
		}, step.Config{}),
	)
	res, _ := model.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	fmt.Println("output by:", res.By, res.Output.Stage)
	fmt.Println("model said:", res.Attempts[0].Raw)
	for _, v := range res.Attempts[0].Violations {
		fmt.Println(" ", v.Path, v.Keyword)
	}
	// Output:
	// output by: rules new
	// model said: {"stage":"Hot","confidence":1.4}
	//   /confidence maximum
	//   /stage enum
}

// A panic in user code is an error with its stack, never a crash.
func ExamplePanicError() {
	parse := step.New("parse", func(ctx context.Context, l Lead) (Label, error) {
		var labels map[string]Label
		labels[l.Name] = Label{}
		return Label{}, nil
	}, step.Config{})

	_, err := parse.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	var pe *step.PanicError
	fmt.Println(errors.As(err, &pe), errors.Is(err, retry.ErrPermanent))
	fmt.Println(err)
	// Output:
	// true true
	// step "parse" failed (permanent) after 1 attempt: panic: assignment to entry in nil map
}

// A function that ignores its context is abandoned at the step's timeout:
// the attempt fails as a transient timeout and the late result is
// discarded. The call may still cause side effects in the background.
func ExampleConfig_timeout() {
	done := make(chan struct{})
	defer close(done)
	slow := step.New("enrich", func(_ context.Context, l Lead) (Label, error) {
		select { // time.Sleep(3 * time.Second), deaf to its context
		case <-done:
		case <-time.After(3 * time.Second):
		}
		return Label{Stage: "warm", Confidence: 0.8}, nil
	}, step.Config{Timeout: 200 * time.Millisecond, Retry: retry.Never})

	// In a pipeline the abandoned call is logged on its runtime's Logger;
	// alone, on slog.Default().
	res, err := slow.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	fmt.Println(retry.Classify(err), retry.IsTimeout(err), errors.Is(err, step.ErrAbandoned))
	fmt.Println(res.Attempts[0].Abandoned, res.Output.Stage == "")
	// Output:
	// transient true true
	// true true
}

// An error nobody classified is retried by the step's policy, then given
// up on as permanent and marked, so that the record says to classify it.
func ExampleAttempt_unclassified() {
	clock := retrytest.NewClock(time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC))
	parse := step.New("parse", func(_ context.Context, l Lead) (Label, error) {
		return Label{}, errors.New("field x is malformed")
	}, step.Config{Retry: retry.Policy{MaxAttempts: 2, Jitter: -1, Clock: clock}})

	res, err := parse.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	fmt.Println(err)
	for _, a := range res.Attempts {
		fmt.Printf("attempt %d: %s, unclassified %t\n", a.Number, a.Class, a.Unclassified)
	}
	// Output:
	// step "parse" failed (permanent) after 2 attempts: field x is malformed
	// attempt 1: transient, unclassified true
	// attempt 2: transient, unclassified true
}

// Review.If holds a func of the step's output type. New checks its type
// once: a rule written for another type is a definition error, reported
// before any run.
func ExampleReviewRule() {
	classify := func(_ context.Context, l Lead) (Label, error) { return Label{Stage: "warm", Confidence: 0.5}, nil }
	s := step.New("classify", classify, step.Config{Review: step.ReviewRule{
		If: func(l Label) (string, bool) { return "confidence below 0.7", l.Confidence < 0.7 },
	}})
	_, err := s.Run(context.Background(), Lead{Name: "Ada", Email: "ada@example.com"})
	fmt.Println(s.Err(), err) // in a pipeline, this output goes to a person

	wrong := step.New("classify", classify, step.Config{Review: step.ReviewRule{
		If: func(l Lead) (string, bool) { return "no company", true },
	}})
	fmt.Println(wrong.Err())
	// Output:
	// <nil> <nil>
	// step "classify": Review.If is a func(step_test.Lead) (string, bool); the step's output needs a func(step_test.Label) (string, bool)
}
