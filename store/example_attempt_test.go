package store_test

import (
	"errors"
	"fmt"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// A step record keeps the persisted form of each attempt, not the runtime
// value: the live error stays behind, its text and class are kept.
func ExampleAttemptRecordOf() {
	a := step.Attempt{Step: "classify", Number: 2, Kind: step.AttemptRetry}
	a.SetError(retry.Transient(errors.New("upstream 503")))
	rec := store.AttemptRecordOf(a)
	fmt.Println(rec.Step, rec.Number, rec.Kind, rec.Class, rec.Unclassified)
	fmt.Println(rec.Error)
	// Output:
	// classify 2 retry transient false
	// transient: upstream 503
}
