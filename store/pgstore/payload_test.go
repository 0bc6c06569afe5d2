package pgstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// Rows an older Plumb wrote (payloads as bare JSON, attempts in format 1)
// read beside the packed ones this one writes, in a timeline and in a
// claim's checkpoints, and a run so written goes on.
func TestOlderRecordsReadBesidePackedOnes(t *testing.T) {
	testDSN(t)
	ctx := context.Background()
	schema := freshSchema(t)
	s := openStore(t, pgstore.Config{Schema: schema})
	db, q := admin(t), pgx.Identifier{schema}.Sanitize()
	storetest.OlderRecordsReadBesidePackedOnes(t, storetest.OlderRecords{
		Store: s,
		InsertV1: func(input, output json.RawMessage, attemptsV1 []byte, finished time.Time) {
			_, err := db.Exec(ctx, `INSERT INTO `+q+`.steps (run_id, pipeline, run_attempt, idx, step, status, input, output, output_hash, output_size,
				attempts, started_at, finished_at) VALUES ('run-1', 'leads', 1, 1, 'score', 'succeeded', $1, $2, '', 0, $3, $4, $4)`,
				[]byte(input), []byte(output), attemptsV1, finished)
			require.NoError(t, err)
			_, err = db.Exec(ctx, `UPDATE `+q+`.runs SET records = records + 1 WHERE id = 'run-1'`)
			require.NoError(t, err)
		},
		OnDisk: func() []storetest.DiskRecord {
			rows, err := db.Query(ctx, "SELECT idx, output, attempts FROM "+q+".steps WHERE run_id = 'run-1' ORDER BY seq")
			require.NoError(t, err)
			defer rows.Close()
			var recs []storetest.DiskRecord
			for rows.Next() {
				var r storetest.DiskRecord
				require.NoError(t, rows.Scan(&r.Index, &r.Output, &r.Attempts))
				recs = append(recs, r)
			}
			require.NoError(t, rows.Err())
			return recs
		},
		RunOutput: func() []byte {
			var out []byte
			require.NoError(t, db.QueryRow(ctx, "SELECT output FROM "+q+".runs WHERE id = 'run-1'").Scan(&out))
			return out
		},
		DeadLetter: func() {
			_, err := db.Exec(ctx, "UPDATE "+q+".runs SET status = 'dead_lettered' WHERE id = 'run-1'")
			require.NoError(t, err)
		},
	})
}

// A run that keeps no payloads ends with none, hashes and sizes those of
// the JSON, not of its packed form.
func TestScrubbedRecordsHashTheJSON(t *testing.T) {
	testDSN(t)
	storetest.ScrubbedRecordsHashTheJSON(t, openStore(t, pgstore.Config{}))
}
