package sqlitestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

func Example() {
	dir, err := os.MkdirTemp("", "plumb-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// The file is the whole store; Open creates it and its schema.
	s, err := sqlitestore.Open(filepath.Join(dir, "plumb.db"), sqlitestore.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	run, created, err := s.Enqueue(ctx, store.NewRun{
		ID:             "run-0001",
		Pipeline:       "lead-followup",
		Input:          json.RawMessage(`{"email":"ada@example.com"}`),
		IdempotencyKey: "hubspot:lead-77",
		KeepPayloads:   true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.ID, run.Status, created)

	// Enqueue returns once the run is committed (and, by default, synced).
	d, err := s.GetRun(ctx, "run-0001")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Run.Pipeline, string(d.Run.Input), d.Attempts[0].Reason)
	// Output:
	// run-0001 queued true
	// lead-followup {"email":"ada@example.com"} submitted
}
