package sqlitestore_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
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

// TestDifferentialWithLargePayloads runs a sequence with payloads of
// about 1 KB, which the store packs (storekit.PackPayload): the
// timelines, listings and views it reads back are memstore's, byte for
// byte, through replays (from a step, with a patched input), decisions
// with edited outputs, failures whose records keep their inputs, and
// runs that keep no payloads.
func TestDifferentialWithLargePayloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	storetest.Differential(t, func(t *testing.T, clock retry.Clock) store.Store {
		s, err := sqlitestore.Open(path, sqlitestore.Config{Clock: clock, Synchronous: "NORMAL"})
		require.NoError(t, err)
		return s
	}, storetest.DifferentialConfig{Seeds: []uint64{5}, Payload: 1000})
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var records, runs int
	require.NoError(t, db.QueryRow(`SELECT (SELECT count(*) FROM steps WHERE substr(output, 1, 1) = x'02' AND substr(input, 1, 1) = x'02'),
		(SELECT count(*) FROM runs WHERE substr(output, 1, 1) = x'02')`).Scan(&records, &runs))
	assert.Positive(t, records, "records packed")
	assert.Positive(t, runs, "outputs packed")
}
