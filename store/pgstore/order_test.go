package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
	"github.com/plumb-dev/plumb/store/pgstore"
)

// Run ids sort byte by byte, as in memstore, whatever the database's
// collation: listings and paging agree across stores.
func TestIDsSortByteByByte(t *testing.T) {
	pg := openStore(t, pgstore.Config{})
	mem := memstore.New(memstore.Config{})
	ctx := context.Background()
	ids := []string{"run-b", "Run-a", "run_a", "run-A", "a", "Z", "~x", "run-10", "run-9", "01KAB"}
	for _, s := range []store.Store{pg, mem} {
		for _, id := range ids {
			_, _, err := s.Enqueue(ctx, store.NewRun{ID: id, Pipeline: "leads", Input: json.RawMessage(`{}`)})
			require.NoError(t, err)
		}
	}
	list := func(s store.Store, f store.RunFilter) []string {
		runsPage, err := s.ListRuns(ctx, f)
		runs := runsPage.Runs
		require.NoError(t, err)
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	assert.Equal(t, list(mem, store.RunFilter{}), list(pg, store.RunFilter{}))
	assert.Equal(t, list(mem, store.RunFilter{Before: "run-A", Limit: 3}), list(pg, store.RunFilter{Before: "run-A", Limit: 3}))
}

// What a call returns equals what a later read finds, to the microsecond
// PostgreSQL keeps, with a real clock's nanoseconds.
func TestTimesRoundTrip(t *testing.T) {
	s := openStore(t, pgstore.Config{})
	ctx := context.Background()
	nb := time.Now().Add(-time.Minute)
	r, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", NotBefore: nb})
	require.NoError(t, err)
	d, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.True(t, r.CreatedAt.Equal(d.Run.CreatedAt), "%s vs %s", r.CreatedAt, d.Run.CreatedAt)
	assert.True(t, r.UpdatedAt.Equal(d.Run.UpdatedAt))
	assert.Equal(t, nb.Truncate(time.Microsecond).UnixNano(), d.Run.NotBefore.UnixNano(), "a caller's time keeps its microseconds")
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w", Pipelines: []string{"leads"}, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	d, err = s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.True(t, c[0].Run.LeaseExpires.Equal(d.Run.LeaseExpires))
	assert.Equal(t, time.UTC, d.Run.CreatedAt.Location())
}

// Of many workers claiming at once through different pools, exactly one
// takes the probe of a paused pipeline.
func TestExactlyOneProbeAcrossWorkers(t *testing.T) {
	a := openStore(t, pgstore.Config{})
	b := openStore(t, pgstore.Config{Schema: a.Schema()})
	ctx := context.Background()
	for i := range 10 {
		_, _, err := a.Enqueue(ctx, store.NewRun{ID: fmt.Sprintf("run-%02d", i), Pipeline: "leads"})
		require.NoError(t, err)
	}
	require.NoError(t, a.SetPause(ctx, store.Pause{Pipeline: "leads", Reason: "breaker", By: "breaker:parse",
		ProbeAfter: time.Now().Add(-time.Second)}))
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for i := range 8 {
		s := []*pgstore.Store{a, b}[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.Claim(ctx, store.ClaimRequest{Worker: fmt.Sprint("w", i), Pipelines: []string{"leads"}, Limit: 5, Lease: time.Minute})
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			for _, r := range c {
				got = append(got, r.Run.ID)
			}
		}()
	}
	wg.Wait()
	require.Len(t, got, 1, "exactly one probe")
	p, err := b.GetPause(ctx, "leads")
	require.NoError(t, err)
	assert.Equal(t, got[0], p.ProbeRun)
	assert.Equal(t, "run-00", got[0], "the oldest run is the probe")
}
