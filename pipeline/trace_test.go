package pipeline_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// durableStores opens a fresh store of each kind the durable tests run on:
// a SQLite file, and a schema of its own on the PostgreSQL server named by
// PLUMB_TEST_POSTGRES_DSN (skipped, loudly, without one; a failure on CI).
var durableStores = []struct {
	name string
	open func(t *testing.T, clock retry.Clock) store.Store
}{
	{"sqlite", func(t *testing.T, clock retry.Clock) store.Store {
		st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T, clock retry.Clock) store.Store {
		dsn, schema := pgSchema(t, "plumb_pipeline_")
		st, err := pgstore.Open(context.Background(), dsn, pgstore.Config{Schema: schema, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st
	}},
}

// onEveryStore runs fn on an in-memory store and on each durable store,
// each with a fake clock of its own.
func onEveryStore(t *testing.T, fn func(t *testing.T, st store.Store, clock retry.Clock)) {
	t.Run("memory", func(t *testing.T) {
		k := pipelinetest.New(t)
		fn(t, k.Store, k.Clock)
	})
	for _, opener := range durableStores {
		t.Run(opener.name, func(t *testing.T) {
			clock := retrytest.NewClock(pipelinetest.Start)
			fn(t, opener.open(t, clock), clock)
		})
	}
}

// pgSchema names a fresh schema on the PostgreSQL server that
// PLUMB_TEST_POSTGRES_DSN names, dropped when the test ends (after the
// cleanups registered later, which close its store). Without a server the
// test is skipped, loudly; under CI=true that is a failure.
func pgSchema(tb testing.TB, prefix string) (dsn, schema string) {
	dsn = os.Getenv("PLUMB_TEST_POSTGRES_DSN")
	if dsn == "" {
		const how = `PLUMB_TEST_POSTGRES_DSN is not set: start a server with eval "$(bash .ci/postgres.sh)"`
		if os.Getenv("CI") == "true" {
			tb.Fatal(how + " (CI=true: the PostgreSQL tests must run)")
		}
		tb.Skip("SKIPPED, NOT RUN: " + how)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	tb.Cleanup(func() {
		ctx := context.Background()
		if conn, err := pgx.Connect(ctx, dsn); err == nil {
			_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = conn.Close(ctx)
		}
	})
	return dsn, schema
}

// workUntil runs a worker of p until the run reaches status (queued: once
// it has waited), and returns its record.
func workUntil(t *testing.T, p interface{ Runtime() *pipeline.Runtime }, st store.Store, id string, status store.Status, deferrals int) *store.RunDetail {
	t.Helper()
	w, err := p.Runtime().NewWorker(pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var d *store.RunDetail
	require.Eventually(t, func() bool {
		d, err = st.GetRun(context.Background(), id)
		require.NoError(t, err)
		return d.Run.Status == status && d.Run.Deferrals == deferrals
	}, 10*time.Second, 5*time.Millisecond, "run %s never became %s", id, status)
	cancel()
	require.NoError(t, <-done)
	return d
}

// Every execution of a durable run is recorded with its trace: the first,
// and those after a deferral, a review decision, a replay and a reclaim.
// The run names the first trace, and each later execution's root span
// links to the first one's.
func TestEveryExecutionRecordsItsTrace(t *testing.T) {
	for _, opener := range durableStores {
		t.Run(opener.name, func(t *testing.T) {
			clock := retrytest.NewClock(pipelinetest.Start)
			st := opener.open(t, clock)
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler), Telemetry: observe.New(observe.WithTracerProvider(tp))})
			pol := pipeline.Policy{Outage: pipeline.NoOutage}
			enrichCalls, draftCalls := 0, 0
			p1 := pipeline.New(rt, "traced", step.New("parse", parse, step.Config{Retry: retry.Policy{MaxAttempts: 1, Clock: clock}}), pol)
			p2 := pipeline.Then(p1, step.New("enrich", func(_ context.Context, l Lead) (Enriched, error) {
				if enrichCalls++; enrichCalls == 1 {
					return Enriched{}, &step.DeferredError{Until: clock.Now().Add(10 * time.Minute), Err: errors.New("CRM busy")}
				}
				return Enriched{Lead: l, Score: 30, Note: "auto"}, nil
			}, step.Config{Retry: retry.Policy{MaxAttempts: 1, Clock: clock},
				Review: step.ReviewRule{If: func(e Enriched) (string, bool) { return "score below 50", e.Score < 50 }}}))
			p := pipeline.Then(p2, step.New("draft", func(_ context.Context, e Enriched) (Draft, error) {
				if draftCalls++; draftCalls == 1 {
					return Draft{}, retry.Permanent(errors.New("template missing"))
				}
				return Draft{To: e.Lead.Email, Body: "Hello " + e.Lead.Name + ", note: " + e.Note}, nil
			}, step.Config{Retry: retry.Policy{MaxAttempts: 1, Clock: clock}}))
			ctx := context.Background()

			id, err := p.Submit(ctx, ada, pipeline.SubmitOptions{})
			require.NoError(t, err)
			workUntil(t, p, st, id, store.Queued, 1) // 1: deferred at enrich
			clock.Advance(10 * time.Minute)
			d := workUntil(t, p, st, id, store.AwaitingReview, 1) // 2: after the deferral
			_, err = st.Decide(ctx, id, store.Decision{Review: d.Run.ReviewRef(), Approved: true, Reviewer: "ana"})
			require.NoError(t, err)
			workUntil(t, p, st, id, store.DeadLettered, 1) // 3: after the decision
			_, err = st.Replay(ctx, store.ReplayRequest{RunID: id})
			require.NoError(t, err)
			// A worker claims the replay and dies: its lease expires.
			lost, err := st.Claim(ctx, store.ClaimRequest{Worker: "dead", Pipelines: []string{"traced"}, Limit: 1, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, lost, 1)
			clock.Advance(2 * time.Minute)
			d = workUntil(t, p, st, id, store.Succeeded, 0) // 4: the reclaim of the replay

			var roots []sdktrace.ReadOnlySpan
			for _, s := range exp.GetSpans().Snapshots() {
				if s.Name() == observe.SpanRun+" traced" {
					roots = append(roots, s)
				}
			}
			require.Len(t, roots, 4, "one root span per execution")
			first := roots[0].SpanContext()
			assert.Equal(t, first.TraceID().String(), d.Run.TraceID, "the run names its first trace")
			assert.Equal(t, first.SpanID().String(), d.Run.SpanID)
			assert.Empty(t, roots[0].Links(), "the first execution links to nothing")
			recorded := map[string]bool{}
			for _, rec := range d.Steps {
				if rec.TraceID != "" {
					recorded[rec.TraceID] = true
				}
			}
			for i, root := range roots {
				assert.True(t, recorded[root.SpanContext().TraceID().String()], "execution %d's trace is in the record", i+1)
				if i == 0 {
					continue
				}
				assert.NotEqual(t, first.TraceID(), root.SpanContext().TraceID(), "execution %d has a trace of its own", i+1)
				require.Len(t, root.Links(), 1, "execution %d", i+1)
				link := root.Links()[0].SpanContext
				assert.Equal(t, first.TraceID(), link.TraceID(), "execution %d links to the first trace", i+1)
				assert.Equal(t, first.SpanID(), link.SpanID(), "execution %d links to the first root span", i+1)
			}
			assert.Len(t, recorded, 4, "and no other")
		})
	}
}

// Run with a store records its trace when it records the run: the span
// starts first.
func TestDurableRunRecordsItsTraceAtOnce(t *testing.T) {
	k := pipelinetest.New(t)
	exp := tracetest.NewInMemoryExporter()
	rt := k.NewRuntime(pipeline.RuntimeConfig{Telemetry: observe.New(observe.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))))})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	_, err := p.Run(k.Context(), ada, pipeline.RunOptions{RunID: "run-inline"})
	require.NoError(t, err)
	d, err := k.Store.GetRun(k.Context(), "run-inline")
	require.NoError(t, err)
	spans := exp.GetSpans().Snapshots()
	var root sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == observe.SpanRun+" enrich-leads" {
			root = s
		}
	}
	require.NotNil(t, root)
	assert.Equal(t, root.SpanContext().TraceID().String(), d.Run.TraceID)
	assert.Equal(t, root.SpanContext().SpanID().String(), d.Run.SpanID)
	for _, rec := range d.Steps {
		assert.Equal(t, d.Run.TraceID, rec.TraceID, "step %s", rec.Step)
	}

	// A second Run with the same key finds the run and executes nothing.
	_, err = p.Run(k.Context(), ada, pipeline.RunOptions{RunID: "run-inline-2", IdempotencyKey: "k"})
	require.NoError(t, err)
	_, err = p.Run(k.Context(), ada, pipeline.RunOptions{RunID: "run-inline-3", IdempotencyKey: "k"})
	var pe *pipeline.PendingError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "run-inline-2", pe.RunID)
}
