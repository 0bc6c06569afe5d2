package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The claim finds expired runs marked cancelled through runs_marked,
// which holds only marked running runs, under the generic plan its batch
// uses: a claim of a store where nobody cancels reads one empty index.
func TestClaimReadsMarkedRunsFromTheirIndex(t *testing.T) {
	dsn := testDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema := "t_claimplan_" + hex.EncodeToString(b[:])
	s, err := Open(ctx, dsn, Config{Schema: schema})
	require.NoError(t, err)
	defer s.Close()
	t.Cleanup(func() {
		_, _ = s.pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, planSettings)
	require.NoError(t, err)
	now := s.now()
	for name, sql := range map[string]string{"filtered": s.q.claim, "all pipelines": s.q.claimAll} {
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, now, []string{"leads"}, 4, "w", "w#", now.Add(time.Minute))
		require.NoError(t, err)
		var plan strings.Builder
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan.WriteString(line + "\n")
		}
		require.NoError(t, rows.Err())
		assert.Contains(t, plan.String(), "runs_marked", "%s:\n%s", name, plan.String())
	}
}
