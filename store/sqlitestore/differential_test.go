package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// TestDifferentialAgainstMemstore requires this store to answer every
// operation of storetest.Differential's random sequences as memstore does:
// it checks the paths where this store does in SQL what memstore does in
// Go, with times kept to the nanosecond. One sequence of 400 operations
// keeps it near ten seconds (each write here is synced to disk); pgstore
// runs all three.
func TestDifferentialAgainstMemstore(t *testing.T) {
	storetest.Differential(t, func(t *testing.T, clock retry.Clock) store.Store {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock})
		require.NoError(t, err)
		return s
	}, storetest.DifferentialConfig{Seeds: []uint64{7}})
}
