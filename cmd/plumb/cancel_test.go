package main

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// The cancel, find and wait cases run on SQLite and on PostgreSQL, whose
// wake-ups differ.

func TestCancel(t *testing.T) { cancelCases(t, newFixture(t, nil)) }

func TestCancelOnPostgres(t *testing.T) { cancelCases(t, newPostgresFixture(t)) }

func cancelCases(t *testing.T, f *fixture) {
	t.Run("a queued run ends cancelled at once, with who and why", func(t *testing.T) {
		id := f.submit("", adaText)
		r := f.ok("cancel", id, "--reason", "duplicate lead")
		assert.Contains(t, r.stdout, "Cancelled run "+id+" (leads) before it ran a step.\n  by tester at ")
		assert.Contains(t, r.stdout, ": duplicate lead\n")
		assert.Contains(t, r.stdout, "replay "+id)
		d := f.get(id)
		assert.Equal(t, store.Cancelled, d.Run.Status)
		require.NotNil(t, d.Run.Cancel)
		assert.Equal(t, "tester", d.Run.Cancel.By, "$USER by default")
		assert.Equal(t, "duplicate lead", d.Run.Cancel.Reason)
		assert.Equal(t, retry.ClassCancelled, d.Run.Class)

		show := f.ok("runs", "show", id).stdout
		assert.Regexp(t, `(?m)^  cancel    by tester at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? UTC: duplicate lead$`, show)
		list := f.ok("runs", "list", "--status", "cancelled").stdout
		assert.Contains(t, list, "cancelled by tester: duplicate lead", "the list says who cancelled")

		r = f.plumb("cancel", id)
		assert.Equal(t, exitFailed, r.code, "a run that has ended: the code of a final run\n%s", r)
		assert.Contains(t, r.stderr, "run "+id+" has ended (cancelled by tester (duplicate lead) at ")
		assert.Contains(t, r.stderr, "there is nothing to cancel")

		r = f.plumb("cancel", "nope")
		assert.Equal(t, exitNotFound, r.code, r.String())
	})

	t.Run("a run awaiting review ends cancelled where it waited", func(t *testing.T) {
		id := f.run("", unsureText)
		require.Equal(t, store.AwaitingReview, f.get(id).Run.Status)
		run := decode[store.Run](t, f.ok("cancel", id, "--by", "ana@example.com", "--json"))
		assert.Equal(t, store.Cancelled, run.Status)
		assert.Equal(t, "classify", run.Step)
		assert.Equal(t, "ana@example.com", run.Cancel.By)
		assert.Equal(t, "cancelled by ana@example.com", run.Error)
		r := f.plumb("cancel", f.run("", adaText))
		assert.Equal(t, exitFailed, r.code, "a succeeded run\n%s", r)
		assert.Contains(t, r.stderr, "has ended (succeeded)")
	})

	t.Run("a running run is marked and ends at its worker's next heartbeat", func(t *testing.T) {
		id := f.submit("", adaText)
		lease := f.claim(id)
		r := f.ok("cancel", id, "--reason", "customer unsubscribed")
		assert.Contains(t, r.stdout, "Run "+id+" (leads) is running on worker held-by-test (lease until ")
		assert.Contains(t, r.stdout, "it is marked cancelled and ends at its worker's next heartbeat.")
		assert.Contains(t, r.stdout, "cancel "+id+" --wait\n", "the command that follows it")
		assert.Equal(t, store.Running, f.get(id).Run.Status)

		show := f.ok("runs", "show", id).stdout
		assert.Contains(t, show, "  cancel    asked by tester at ")
		assert.Contains(t, show, "not yet ended: its worker stops it at its next heartbeat")
		assert.Contains(t, f.ok("runs", "list", "--status", "running").stdout, "cancel asked by tester: customer unsubscribed")

		// --wait follows it until the worker, told at its heartbeat,
		// gives the run back.
		// The heartbeat comes once the command has asked and waits: a run
		// that ended before the command asked would be refused as ended.
		waited := make(chan result, 1)
		asked := &lineWatch{line: "Waiting for its worker to end it", seen: make(chan struct{})}
		go func() {
			c := cli{dir: f.dir, tee: asked}
			waited <- c.run(t, append(append([]string(nil), f.target...), "cancel", id, "--wait", "--timeout", "30s", "--reason", "asked again")...)
		}()
		select {
		case <-asked.seen:
		case r = <-waited:
			t.Fatalf("cancel --wait ended before it waited:\n%s", r)
		case <-time.After(30 * time.Second):
			t.Fatal("cancel --wait did not start waiting")
		}
		lost, err := f.st.Heartbeat(context.Background(), []store.Lease{lease}, time.Minute)
		require.NoError(t, err)
		assert.Equal(t, []string{id}, lost, "the heartbeat tells the worker")
		require.NoError(t, f.st.Release(context.Background(), []store.Lease{lease}))
		select {
		case r = <-waited:
		case <-time.After(30 * time.Second):
			t.Fatal("cancel --wait did not return")
		}
		require.Equal(t, 0, r.code, r.String())
		assert.Contains(t, r.stdout, "Run "+id+" ended cancelled before it ran a step.")
		d := f.get(id)
		assert.Equal(t, store.Cancelled, d.Run.Status)
		assert.Equal(t, "customer unsubscribed", d.Run.Cancel.Reason, "the first cancellation stands")
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"cancel"},
			{"cancel", "a", "b"},
			{"cancel", "x", "--pipeline", "leads"},
			{"cancel", "x", "--yes"},
			{"cancel", "--filter", "x"},
			{"cancel", "--filter", "--wait"},
			{"cancel", "--filter", "--status", "succeeded", "--dry-run"},
		} {
			r := f.plumb(args...)
			assert.Equal(t, exitUsage, r.code, "%v\n%s", args, r)
		}
	})
}

