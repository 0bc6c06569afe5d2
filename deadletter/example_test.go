package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Letters appended to a JSONL file survive the process and read back whole.
func ExampleOpenJSONL() {
	dir, _ := os.MkdirTemp("", "plumb")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "dead-letters.jsonl")

	sink, err := deadletter.OpenJSONL(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = sink.Send(context.Background(), letter("run-1", 10))
	_ = sink.Send(context.Background(), letter("run-2", 10))
	_ = sink.Close()

	letters, skipped, _ := deadletter.ReadJSONL(path)
	for _, l := range letters {
		fmt.Println(l.Summary())
	}
	fmt.Println("skipped:", skipped)
	// Output:
	// leads run run-1 dead-lettered at step "classify" (contract) after 1 attempt: contract violated: /stage: enum
	// leads run run-2 dead-lettered at step "classify" (contract) after 1 attempt: contract violated: /stage: enum
	// skipped: 0
}

// Any store is a dead-letter sink through Store: the letter becomes a
// dead-lettered run of the canonical record, ready for a replay.
func ExampleStore() {
	st := memstore.New(memstore.Config{})
	sink := deadletter.Store(st)
	_ = sink.Send(context.Background(), letter("run-1", 10))

	d, _ := st.GetRun(context.Background(), "run-1")
	fmt.Println(d.Run.Status, d.Run.Step)
	// Output:
	// dead_lettered classify
}
