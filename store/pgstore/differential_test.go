package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestDifferentialWithLargePayloads runs a sequence with payloads of
// about 1 KB, which the store packs (storekit.PackPayload): the
// timelines, listings and views it reads back are memstore's, byte for
// byte, through replays (from a step, with a patched input), decisions
// with edited outputs, failures whose records keep their inputs, and
// runs that keep no payloads.
func TestDifferentialWithLargePayloads(t *testing.T) {
	testDSN(t)
	schema := freshSchema(t)
	storetest.Differential(t, func(t *testing.T, clock retry.Clock) store.Store {
		return openStore(t, pgstore.Config{Clock: clock, Schema: schema})
	}, storetest.DifferentialConfig{Resolution: time.Microsecond, Seeds: []uint64{5}, Payload: 1000})
	q := pgx.Identifier{schema}.Sanitize()
	var records, runs int
	require.NoError(t, admin(t).QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM `+q+`.steps WHERE substr(output, 1, 1) = '\x02'::bytea AND substr(input, 1, 1) = '\x02'::bytea),
		(SELECT count(*) FROM `+q+`.runs WHERE substr(output, 1, 1) = '\x02'::bytea)`).Scan(&records, &runs))
	assert.Positive(t, records, "records packed")
	assert.Positive(t, runs, "outputs packed")
}