func TestCancelByFilter(t *testing.T) {
	f := newFixture(t, nil)
	a := f.submitFrom("lead-0197", "batch-1/lead-0197", adaText)
	b := f.submitFrom("lead-0197", "batch-2/lead-0197", badText)
	other := f.submitFrom("lead-0200", "", adaText)
	held := f.submitFrom("lead-0300", "", adaText)
	f.claim(held)

	r := f.ok("cancel", "--filter", "--external-id", "lead-0197", "--dry-run")
	assert.Contains(t, r.stdout, "2 live runs match:")
	assert.Contains(t, r.stdout, a)
	assert.Contains(t, r.stdout, b)
	assert.NotContains(t, r.stdout, other)
	assert.Contains(t, r.stdout, "Dry run: nothing was cancelled.")
	assert.Equal(t, store.Queued, f.get(a).Run.Status)

	r = f.plumb("cancel", "--filter", "--external-id", "lead-0197")
	assert.Equal(t, exitUsage, r.code, "no terminal to ask on\n%s", r)
	assert.Contains(t, r.stderr, "add --yes to cancel, or --dry-run to only list")

	r = f.ok("cancel", "--filter", "--external-id", "lead-0197", "--reason", "customer asked", "--yes")
	// Newest first: by id, and two ids of one millisecond order by their
	// random part.
	newer, older := max(a, b), min(a, b)
	assert.Contains(t, r.stderr, "[1/2] cancelled "+newer)
	assert.Contains(t, r.stderr, "[2/2] cancelled "+older)
	assert.Contains(t, r.stdout, "Cancelled 2 of 2 runs in ")
	for _, id := range []string{a, b} {
		d := f.get(id)
		assert.Equal(t, store.Cancelled, d.Run.Status)
		assert.Equal(t, "customer asked", d.Run.Cancel.Reason)
	}
	assert.Equal(t, store.Queued, f.get(other).Run.Status)
	assert.Contains(t, f.ok("cancel", "--filter", "--external-id", "lead-0197", "--yes").stdout, "No live runs match: nothing to cancel.")

	// A batch that holds a running run marks it.
	res := decode[cancelResult](t, f.ok("cancel", "--filter", "--status", "running,queued", "--yes", "--json"))
	assert.ElementsMatch(t, []string{held, other}, res.Matched)
	assert.Equal(t, []string{other}, res.Cancelled)
	assert.Equal(t, []string{held}, res.Marked)
	assert.Empty(t, res.Failed)
	assert.Equal(t, store.Running, f.get(held).Run.Status)
	assert.NotNil(t, f.get(held).Run.Cancel)
}

// claim holds a run as a worker would, so that it is running.
func (f *fixture) claim(id string) store.Lease {
	f.t.Helper()
	ctx := context.Background()
	got, err := f.st.Claim(ctx, store.ClaimRequest{Worker: "held-by-test", Limit: 1000, Lease: time.Minute})
	require.NoError(f.t, err)
	var lease *store.Lease
	var others []store.Lease
	for _, c := range got {
		if c.Run.ID == id {
			lease = &c.Lease
		} else {
			others = append(others, c.Lease)
		}
	}
	// The others were claimed only because a claim takes the oldest.
	require.NoError(f.t, f.st.Release(ctx, others))
	require.NotNil(f.t, lease, "run %s was not claimed", id)
	return *lease
}

// lineWatch is an io.Writer that closes seen once what was written to it
// contains line.
type lineWatch struct {
	line string
	seen chan struct{}
	mu   sync.Mutex
	buf  strings.Builder
	done bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.line) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}
