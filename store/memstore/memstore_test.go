package memstore_test

import (
	"testing"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T, clock retry.Clock) store.Store {
		return memstore.New(memstore.Config{Clock: clock})
	})
}
