package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/internal/opsseed"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// Run the ops benchmark with
//
//	go test -run '^$' -bench BenchmarkOps1M -benchtime 5x -count 5 ./store/pgstore/
//
// It seeds a schema of 1,000,000 runs once (COPY in the store's own
// tables, a minute or two) and keeps it for the next runs, keyed by the
// seed's version (PLUMB_OPS1M_SCHEMA names another); the schema's comment
// holds the seed's time. A schema seeded under an older schema version is
// upgraded by Open, as a store in the field is.
const ops1MRuns = 1_000_000

func ops1MStore(b *testing.B) (*pgstore.Store, time.Time) {
	b.Helper()
	ctx := context.Background()
	dsn := testDSN(b)
	schema := os.Getenv("PLUMB_OPS1M_SCHEMA")
	if schema == "" {
		schema = fmt.Sprintf("ops1m_v%d", opsseed.Version)
	}
	pool := admin(b)
	var comment *string
	err := pool.QueryRow(ctx, "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1", schema).Scan(&comment)
	if err == nil && comment != nil {
		if ns, err := strconv.ParseInt(*comment, 10, 64); err == nil {
			start := time.Now()
			s, err := pgstore.Open(ctx, dsn, pgstore.Config{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				b.Logf("open (and upgrade) of the seeded store: %v", d)
				// An upgrade may rewrite the runs (migration 12 adds a
				// generated column): the figures are of the store once
				// (auto)vacuum has been, as the seed's are.
				for _, t := range []string{"runs", "attempts", "steps", "pending_reviews", "run_recoveries"} {
					if _, err := pool.Exec(ctx, "VACUUM ANALYZE "+schema+"."+t); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.Cleanup(func() { _ = s.Close() })
			return s, time.Unix(0, ns)
		}
	}
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		b.Fatal(err)
	}
	end := time.Now()
	start := time.Now()
	if err := seedPG(ctx, dsn, schema, end); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d runs in %v", ops1MRuns, time.Since(start))
	if _, err := pool.Exec(ctx, fmt.Sprintf("COMMENT ON SCHEMA %s IS '%d'", schema, end.UnixNano())); err != nil {
		b.Fatal(err)
	}
	return ops1MStore(b)
}

func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// seedPG writes the seed's runs with COPY into a store that Open
// created (so the tables are the store's own), then analyzes them.
func seedPG(ctx context.Context, dsn, schema string, end time.Time) error {
	s, err := pgstore.Open(ctx, dsn, pgstore.Config{Schema: schema})
	if err != nil {
		return err
	}
	for _, p := range opsseed.Pipelines {
		if err := s.RegisterPipeline(ctx, store.PipelineDef{Name: p, Steps: []store.StepDef{{Name: "fetch"}, {Name: "classify"}, {Name: "reply"}}}); err != nil {
			_ = s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var runs, attempts, steps [][]any
	flush := func() error {
		for _, t := range []struct {
			table string
			cols  []string
			rows  *[][]any
		}{
			{"runs", []string{"id", "pipeline", "status", "attempt", "idem_key", "trigger_source", "trigger_ext_id", "trigger_at",
				"input_hash", "input_size", "step", "error", "class", "not_before", "lease_owner", "lease_token", "lease_expires",
				"created_at", "updated_at", "finished_at", "review", "records", "parent_id", "parent_step", "parent_index", "branch"}, &runs},
			{"attempts", []string{"run_id", "attempt", "reason", "input", "status", "step", "error", "class", "started_at", "finished_at"}, &attempts},
			{"steps", []string{"run_id", "pipeline", "run_attempt", "idx", "step", "status", "output", "output_hash", "output_size",
				"error", "class", "started_at", "finished_at"}, &steps},
		} {
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, t.table}, t.cols, pgx.CopyFromRows(*t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.table, err)
			}
			*t.rows = (*t.rows)[:0]
		}
		return nil
	}
	output := []byte(`{"ok":true}`)
	err = opsseed.Generate(ops1MRuns, end, func(r *opsseed.Run) error {
		var review any
		if r.Review != nil {
			b, err := json.Marshal(r.Review)
			if err != nil {
				return err
			}
			review = b
		}
		var parent any
		pstep, pidx, branch := "", 0, 0
		if r.Parent != nil {
			parent, pstep, pidx, branch = r.Parent.RunID, r.Parent.Step, r.Parent.Index, r.Parent.Branch
		}
		owner, token := "", ""
		if r.Status == store.Running {
			owner, token = "worker-1", "t"
		}
		att, records := 1, 0
		for i, st := range r.Steps {
			if i > 0 && st.Index <= r.Steps[i-1].Index {
				att, records = att+1, 0
			}
			records++
			steps = append(steps, []any{r.ID, r.Pipeline, int32(att), int32(st.Index), st.Name, string(st.Status), output, "h", int32(len(output)),
				st.Error, int16(st.Class), st.Started, st.Finished})
		}
		runs = append(runs, []any{r.ID, r.Pipeline, string(r.Status), int32(r.Attempt), strOrNil(r.IdempotencyKey), "webhook", r.ExternalID, r.Created,
			"h", int32(len(opsseed.Input)), r.Step, r.Error, int16(r.Class), tsOrNil(r.NotBefore), owner, token, tsOrNil(r.LeaseExpires),
			r.Created, r.Updated, tsOrNil(r.Finished), review, int32(records), parent, pstep, int32(pidx), int32(branch)})
		for _, a := range r.Attempts {
			attempts = append(attempts, []any{r.ID, int32(a.Number), a.Reason, opsseed.Input, string(a.Status), a.Step, a.Error, int16(a.Class),
				a.Started, tsOrNil(a.Finished)})
		}
		if len(runs) >= 20000 {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	for _, t := range []string{"runs", "attempts", "steps"} {
		if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+schema+"."+t); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkOps1M times what the ops CLI and the review inbox ask of a
// store of 1,000,000 runs (storetest.BenchOps).
func BenchmarkOps1M(b *testing.B) {
	s, end := ops1MStore(b)
	storetest.BenchOps(b, s, end)
}
