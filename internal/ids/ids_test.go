package ids

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIDsSortByTimeAndAreUnique(t *testing.T) {
	base := time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)
	seen := map[string]bool{}
	var list []string
	for i := 0; i < 1000; i++ {
		id := New(base.Add(time.Duration(i) * time.Millisecond))
		require.Len(t, id, 26)
		require.False(t, seen[id], "duplicate id %s", id)
		seen[id] = true
		list = append(list, id)
	}
	require.True(t, sort.StringsAreSorted(list), "ids made later must sort later")
}

func TestEncodeKnownValue(t *testing.T) {
	var b [16]byte
	require.Equal(t, "00000000000000000000000000", encode(b))
	for i := range b {
		b[i] = 0xff
	}
	require.Equal(t, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", encode(b))
}
