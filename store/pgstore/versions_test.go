package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// The version lives in the attempts row: the runs row, which every claim,
// heartbeat, checkpoint and finish rewrites, has no column for it.
func TestVersionKeepsTheRunsRowNarrow(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	var runs, attempts int
	err := admin(t).QueryRow(context.Background(), `SELECT
		count(*) FILTER (WHERE table_name = 'runs'), count(*) FILTER (WHERE table_name = 'attempts')
		FROM information_schema.columns WHERE table_schema = $1 AND column_name IN ('version', 'version_label')`,
		s.Schema()).Scan(&runs, &attempts)
	require.NoError(t, err)
	assert.Zero(t, runs, "runs has a version column")
	assert.Equal(t, 2, attempts)
}

// A run held by a worker wakes a WaitRun of another store (another
// process, as far as the server knows) through the end channel, whether
// the finish takes the batch statement (a top-level run) or the rules in
// Go (a branch run, whose join changes); the attempt ends held under the
// version it started with.
func TestHeldWakesWaitRunAcrossStores(t *testing.T) {
	w := openStore(t, pgstore.Config{})
	waiter := openStore(t, pgstore.Config{Schema: w.Schema()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v1 := store.Version{Fingerprint: "0123456789abcdef", Label: "v1"}
	claim := func(id, pipeline string) store.Claimed {
		t.Helper()
		c, err := w.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{pipeline}, Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, c, 1)
		require.Equal(t, id, c[0].Run.ID)
		assert.Equal(t, v1, c[0].Run.Version)
		return c[0]
	}
	hold := func(c store.Claimed) *store.Run {
		t.Helper()
		got := make(chan *store.Run, 1)
		errs := make(chan error, 1)
		go func() {
			r, err := waiter.WaitRun(ctx, c.Run.ID)
			errs <- err
			got <- r
		}()
		time.Sleep(100 * time.Millisecond) // the waiter reads the run live, then listens
		require.NoError(t, w.Finish(ctx, c.Lease, store.Outcome{Status: store.Held, Step: "classify",
			Error: "the input breaks the new contract", Class: retry.ClassContract}))
		select {
		case err := <-errs:
			require.NoError(t, err)
			return <-got
		case <-time.After(5 * time.Second):
			t.Fatalf("WaitRun(%s) was not woken by the held finish", c.Run.ID)
			return nil
		}
	}
	check := func(r *store.Run) {
		t.Helper()
		assert.Equal(t, store.Held, r.Status)
		assert.Equal(t, "classify", r.Step)
		assert.Equal(t, retry.ClassContract, r.Class)
		assert.False(t, r.FinishedAt.IsZero())
		assert.Empty(t, r.LeaseToken)
		assert.Equal(t, v1, r.Version)
		d, err := w.GetRun(ctx, r.ID)
		require.NoError(t, err)
		a := d.Attempts[len(d.Attempts)-1]
		assert.Equal(t, store.Held, a.Status)
		assert.Equal(t, "classify", a.Step)
		assert.False(t, a.FinishedAt.IsZero())
		assert.Equal(t, v1, a.Version)
	}

	_, _, err := w.Enqueue(ctx, store.NewRun{ID: "run-top", Pipeline: "leads", Input: []byte(`{}`), Version: v1})
	require.NoError(t, err)
	check(hold(claim("run-top", "leads")))

	_, _, err = w.Enqueue(ctx, store.NewRun{ID: "run-parent", Pipeline: "leads", Input: []byte(`{}`), Version: v1})
	require.NoError(t, err)
	pc := claim("run-parent", "leads")
	kid := store.NewRun{ID: store.BranchID("run-parent", 1, 0), Pipeline: "items", Input: []byte(`{}`), Version: v1,
		Parent: &store.Parent{RunID: "run-parent", Step: "split", Index: 1}}
	require.NoError(t, w.Fork(ctx, pc.Lease, store.Fork{Record: store.StepRecord{Index: 1, Step: "split", Status: store.StepWaiting},
		Children: []store.NewRun{kid}}))
	check(hold(claim(kid.ID, "items")))
	p, err := w.GetRun(ctx, "run-parent")
	require.NoError(t, err)
	assert.Equal(t, store.Waiting, p.Run.Status, "a held branch is live: its parent waits")
}
