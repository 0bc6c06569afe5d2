package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/pipelinetest"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/sqlitestore"
)

// racingStore lets, between a worker escalating an overdue review and
// deciding it by default, a person approve that review and the run open
// its next one; it holds claims back meanwhile, so that no worker takes
// the run in between, and records what the deadline's decision got.
type racingStore struct {
	store.Store
	t       *testing.T
	hold    atomic.Bool
	raced   atomic.Bool
	mu      sync.Mutex
	decided []error
}

func (s *racingStore) Claim(ctx context.Context, req store.ClaimRequest) ([]store.Claimed, error) {
	if s.hold.Load() {
		return nil, nil
	}
	return s.Store.Claim(ctx, req)
}

func (s *racingStore) EscalateReview(ctx context.Context, runID string) error {
	if err := s.Store.EscalateReview(ctx, runID); err != nil {
		return err
	}
	if s.raced.Swap(true) {
		return nil
	}
	d, err := s.Store.GetRun(ctx, runID)
	require.NoError(s.t, err)
	_, err = s.Store.Decide(ctx, runID, store.Decision{Review: d.Run.ReviewRef(), Approved: true, Reviewer: "bob"})
	require.NoError(s.t, err)
	c, err := s.Store.Claim(ctx, store.ClaimRequest{Worker: "other", Limit: 1, Lease: time.Minute})
	require.NoError(s.t, err)
	require.Len(s.t, c, 1)
	rec := store.StepRecord{Index: 2, Step: "draft", Status: store.StepReview, Output: json.RawMessage(`{"to":"ada@example.com","body":"Hello Ada"}`)}
	require.NoError(s.t, s.Store.Finish(ctx, c[0].Lease, store.Outcome{Status: store.AwaitingReview, Record: &rec, Step: "draft",
		Review: &store.Review{Step: "draft", Index: 2, Reason: "tone", Proposed: rec.Output}}))
	return nil
}

func (s *racingStore) Decide(ctx context.Context, runID string, d store.Decision) (*store.Run, error) {
	r, err := s.Store.Decide(ctx, runID, d)
	if d.Default {
		s.mu.Lock()
		s.decided = append(s.decided, err)
		s.mu.Unlock()
	}
	return r, err
}

func (s *racingStore) defaults() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.decided...)
}

// The review deadline's default decides only the review the worker saw
// overdue: when a person decided it and the run opened its next review in
// between, the default is refused as stale and the new review is left for
// a person.
func TestReviewDeadlineDefaultDecidesOnlyTheReviewSeenOverdue(t *testing.T) {
	clock := retrytest.NewClock(pipelinetest.Start)
	inner, err := sqlitestore.Open(filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock})
	require.NoError(t, err)
	defer inner.Close()
	st := &racingStore{Store: inner, t: t}
	rt := pipeline.NewRuntime(pipeline.RuntimeConfig{Store: st, Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	pol := pipeline.Policy{Outage: pipeline.NoOutage}
	once := retry.Policy{MaxAttempts: 1, Clock: clock}
	p1 := pipeline.New(rt, "deadlines", step.New("parse", parse, step.Config{Retry: once}), pol)
	p2 := pipeline.Then(p1, step.New("enrich", func(_ context.Context, l Lead) (Enriched, error) {
		return Enriched{Lead: l, Score: 30, Note: "auto"}, nil
	}, step.Config{Retry: once, Review: step.ReviewRule{
		If:       func(e Enriched) (string, bool) { return "score below 50", e.Score < 50 },
		Deadline: time.Hour, OnDeadline: step.ApproveProposal,
	}}))
	p := pipeline.Then(p2, step.New("draft", func(_ context.Context, e Enriched) (Draft, error) {
		return Draft{To: e.Lead.Email, Body: "Hello " + e.Lead.Name}, nil
	}, step.Config{Retry: once}))

	id, err := p.Submit(context.Background(), ada, pipeline.SubmitOptions{})
	require.NoError(t, err)
	d := workUntil(t, p, st, id, store.AwaitingReview, 0)
	require.Equal(t, "enrich", d.Run.Review.Step)

	clock.Advance(2 * time.Hour)
	st.hold.Store(true)
	w, err := p.Runtime().NewWorker(pipeline.WorkerConfig{Poll: 5 * time.Millisecond, PruneEvery: -1})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	require.Eventually(t, func() bool { return len(st.defaults()) > 0 }, 10*time.Second, 5*time.Millisecond,
		"the worker takes the deadline's default")
	cancel()
	require.NoError(t, <-done)

	errs := st.defaults()
	require.Len(t, errs, 1, "one default, for the one review seen overdue")
	assert.ErrorIs(t, errs[0], store.ErrStaleReview)
	var se *store.StaleReviewError
	require.True(t, errors.As(errs[0], &se))
	assert.Equal(t, store.ReviewRef{Attempt: 1, Index: 1}, se.Decided, "it named the review seen overdue")

	got, err := inner.GetRun(context.Background(), id)
	require.NoError(t, err)
	assert.Equal(t, store.AwaitingReview, got.Run.Status)
	require.NotNil(t, got.Run.Review)
	assert.Equal(t, "draft", got.Run.Review.Step)
	assert.Nil(t, got.Run.Review.Decision, "the new review is left for a person")
	last := got.Steps[len(got.Steps)-1]
	assert.Equal(t, store.StepReview, last.Status, "nothing was recorded on it")
}
