package pipeline_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// process is one life of an application: a store opened on the file and a
// pipeline built from code, as after a restart.
type process struct {
	st *sqlitestore.Store
	p  *pipeline.Pipeline[RawLead, Draft]
}

func start(t *testing.T, path string, clock *retrytest.Clock, rule step.ReviewRule, fail func(int) error) *process {
	st, err := sqlitestore.Open(path, sqlitestore.Config{Clock: clock})
	require.NoError(t, err)
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	calls := 0
	p1 := pipeline.New(rt, "restarts", step.New("parse", parse, step.Config{Retry: retry.Policy{MaxAttempts: 1, Clock: clock}}), pol)
	p2 := pipeline.Then(p1, step.New("enrich", func(_ context.Context, l Lead) (Enriched, error) {
		calls++
		if fail != nil {
			if err := fail(calls); err != nil {
				return Enriched{}, err
			}
		}
		return Enriched{Lead: l, Score: 30, Note: "auto"}, nil
	}, step.Config{Retry: retry.Policy{MaxAttempts: 2, Jitter: -1, Clock: clock}, Review: rule}))
	p := pipeline.Then(p2, step.New("draft", func(_ context.Context, e Enriched) (Draft, error) {
		return Draft{To: e.Lead.Email, Body: "Hello " + e.Lead.Name + ", note: " + e.Note}, nil
	}, step.Config{}))
	return &process{st: st, p: p}
}

// work runs a worker until the run reaches one of the statuses (and,
// for queued, has waited at least once).
func (pr *process) work(t *testing.T, id string, want ...store.Status) *store.RunDetail {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pr.p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	var d *store.RunDetail
	require.Eventually(t, func() bool {
		var err error
		d, err = pr.st.GetRun(context.Background(), id)
		require.NoError(t, err)
		for _, s := range want {
			if d.Run.Status == s && (s != store.Queued || d.Run.Deferrals > 0) {
				return true
			}
		}
		return false
	}, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	return d
}

func (pr *process) stop(t *testing.T) { require.NoError(t, pr.st.Close()) }

func TestReviewSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	clock := retrytest.NewClock(pipelinetest.Start)
	rule := step.ReviewRule{If: func(e Enriched) (string, bool) { return "score below 50", e.Score < 50 }}

	first := start(t, path, clock, rule, nil)
	id, err := first.p.Submit(context.Background(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	d := first.work(t, id, store.AwaitingReview)
	assert.Equal(t, "score below 50", d.Run.Review.Reason)
	first.stop(t) // the process goes away while the item awaits review

	second := start(t, path, clock, rule, nil)
	defer second.stop(t)
	reviews, err := second.p.Reviews(context.Background())
	require.NoError(t, err)
	require.Len(t, reviews, 1, "the review is still there after the restart")
	_, err = second.p.Approve(context.Background(), id, "ana", json.RawMessage(`{"lead":{"name":"Ada Lovelace","email":"ada@example.com"},"score":80,"note":"checked"}`))
	require.NoError(t, err)
	d = second.work(t, id, store.Succeeded)
	assert.Contains(t, string(d.Run.Output), "note: checked")
	assert.Equal(t, "ana", d.Run.Review.Decision.Reviewer)
}

func TestDurableWaitSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plumb.db")
	clock := retrytest.NewClock(pipelinetest.Start)
	// The CRM says: come back in ten minutes.
	busy := func(call int) error {
		if call == 1 {
			return retry.After(assert.AnError, 10*time.Minute)
		}
		return nil
	}
	first := start(t, path, clock, step.ReviewRule{}, busy)
	id, err := first.p.Submit(context.Background(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	d := first.work(t, id, store.Queued)
	assert.Equal(t, 1, d.Run.Deferrals)
	assert.True(t, d.Run.NotBefore.Equal(pipelinetest.Start.Add(10*time.Minute)))
	first.stop(t)

	clock.Advance(10 * time.Minute)
	second := start(t, path, clock, step.ReviewRule{}, nil)
	defer second.stop(t)
	d = second.work(t, id, store.Succeeded)
	assert.Equal(t, 1, d.Run.Deferrals)
}

func TestPausedPipelineIsVisibleInTelemetry(t *testing.T) {
	k := pipelinetest.New(t)
	reader := sdkmetric.NewManualReader()
	rt := k.NewRuntime(pipeline.RuntimeConfig{Telemetry: observe.New(observe.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	require.NoError(t, p.Pause(k.Context(), "maintenance", "ops"))
	_, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1})
	}()
	gauge := func(name string) int64 {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name && len(g.DataPoints) > 0 {
					return g.DataPoints[0].Value
				}
			}
		}
		return -1
	}
	require.Eventually(t, func() bool { return gauge("plumb.pipeline.paused") == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(1), gauge("plumb.queue.depth"))
	cancel()
	require.NoError(t, <-done)
}

func TestWorkersPruneSucceededRuns(t *testing.T) {
	k := pipelinetest.New(t)
	rt := k.NewRuntime(pipeline.RuntimeConfig{Retention: store.Retention{MaxRuns: 2}})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	p := enrichPipeline(k, rt, pol, step.ReviewRule{})
	for i := 0; i < 5; i++ {
		_, err := p.Submit(k.Context(), ada, pipeline.SubmitOptions{})
		require.NoError(t, err)
	}
	k.Drain()
	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, 1)
	go func() {
		done <- p.Runtime().Work(ctx, pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: 5 * time.Millisecond})
	}()
	require.Eventually(t, func() bool {
		runsPage, err := k.Store.ListRuns(context.Background(), store.RunFilter{Status: []store.Status{store.Succeeded}})
		runs := runsPage.Runs
		return err == nil && len(runs) == 2
	}, 5*time.Second, 5*time.Millisecond, "the worker prunes past the retention limit")
	cancel()
	require.NoError(t, <-done)
}
