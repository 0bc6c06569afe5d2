package pgstore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storekit"
)

// TestAttemptsOfEveryFormatRead: a step record written in format 0 (the
// bare array of attempts), format 1 or format 2 reads as storekit decodes it, and a
// new record is written in the current format.
func TestAttemptsOfEveryFormatRead(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	s := openStore(t, pgstore.Config{Schema: schema})
	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: json.RawMessage(`{"name":"Ada"}`), KeepPayloads: true})
	require.NoError(t, err)
	c, err := s.Claim(ctx, store.ClaimRequest{Worker: "w1", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, c, 1)
	require.NoError(t, s.Checkpoint(ctx, c[0].Lease, store.StepRecord{Index: 0, Step: "classify", Status: store.StepSucceeded,
		Attempts: []store.AttemptRecord{{Step: "classify", Number: 1}}}))

	pool, steps := admin(t), pgx.Identifier{schema, "steps"}.Sanitize()
	var written []byte
	require.NoError(t, pool.QueryRow(ctx, "SELECT attempts FROM "+steps+" WHERE run_id = 'run-1'").Scan(&written))
	assert.Equal(t, "\x02\x01\x02\bclassify\x01\x00", string(written), "format 2")

	for _, name := range []string{"attempts-v0.json", "attempts-v1.json", "attempts-v2.bin"} {
		blob, err := os.ReadFile(filepath.Join("..", "storekit", "testdata", name))
		require.NoError(t, err)
		want, err := storekit.DecodeAttempts(blob)
		require.NoError(t, err)
		require.NotEmpty(t, want)
		_, err = pool.Exec(ctx, "UPDATE "+steps+" SET attempts = $1 WHERE run_id = 'run-1'", blob)
		require.NoError(t, err)
		d, err := s.GetRun(ctx, "run-1")
		require.NoError(t, err)
		require.Len(t, d.Steps, 1)
		assert.Equal(t, want, d.Steps[0].Attempts, name)
	}

	_, err = pool.Exec(ctx, "UPDATE "+steps+" SET attempts = $1 WHERE run_id = 'run-1'", []byte(`{"v":99,"attempts":[]}`))
	require.NoError(t, err)
	_, err = s.GetRun(ctx, "run-1")
	assert.ErrorContains(t, err, "format 99", "a newer format is refused, not misread")
}
