package deadletter_test

import (
	"context"
	"errors"
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

// Multi sends a letter to every sink: one that refuses it does not keep it
// from the others, and the error names the sink that failed.
func ExampleMulti() {
	kept := deadletter.NewMemory()
	sink := deadletter.Multi(unreachable{}, kept)

	err := sink.Send(context.Background(), letter("run-1", 10))
	fmt.Println(deadletter.SinkName(sink))
	fmt.Println(err)
	fmt.Println("kept:", kept.Len())
	// Output:
	// multi(webhook:ops, memory)
	// dead-letter sink webhook:ops refused run run-1: connection refused
	// kept: 1
}

// unreachable is a sink whose receiver is down.
type unreachable struct{}

func (unreachable) Send(context.Context, *deadletter.Letter) error {
	return errors.New("connection refused")
}

func (unreachable) Name() string { return "webhook:ops" }
