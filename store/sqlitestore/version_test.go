package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// The version cases every store passes are storetest's; these are what
// only the file shows: where the version is kept, and the migration.

var (
	v1 = store.Version{Fingerprint: "1111111111111111", Label: "v1"}
	v2 = store.Version{Fingerprint: "2222222222222222", Label: "v2"}
)

func columns(t *testing.T, s *Store, table string) []string {
	t.Helper()
	rows, err := s.db.Query("SELECT name FROM pragma_table_info(?)", table)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		out = append(out, name)
	}
	require.NoError(t, rows.Err())
	return out
}

// The version is kept in the attempts row and read from the current
// attempt wherever a run is read; the runs row the hot path rewrites
// gains nothing.
func TestVersionLivesInAttempts(t *testing.T) {
	s := openTemp(t, Config{Synchronous: "NORMAL"})
	ctx := context.Background()
	for _, c := range columns(t, s, "runs") {
		assert.NotContains(t, c, "version", "the runs row stays narrow")
	}
	assert.Subset(t, columns(t, s, "attempts"), []string{"version", "version_label"})

	_, _, err := s.Enqueue(ctx, store.NewRun{ID: "run-1", Pipeline: "leads", Input: json.RawMessage(`{}`), Version: v1, KeepPayloads: true})
	require.NoError(t, err)
	var fp, label string
	require.NoError(t, s.db.QueryRow("SELECT version, version_label FROM attempts WHERE run_id = 'run-1' AND attempt = 1").Scan(&fp, &label))
	assert.Equal(t, v1, store.Version{Fingerprint: fp, Label: label})

	page, err := s.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.Queued}})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	assert.Equal(t, v1, page.Runs[0].Version)
	again, created, err := s.Enqueue(ctx, store.NewRun{ID: "run-1b", Pipeline: "leads", Input: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.True(t, created)
	assert.True(t, again.Version.IsZero(), "a run submitted with no version is unversioned")

	c := claimID(t, s, "run-1", "leads")
	assert.Equal(t, v1, c.Run.Version, "a claim reads the version with the input")
	require.NoError(t, s.Finish(ctx, c.Lease, store.Outcome{Status: store.Held, Step: "classify",
		Error: "input breaks classify's contract", Class: retry.ClassContract}))
	w, err := s.WaitRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, store.Held, w.Status)
	assert.Equal(t, v1, w.Version)
	r, err := s.Cancel(ctx, store.CancelRequest{RunID: "run-1", By: "ops"})
	require.NoError(t, err)
	assert.Equal(t, store.Cancelled, r.Status, "a held run ends at once")
	assert.Equal(t, v1, r.Version)
}

// A held branch keeps its parent waiting; when the parent is cancelled,
// the held branch ends cancelled with it. Branches take the version their
// fork gives them.
func TestHeldBranchEndsWithCancelledParent(t *testing.T) {
	s := openTemp(t, Config{Synchronous: "NORMAL"})
	ctx := context.Background()
	l := parentAtFork(t, s, "run-p")
	kids := children("run-p", 2)
	for i := range kids {
		kids[i].Version = v2
	}
	require.NoError(t, s.Fork(ctx, l, store.Fork{Record: store.StepRecord{Index: forkIdx, Step: forkAt, Status: store.StepWaiting}, Children: kids}))
	c := claimID(t, s, kids[0].ID, subPipe)
	assert.Equal(t, v2, c.Run.Version)
	require.NoError(t, s.Finish(ctx, c.Lease, store.Outcome{Status: store.Held, Step: "summarise", Error: "broken", Class: retry.ClassContract}))
	p, err := s.GetRun(ctx, "run-p")
	require.NoError(t, err)
	assert.Equal(t, store.Waiting, p.Run.Status, "a held branch is live for its join")

	_, err = s.Cancel(ctx, store.CancelRequest{RunID: "run-p", By: "ops"})
	require.NoError(t, err)
	for _, k := range kids {
		d, err := s.GetRun(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, store.Cancelled, d.Run.Status, k.ID)
		assert.Equal(t, v2, d.Run.Version, k.ID)
		require.Len(t, d.Attempts, 1)
		assert.Equal(t, v2, d.Attempts[0].Version)
	}
}

// A store written at schema 4, before versions, opens at the latest
// schema with its runs intact: they and their attempts read as
// unversioned, a run of it can be held, and a replay under a registered
// definition with a version moves it to that version and says so.
func TestSchema4RecordsReadAfterMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	at := now.Add(-time.Hour).UnixNano()
	stmts := []string{
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		"PRAGMA user_version = 4",
		fmt.Sprintf(`INSERT INTO runs (id, pipeline, status, attempt, created_at, updated_at)
			VALUES ('run-q', 'leads', 'queued', 1, %d, %d)`, at, at),
		fmt.Sprintf(`INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
			VALUES ('run-q', 1, 'submitted', '{"n":1}', 'queued', %d)`, at),
	}
	for _, m := range migrations[:4] {
		_, err := db.Exec(m.SQL)
		require.NoError(t, err, m.Name)
	}
	for _, stmt := range stmts {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	s, err := Open(path, Config{Clock: &manualClock{t: now}, Synchronous: "NORMAL"})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, latestVersion, s.SchemaVersion())
	ctx := context.Background()
	d, err := s.GetRun(ctx, "run-q")
	require.NoError(t, err)
	assert.True(t, d.Run.Version.IsZero())
	require.Len(t, d.Attempts, 1)
	assert.True(t, d.Attempts[0].Version.IsZero())
	page, err := s.ListRuns(ctx, store.RunFilter{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 1)
	assert.True(t, page.Runs[0].Version.IsZero())

	c := claimID(t, s, "run-q", "leads")
	assert.True(t, c.Run.Version.IsZero())
	require.NoError(t, s.Finish(ctx, c.Lease, store.Outcome{Status: store.Held, Step: "parse", Error: "input breaks parse's contract", Class: retry.ClassContract}))
	st, err := s.Stats(ctx, "leads", 0)
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Equal(t, 1, st[0].ByStatus[store.Held])
	held, err := s.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.Held}})
	require.NoError(t, err)
	require.Len(t, held.Runs, 1)
	assert.Equal(t, "parse", held.Runs[0].Step)

	require.NoError(t, s.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", Steps: []store.StepDef{{Name: "parse"}}, Version: v2}))
	r, err := s.Replay(ctx, store.ReplayRequest{RunID: "run-q"})
	require.NoError(t, err)
	assert.Equal(t, v2, r.Version)
	d, err = s.GetRun(ctx, "run-q")
	require.NoError(t, err)
	assert.Equal(t, v2, d.Run.Version)
	require.Len(t, d.Attempts, 2)
	assert.True(t, d.Attempts[0].Version.IsZero(), "the first attempt stays unversioned")
	assert.Equal(t, v2, d.Attempts[1].Version)
	assert.True(t, strings.HasSuffix(d.Attempts[1].Reason, "; moved from unversioned to v2 (2222222222222222)"), d.Attempts[1].Reason)
}
