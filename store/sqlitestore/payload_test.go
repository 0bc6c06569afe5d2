package sqlitestore_test

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// Rows an older Plumb wrote (payloads as bare JSON, attempts in format 1)
// read beside the packed ones this one writes, in a timeline and in a
// claim's checkpoints, and a run so written goes on.
func TestOlderRecordsReadBesidePackedOnes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	s := open(t, path, sqlitestore.Config{Synchronous: "NORMAL"})
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	storetest.OlderRecordsReadBesidePackedOnes(t, storetest.OlderRecords{
		Store: s,
		InsertV1: func(input, output json.RawMessage, attemptsV1 []byte, finished time.Time) {
			_, err := db.Exec(`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, input, output, output_hash, output_size,
				attempts, started_at, finished_at) VALUES ('run-1', 'leads', 1, 1, 'score', 'succeeded', ?, ?, '', 0, ?, ?, ?)`,
				[]byte(input), []byte(output), attemptsV1, finished.UnixNano(), finished.UnixNano())
			require.NoError(t, err)
		},
		OnDisk: func() []storetest.DiskRecord {
			rows, err := db.Query("SELECT idx, output, attempts FROM steps WHERE run_id = 'run-1' ORDER BY seq")
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
			require.NoError(t, db.QueryRow("SELECT output FROM runs WHERE id = 'run-1'").Scan(&out))
			return out
		},
		DeadLetter: func() {
			_, err := db.Exec("UPDATE runs SET status = 'dead_lettered' WHERE id = 'run-1'")
			require.NoError(t, err)
		},
	})
}

// A run that keeps no payloads ends with none, hashes and sizes those of
// the JSON, not of its packed form.
func TestScrubbedRecordsHashTheJSON(t *testing.T) {
	storetest.ScrubbedRecordsHashTheJSON(t, open(t, filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Synchronous: "NORMAL"}))
}
