package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/console"
	"github.com/plumb-dev/plumb/internal/benchfixture"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// BenchmarkPages measures each page of the console on a SQLite store.
// PLUMB_CONSOLE_BENCH_DB names the store's file: an existing one is used
// as it is (a copy of production, say); a missing one is first seeded with
// PLUMB_CONSOLE_BENCH_RUNS runs (default 100,000) through store.Import,
// spread over the last 24 hours, one in ten dead-lettered. Without it, a
// temporary store of 2,000 runs is seeded. The ops benchmark's store of a
// million runs (store/sqlitestore's BenchmarkOps1M, PLUMB_OPS1M_DB) serves
// as it is. The pages that filter by step and class take them from the
// store's largest dead-letter group, so they list rows on any store.
//
//	PLUMB_CONSOLE_BENCH_DB=/tmp/console-100k.db go test -run '^$' -bench Pages ./console/
func BenchmarkPages(b *testing.B) {
	path, n := os.Getenv("PLUMB_CONSOLE_BENCH_DB"), 2000
	if v := os.Getenv("PLUMB_CONSOLE_BENCH_RUNS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	} else if path != "" {
		n = 100_000
	}
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.db")
	}
	_, statErr := os.Stat(path)
	st, err := sqlitestore.Open(path, sqlitestore.Config{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	if os.IsNotExist(statErr) {
		start := time.Now()
		seed(b, st, n)
		b.Logf("seeded %d runs in %s", n, time.Since(start).Round(time.Millisecond))
	}
	benchPages(b, st)
}

// BenchmarkPagesPostgres measures the same pages on a PostgreSQL store:
// the schema PLUMB_CONSOLE_BENCH_PG_SCHEMA names on the server of
// PLUMB_TEST_POSTGRES_DSN, used as it is. The ops benchmark's schema of a
// million runs (store/pgstore's BenchmarkOps1M seeds ops1m_v1) serves:
//
//	PLUMB_CONSOLE_BENCH_PG_SCHEMA=ops1m_v1 go test -run '^$' -bench PagesPostgres ./console/
func BenchmarkPagesPostgres(b *testing.B) {
	dsn, schema := os.Getenv("PLUMB_TEST_POSTGRES_DSN"), os.Getenv("PLUMB_CONSOLE_BENCH_PG_SCHEMA")
	if dsn == "" || schema == "" {
		b.Skip("set PLUMB_TEST_POSTGRES_DSN and PLUMB_CONSOLE_BENCH_PG_SCHEMA (a seeded schema, such as pgstore's ops1m_v1)")
	}
	st, err := pgstore.Open(context.Background(), dsn, pgstore.Config{Schema: schema})
	require.NoError(b, err)
	b.Cleanup(func() { _ = st.Close() })
	benchPages(b, st)
}

// benchPages times each page of a console on st, whose runs include dead
// letters.
func benchPages(b *testing.B, st console.Store) {
	auth := func(*http.Request) (string, console.Role, bool) { return operator, console.Operator, true }
	h, err := console.New(console.Config{Store: st, Authorize: auth, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	ctx := context.Background()
	dead, err := st.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.DeadLettered}, Limit: 1, NoCount: true})
	require.NoError(b, err)
	require.NotEmpty(b, dead.Runs)
	all, err := st.ListRuns(ctx, store.RunFilter{Limit: 1, NoCount: true})
	require.NoError(b, err)
	// A cursor halfway down: keyset paging costs the same at any depth.
	// The seed's ids count up; other stores' are time-ordered, and the
	// run last updated 12 hours before the newest is the cursor.
	mid := all.Runs[0].ID
	if i, err := strconv.Atoi(strings.TrimPrefix(mid, "r")); err == nil && len(mid) > 4 {
		mid = fmt.Sprintf("r%09d", i/2)
	} else {
		half, err := st.ListRuns(ctx, store.RunFilter{Until: all.Runs[0].UpdatedAt.Add(-12 * time.Hour), Limit: 1, NoCount: true})
		require.NoError(b, err)
		if len(half.Runs) > 0 {
			mid = half.Runs[0].ID
		}
	}
	groups, err := st.DeadLetterGroups(ctx, store.RunFilter{})
	require.NoError(b, err)
	require.NotEmpty(b, groups)
	big := groups[0]
	for _, g := range groups {
		if g.Count > big.Count {
			big = g
		}
	}
	b.Logf("largest dead-letter group: %s/%s/%s, %d runs", big.Pipeline, big.Step, big.Class, big.Count)
	group := url.Values{"pipeline": {big.Pipeline}, "step": {big.Step}, "class": {big.Class.String()}}
	stepClass := url.Values{"step": {big.Step}, "class": {big.Class.String()}}
	get := func(b *testing.B, h http.Handler, path string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"runs", "/runs"},
		{"runs-dead-in-pipeline", "/runs?pipeline=leads&status=dead_lettered"},
		{"runs-step-class", "/runs?" + stepClass.Encode()},
		{"runs-external-id", "/runs?external_id=lead-17"},
		{"runs-deep-page", "/runs?before=" + mid},
		{"run", "/runs/" + dead.Runs[0].ID},
		{"deadletters", "/deadletters"},
		{"replay-preview", "/replay?" + group.Encode()},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			get(b, h, p.path) // warm
			for b.Loop() {
				get(b, h, p.path)
			}
		})
	}
}

