package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/opsseed"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// Run the ops benchmark with
//
//	go test -run '^$' -bench BenchmarkOps1M -benchtime 5x -count 5 ./store/sqlitestore/
//
// It seeds a store of 1,000,000 runs once (bulk SQL in the store's own
// schema, about a minute) and keeps the file in the temporary directory,
// keyed by the seed's version, for the next runs; PLUMB_OPS1M_DB names
// another file. A file seeded under an older schema is upgraded by Open,
// as a store in the field is.
const ops1MRuns = 1_000_000

// ops1MStore opens the seeded store, seeding it first when no file of
// this seed's version exists, and returns it with the seed's end time.
func ops1MStore(b *testing.B) (*sqlitestore.Store, time.Time) {
	b.Helper()
	path := os.Getenv("PLUMB_OPS1M_DB")
	if path == "" {
		path = filepath.Join(os.TempDir(), fmt.Sprintf("plumb-ops1m-v%d.db", opsseed.Version))
	}
	endFile := path + ".end"
	if raw, err := os.ReadFile(endFile); err == nil {
		ns, err := strconv.ParseInt(string(raw), 10, 64)
		if err == nil {
			start := time.Now()
			s, err := sqlitestore.Open(path, sqlitestore.Config{})
			if err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				b.Logf("open (and upgrade) of the seeded store: %v", d)
			}
			b.Cleanup(func() { _ = s.Close() })
			return s, time.Unix(0, ns)
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", endFile} {
		_ = os.Remove(p)
	}
	end := time.Now()
	start := time.Now()
	if err := seedSQLite(path, end); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d runs in %v", ops1MRuns, time.Since(start))
	if err := os.WriteFile(endFile, []byte(strconv.FormatInt(end.UnixNano(), 10)), 0o644); err != nil {
		b.Fatal(err)
	}
	return ops1MStore(b)
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// seedSQLite writes the seed's runs with bulk INSERTs into a store
// that Open created (so the schema is the store's own).
func seedSQLite(path string, end time.Time) error {
	s, err := sqlitestore.Open(path, sqlitestore.Config{})
	if err != nil {
		return err
	}
	for _, p := range opsseed.Pipelines {
		if err := s.RegisterPipeline(context.Background(), store.PipelineDef{Name: p, Steps: []store.StepDef{{Name: "fetch"}, {Name: "classify"}, {Name: "reply"}}}); err != nil {
			_ = s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(0)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	runs, err := tx.Prepare(`INSERT INTO runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id, trigger_at,
		input_hash, input_size, step, error, class, not_before, lease_owner, lease_token, lease_expires,
		created_at, updated_at, finished_at, review, parent_id, parent_step, parent_index, branch)
		VALUES (?, ?, ?, ?, ?, 'webhook', ?, ?, 'h', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	attempts, err := tx.Prepare(`INSERT INTO attempts (run_id, attempt, reason, input, status, step, error, class, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	steps, err := tx.Prepare(`INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, output, output_hash, output_size,
		error, class, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, '{"ok":true}', 'h', 11, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	err = opsseed.Generate(ops1MRuns, end, func(r *opsseed.Run) error {
		var review any
		if r.Review != nil {
			b, err := json.Marshal(r.Review)
			if err != nil {
				return err
			}
			review = b
		}
		var parent, pstep, pidx, branch any
		if r.Parent != nil {
			parent, pstep, pidx, branch = r.Parent.RunID, r.Parent.Step, r.Parent.Index, r.Parent.Branch
		}
		owner, token := "", ""
		if r.Status == store.Running {
			owner, token = "worker-1", "t"
		}
		if _, err := runs.Exec(r.ID, r.Pipeline, string(r.Status), r.Attempt, nullable(r.IdempotencyKey), r.ExternalID, ns(r.Created),
			len(opsseed.Input), r.Step, r.Error, int64(r.Class), ns(r.NotBefore), owner, token, ns(r.LeaseExpires),
			ns(r.Created), ns(r.Updated), ns(r.Finished), review, parent, pstep, pidx, branch); err != nil {
			return err
		}
		for _, a := range r.Attempts {
			if _, err := attempts.Exec(r.ID, a.Number, a.Reason, opsseed.Input, string(a.Status), a.Step, a.Error, int64(a.Class),
				ns(a.Started), ns(a.Finished)); err != nil {
				return err
			}
		}
		att := 1
		for i, st := range r.Steps {
			if i > 0 && st.Index <= r.Steps[i-1].Index {
				att++
			}
			if _, err := steps.Exec(r.ID, r.Pipeline, att, st.Index, st.Name, string(st.Status), st.Error, int64(st.Class),
				ns(st.Started), ns(st.Finished)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// BenchmarkOps1M times what the ops CLI and the review inbox ask of a
// store of 1,000,000 runs: Stats (plumb status), the dead-letter listing
// (plumb deadletters list), ListRuns with each filter, a first and a deep
// page, and the inbox's pages of runs awaiting review.
func BenchmarkOps1M(b *testing.B) {
	s, end := ops1MStore(b)
	storetest.BenchOps(b, s, end)
}
