package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// A worker on any host claims a run and finishes it under its lease;
// subscribers in every process are woken at once by LISTEN/NOTIFY. The
// example needs a PostgreSQL server (PLUMB_TEST_POSTGRES_DSN, see
// .ci/postgres.sh), so go test compiles it without running it; TestExample
// runs it against the test server and checks what it prints.
func Example() {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, os.Getenv("PLUMB_TEST_POSTGRES_DSN"), pgstore.Config{Schema: "plumb_example"})
	if err != nil {
		log.Fatal(err) // names the server and what to check; never the password
	}
	defer s.Close()

	// Idle workers in every process subscribe to wake-ups.
	wake, err := s.Subscribe(ctx)
	if err != nil {
		log.Fatal(err)
	}

	run, created, err := s.Enqueue(ctx, store.NewRun{
		ID:             fmt.Sprintf("run-%d", time.Now().UnixNano()),
		Pipeline:       "lead-followup",
		Input:          json.RawMessage(`{"email":"ada@example.com"}`),
		IdempotencyKey: fmt.Sprintf("hubspot:lead-%d", time.Now().UnixNano()),
		KeepPayloads:   true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(run.Status, created)
	<-wake // within milliseconds of the commit

	claimed, err := s.Claim(ctx, store.ClaimRequest{Worker: "host-a", Pipelines: []string{"lead-followup"}, Limit: 8, Lease: 30 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range claimed {
		// Every write carries the lease; a worker that lost it is refused.
		rec := store.StepRecord{Index: 0, Step: "draft", Status: store.StepSucceeded, Output: json.RawMessage(`"Hi Ada"`)}
		if err := s.Finish(ctx, c.Lease, store.Outcome{Status: store.Succeeded, Record: &rec, Output: rec.Output}); err != nil {
			log.Fatal(err)
		}
	}
	d, err := s.GetRun(ctx, run.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Run.Status, string(d.Run.Output))
}

// TestExample runs Example against the test server and checks what it
// prints, since go test cannot run an example that needs a server.
func TestExample(t *testing.T) {
	testDSN(t)
	t.Cleanup(func() { _, _ = admin(t).Exec(context.Background(), "DROP SCHEMA IF EXISTS plumb_example CASCADE") })
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	func() {
		defer func() { os.Stdout = stdout }()
		Example()
	}()
	require.NoError(t, w.Close())
	assert.Equal(t, "queued true\nsucceeded \"Hi Ada\"\n", string(<-done))
}
