package pipelinetest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

type Lead struct {
	Name string `json:"name" jsonschema:"minLength=1"`
}

func upper(_ context.Context, l Lead) (Lead, error) { return Lead{Name: strings.ToUpper(l.Name)}, nil }

// A test of your own pipeline: a transient failure the retries absorb, and
// a permanent one that dead-letters the run at the step, with its class.
func Example() {
	t := &testing.T{} // in a real test, the *testing.T you are given
	k := pipelinetest.New(t)
	p := pipeline.New(k.Runtime, "names", step.New("upper", upper, step.Config{Retry: retry.Policy{MaxAttempts: 3, Jitter: -1}}), pipeline.Policy{Outage: pipeline.NoOutage})

	k.Fail("upper", retry.ClassTransient, 2)
	ok, _ := p.Submit(k.Context(), Lead{Name: "ada"}, pipeline.SubmitOptions{})
	k.Drain()
	fmt.Println(k.AssertSucceeded(ok).Run.Status, k.Attempts("upper"))

	k.Fail("upper", retry.ClassPermanent, 1)
	bad, _ := p.Submit(k.Context(), Lead{Name: "grace"}, pipeline.SubmitOptions{})
	k.Drain()
	d := k.AssertDeadLettered(bad, "upper", retry.ClassPermanent)
	fmt.Println(d.Run.Status, d.Run.Step, d.Run.Class)
	// Output:
	// succeeded 3
	// dead_lettered upper permanent
}
