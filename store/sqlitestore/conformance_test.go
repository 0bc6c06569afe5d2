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

func TestConformance(t *testing.T) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		t.Run(sync, func(t *testing.T) {
			storetest.Exercise(t, func(t *testing.T, clock retry.Clock) store.Store {
				s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock, Synchronous: sync})
				require.NoError(t, err)
				return s
			})
		})
	}
}
