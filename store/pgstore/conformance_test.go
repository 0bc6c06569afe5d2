package pgstore_test

import (
	"testing"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

func TestConformance(t *testing.T) {
	testDSN(t)
	storetest.Exercise(t, func(t *testing.T, clock retry.Clock) store.Store {
		return openStore(t, pgstore.Config{Clock: clock})
	})
}
