package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

func TestReplayWithSetPatchesTheFailedStepsInput(t *testing.T) {
	f := newFixture(t, nil)
	id := f.run("babbage", noEmailText)
	f.run("ada", adaText)
	require.Equal(t, store.DeadLettered, f.get(id).Run.Status)

	t.Run("a patch that breaks the input contract is refused with its violations", func(t *testing.T) {
		r := f.plumb("replay", id, "--set", "/text=")
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "the patched input breaks the contract of step parse; nothing was replayed")
		assert.Contains(t, r.stderr, "  /text: ")
		assert.Equal(t, 1, f.get(id).Run.Attempt, "nothing was written")
	})

	t.Run("a dry run prints the plan and writes nothing", func(t *testing.T) {
		r := f.ok("replay", id, "--set", "/text=Charles Babbage <charles@example.com>", "--dry-run")
		assert.Contains(t, r.stdout, "Replay: attempt 2 will start at step parse (step 1 of 3).")
		assert.Contains(t, r.stdout, `/text: "Charles Babbage, no email" → "Charles Babbage <charles@example.com>"`)
		assert.Contains(t, r.stdout, "Dry run: nothing was written.")
		assert.Equal(t, store.DeadLettered, f.get(id).Run.Status)
	})

	t.Run("the CLI writes the intent; a worker carries it out", func(t *testing.T) {
		r := f.ok("replay", id, "--set", "/text=Charles Babbage <charles@example.com>")
		assert.Contains(t, r.stdout, "Queued attempt 2 of run babbage")
		assert.Contains(t, r.stdout, "plumb --db plumb.db runs show babbage")
		assert.Equal(t, store.Queued, f.get(id).Run.Status)
		f.drain()
		d := f.get(id)
		require.Equal(t, store.Succeeded, d.Run.Status, d.Run.Error)
		assert.Contains(t, string(d.Run.Output), "charles@example.com")
		assert.Regexp(t, `^replay from parse by tester@.* with a patched input$`, d.Attempts[1].Reason)
		show := f.ok("runs", "show", id).stdout
		assert.Contains(t, show, "Attempt 2: replay from parse by tester@")
		assert.Contains(t, show, "input (changed)")
	})

	t.Run("a succeeded run is not replayed", func(t *testing.T) {
		r := f.plumb("replay", "ada")
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "run ada succeeded (attempt 1); there is nothing to replay")
	})

	t.Run("not found and usage", func(t *testing.T) {
		r := f.plumb("replay", "nope")
		assert.Equal(t, exitNotFound, r.code, r.String())
		assert.Contains(t, r.stderr, "no run nope in plumb.db")
		id := f.run("", noEmailText)
		r = f.plumb("replay", id, "--from", "nope")
		assert.Equal(t, exitNotFound, r.code, r.String())
		assert.Contains(t, r.stderr, `pipeline leads has no step "nope"; its steps: parse, classify, draft`)
		for _, args := range [][]string{
			{"replay"},
			{"replay", id, "--set", "no-equals-sign"},
			{"replay", id, "--set", "/text/0=x"},
			{"replay", id, "--step", "parse"},
			{"replay", id, "--filter"},
			{"replay", "--filter", "--set", "/a=b"},
		} {
			r := f.plumb(args...)
			assert.Equal(t, exitUsage, r.code, "%v\n%s", args, r)
		}
	})

	t.Run("a patch of a later step replaces the output of the one before", func(t *testing.T) {
		id := f.run("", badText)
		r := f.ok("replay", id, "--set", "/name=Bad Answer Fixed", "--dry-run")
		assert.Contains(t, r.stdout, "Replay: attempt 2 will start at step classify (step 2 of 3).")
		assert.Contains(t, r.stdout, "the patch replaces the output of step parse, as the input of classify")
		assert.Contains(t, r.stdout, `/name: "Bad Answer" → "Bad Answer Fixed"`)
		assert.NotContains(t, r.stdout, "reused from attempt 1")
	})

	t.Run("--patch gives the whole input, from a file or stdin", func(t *testing.T) {
		id := f.run("", noEmailText)
		bad := filepath.Join(f.dir, "bad.json")
		require.NoError(t, os.WriteFile(bad, []byte(`{"id": "x", "text": `), 0o644))
		r := f.plumb("replay", id, "--patch", bad)
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "is not JSON")

		r = cli{dir: f.dir, stdin: `{"id": "x", "text": "Grace Hopper <grace@example.com>"}`}.run(t, "--db", "plumb.db", "replay", id, "--patch", "-", "--json")
		require.Equal(t, 0, r.code, r.String())
		run := decode[store.Run](t, r)
		assert.Equal(t, 2, run.Attempt)
		assert.Equal(t, store.Queued, run.Status)
		f.drain()
		assert.Contains(t, string(f.get(id).Run.Output), "grace@example.com")
	})
}