// seed records n runs of pipeline "leads" over the last 24 hours.
func seed(b *testing.B, st *sqlitestore.Store, n int) {
	ctx := context.Background()
	require.NoError(b, st.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", KeepPayloads: true,
		Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}}))
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if _, err := st.Import(ctx, benchRun(i, n, now)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
}

func benchRun(i, n int, now time.Time) store.RunDetail {
	at := now.Add(-24 * time.Hour).Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
	in, _ := json.Marshal(benchfixture.NewLead(i))
	r := store.Run{ID: fmt.Sprintf("r%09d", i), Pipeline: "leads", Status: store.Succeeded, Attempt: 1, Input: in, KeepPayloads: true,
		Trigger:        step.Trigger{Source: "inbox", ExternalID: fmt.Sprintf("lead-%d", i%5000), ReceivedAt: at},
		IdempotencyKey: "k-" + strconv.Itoa(i), CreatedAt: at, UpdatedAt: at.Add(time.Second), FinishedAt: at.Add(time.Second)}
	steps := []store.StepRecord{}
	rec := func(idx int, name string, status store.StepStatus) store.StepRecord {
		return store.StepRecord{RunAttempt: 1, Index: idx, Step: name, Status: status, Input: in, Output: in,
			StartedAt: at, FinishedAt: at.Add(time.Duration(idx+1) * 100 * time.Millisecond),
			Attempts: []store.AttemptRecord{{Step: name, Number: 1, Start: at, Duration: 50 * time.Millisecond}}}
	}
	switch i % 20 {
	case 0:
		r.Status, r.Step, r.Class, r.Error = store.DeadLettered, "parse", retry.ClassPermanent, "lead has no email address"
		steps = append(steps, rec(0, "parse", store.StepFailed))
	case 1:
		r.Status, r.Step, r.Class, r.Error = store.DeadLettered, "classify", retry.ClassContract, "contract violated: /score"
		steps = append(steps, rec(0, "parse", store.StepSucceeded), rec(1, "classify", store.StepFailed))
	default:
		r.Output = in
		steps = append(steps, rec(0, "parse", store.StepSucceeded), rec(1, "classify", store.StepSucceeded), rec(2, "draft", store.StepSucceeded))
	}
	for j := range steps {
		if steps[j].Status == store.StepFailed {
			steps[j].Output, steps[j].Error, steps[j].Class = nil, r.Error, r.Class
			steps[j].Attempts[0].Error, steps[j].Attempts[0].Class = r.Error, r.Class
		}
	}
	return store.RunDetail{Run: r, Steps: steps}
}
