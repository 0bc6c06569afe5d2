package pgstore_test

import (
	"testing"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// TestDifferentialAgainstMemstore requires this store to answer every
// operation of storetest.Differential's random sequences as memstore does:
// it checks the paths where this store does in SQL what memstore does in
// Go. Times are whole microseconds, the precision PostgreSQL keeps.
func TestDifferentialAgainstMemstore(t *testing.T) {
	testDSN(t)
	storetest.Differential(t, func(t *testing.T, clock retry.Clock) store.Store {
		return openStore(t, pgstore.Config{Clock: clock})
	}, storetest.DifferentialConfig{Resolution: time.Microsecond})
}
