package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
)

// A list cut off by its limit says so: how many more match, and the
// cursor of the next page.
func testListRunsPages(t *testing.T, h *harness) {
	var ids []string
	for range 5 {
		ids = append(ids, h.enqueue(pipeA).ID)
	}
	h.enqueue(pipeB)
	for _, f := range []store.RunFilter{{Pipeline: pipeA}, {Pipeline: pipeA, Status: []store.Status{store.Queued}}} {
		var seen []string
		f.Limit = 2
		for _, want := range []struct{ n, more int }{{2, 3}, {2, 1}, {1, 0}} {
			page, err := h.s.ListRuns(h.ctx, f)
			require.NoError(t, err)
			require.Len(t, page.Runs, want.n)
			assert.Equal(t, want.more, page.More)
			assert.Equal(t, want.more > 0, page.Truncated())
			if want.more > 0 {
				assert.Equal(t, page.Runs[len(page.Runs)-1].ID, page.Next)
			} else {
				assert.Empty(t, page.Next)
			}
			for _, r := range page.Runs {
				seen = append(seen, r.ID)
			}
			f.Before = page.Next
		}
		assert.ElementsMatch(t, ids, seen, "the pages hold every run once")
	}
	page, err := h.s.ListRuns(h.ctx, store.RunFilter{Pipeline: pipeA, Limit: 5})
	require.NoError(t, err)
	assert.False(t, page.Truncated(), "a full page with nothing past it is not cut off")
	page, err = h.s.ListRuns(h.ctx, store.RunFilter{Limit: 1, NoCount: true})
	require.NoError(t, err)
	assert.Len(t, page.Runs, 1)
	assert.Zero(t, page.More)
	// A bounded count says "more than" past its bound, the exact count
	// up to it.
	for _, c := range []struct {
		bound, more int
		capped      bool
	}{{1, 1, true}, {3, 3, true}, {4, 4, false}, {10, 4, false}} {
		page, err = h.s.ListRuns(h.ctx, store.RunFilter{Pipeline: pipeA, Limit: 1, CountLimit: c.bound})
		require.NoError(t, err)
		assert.Equal(t, c.more, page.More, "bound %d", c.bound)
		assert.Equal(t, c.capped, page.Capped, "bound %d", c.bound)
		assert.Equal(t, page.Runs[0].ID, page.Next)
	}
}