func TestReplayWaitFollowsTheRunToItsEnd(t *testing.T) { replayWaitCases(t, newFixture(t, nil)) }

func TestReplayWaitOnPostgres(t *testing.T) { replayWaitCases(t, newPostgresFixture(t)) }

// replayWaitCases: --wait is woken by the store when the run ends, from
// the worker's process; it asks about the workers after a quiet period.
func replayWaitCases(t *testing.T, f *fixture) {
	fixed := f.run("fixed", badText)
	again := f.run("again", badText)
	idle := f.run("idle", badText)
	require.Equal(t, store.DeadLettered, f.get(fixed).Run.Status)

	t.Run("no worker: the hint after a quiet period, then the timeout", func(t *testing.T) {
		r := f.plumb("replay", idle, "--wait", "--quiet-after", "100ms", "--timeout", "1s")
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "still queued after 100ms: is a worker of pipeline leads running?")
		assert.Contains(t, r.stderr, "timed out after 1.0s while waiting; the replay stays queued for the workers")
		assert.Equal(t, store.Queued, f.get(idle).Run.Status)
	})

	stop := f.work() // the application's worker, in another process
	defer stop()

	t.Run("it succeeds", func(t *testing.T) {
		f.broken.Store(false)
		start := time.Now()
		r := f.ok("replay", fixed, "--wait", "--timeout", "30s")
		assert.Contains(t, r.stdout, "Replay: attempt 2 will start at step classify (step 2 of 3).")
		assert.Contains(t, r.stdout, "reused from attempt 1, not run again: parse")
		assert.Contains(t, r.stdout, "Run fixed succeeded on attempt 2.")
		assert.Contains(t, r.stdout, `"to": "bad@example.com"`)
		assert.NotContains(t, r.stderr, "still queued", "a worker was running")
		assert.Less(t, time.Since(start), 10*time.Second)
		assert.Equal(t, store.Succeeded, f.get(fixed).Run.Status)
	})

	t.Run("it is dead-lettered again: exit code 1", func(t *testing.T) {
		f.broken.Store(true)
		r := f.plumb("replay", again, "--wait", "--timeout", "30s")
		assert.Equal(t, exitFailed, r.code, r.String())
		assert.Contains(t, r.stderr, "run again is dead_lettered at step classify (contract) again")
		assert.Contains(t, r.stderr, "deadletters show again")
		d := f.get(again)
		assert.Equal(t, 2, d.Run.Attempt)
		assert.Equal(t, retry.ClassContract, d.Run.Class)
	})

	t.Run("--json prints the final run; --poll is accepted and ignored", func(t *testing.T) {
		f.broken.Store(false)
		r := f.ok("replay", again, "--wait", "--poll", "20ms", "--json")
		run := decode[store.Run](t, r)
		assert.Equal(t, store.Succeeded, run.Status)
		assert.Equal(t, 3, run.Attempt)
		assert.Contains(t, r.stderr, "--poll is ignored")
		assert.Contains(t, r.stderr, "Run again", "the plan goes to stderr with --json:\n%s", r.stderr)
	})
}
