package sqlitestore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storekit"
)

// TestAttemptsOfEveryFormatRead: a step record written in format 0 (the
// bare array of attempts), format 1 or format 2 reads as storekit decodes it, and a
// new record is written in the current format.
func TestAttemptsOfEveryFormatRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "plumb.db")
	s := open(t, path, sqlitestore.Config{})
	enqueue(t, s, "run-1")
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "classify", Status: store.StepSucceeded,
		Attempts: []store.AttemptRecord{{Step: "classify", Number: 1}}}))

	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	var written []byte
	require.NoError(t, db.QueryRow("SELECT attempts FROM steps WHERE run_id = 'run-1'").Scan(&written))
	assert.Equal(t, "\x02\x01\x02\bclassify\x01\x00", string(written), "format 2")

	for _, name := range []string{"attempts-v0.json", "attempts-v1.json", "attempts-v2.bin"} {
		blob, err := os.ReadFile(filepath.Join("..", "storekit", "testdata", name))
		require.NoError(t, err)
		want, err := storekit.DecodeAttempts(blob)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		_, err = db.Exec("UPDATE steps SET attempts = ? WHERE run_id = 'run-1'", blob)
		require.NoError(t, err)
		d, err := s.GetRun(ctx, "run-1")
		require.NoError(t, err)
		require.Len(t, d.Steps, 1)
		assert.Equal(t, want, d.Steps[0].Attempts, name)
	}

	_, err = db.Exec(`UPDATE steps SET attempts = '{"v":99,"attempts":[]}' WHERE run_id = 'run-1'`)
	require.NoError(t, err)
	_, err = s.GetRun(ctx, "run-1")
	assert.ErrorContains(t, err, "format 99", "a newer format is refused, not misread")
}
