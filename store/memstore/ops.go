package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// GetRun returns a run with its whole timeline.
func (s *Store) GetRun(_ context.Context, id string) (*store.RunDetail, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e, ok := s.runs[id]
	if !ok {
		return nil, fmt.Errorf("memstore: run %s: %w", id, store.ErrNotFound)
	}
	d := &store.RunDetail{Run: cloneRun(e.run), Steps: cloneRecs(e.steps)}
	for _, a := range e.attempts {
		a.Input = clone(a.Input)
		d.Attempts = append(d.Attempts, a)
	}
	storekit.SyncCurrentAttempt(d)
	return d, nil
}

// ListRuns lists runs, newest first (or in review order).
func (s *Store) ListRuns(_ context.Context, f store.RunFilter) (store.RunPage, error) {
	if err := storekit.CheckReviewOrder(f); err != nil {
		return store.RunPage{}, fmt.Errorf("memstore: list runs: %w", err)
	}
	if err := s.lock(); err != nil {
		return store.RunPage{}, err
	}
	defer s.mu.Unlock()
	if f.ReviewOrder {
		var out []store.Run
		for _, e := range s.runs {
			if storekit.Matches(&e.run, &f) && storekit.PendingReview(&e.run) {
				out = append(out, cloneRun(e.run))
			}
		}
		storekit.SortByReview(out)
		if limit := storekit.LimitOrDefault(f.Limit); len(out) > limit {
			out = out[:limit]
		}
		return store.RunPage{Runs: out}, nil
	}
	var out []store.Run
	for _, e := range s.runs {
		if storekit.Matches(&e.run, &f) {
			out = append(out, e.run)
		}
	}
	slices.SortFunc(out, func(a, b store.Run) int { return compareStrings(b.ID, a.ID) })
	more := 0
	if limit := storekit.LimitOrDefault(f.Limit); len(out) > limit {
		out, more = out[:limit], len(out)-limit
	}
	for i := range out {
		out[i] = cloneRun(out[i])
	}
	return storekit.Page(out, f, func(string) (int, error) { return more, nil })
}

// Replay starts a new attempt of a dead-lettered, cancelled or held run,
// under the version the plan gives (the registered definition's).
func (s *Store) Replay(_ context.Context, req store.ReplayRequest) (*store.Run, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e, ok := s.runs[req.RunID]
	if !ok {
		return nil, fmt.Errorf("memstore: replay run %s: %w", req.RunID, store.ErrNotFound)
	}
	from := e.run.Status
	out, err := s.replay(e, req, store.Queued)
	if err != nil {
		return nil, err
	}
	s.changed(e, from)
	s.signal.Notify()
	return out, nil
}

// replay starts a new attempt of e, in status (Queued, or Waiting for a
// restarted branch beyond its fork's limit). The caller applies the change
// to e's join (changed).
func (s *Store) replay(e *entry, req store.ReplayRequest, status store.Status) (*store.Run, error) {
	var def *store.PipelineDef
	if d, ok := s.pipelines[e.run.Pipeline]; ok {
		def = &d
	}
	plan, err := storekit.PlanReplay(&e.run, e.steps, def, req)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	r := &e.run
	r.Attempt++
	r.Status = status
	r.Input = plan.RunInput
	r.Output, r.Step, r.Error, r.Class = nil, "", "", 0
	r.NotBefore, r.Deferrals, r.FinishedAt, r.Review = time.Time{}, 0, time.Time{}, nil
	r.Spent, r.Cancel = store.Spend{}, nil
	r.Version = plan.Version
	r.UpdatedAt = now
	e.unclassified = false // the last attempt's: a later end sets it anew
	for _, rec := range plan.Carry {
		rec.RunAttempt = r.Attempt
		rec.StartedAt, rec.FinishedAt = now, now
		e.steps = append(e.steps, cloneRec(rec))
	}
	e.attempts = append(e.attempts, store.RunAttempt{
		Attempt: r.Attempt, Reason: plan.Reason, Version: plan.Version, Input: clone(plan.RunInput), Status: status, StartedAt: now,
	})
	out := cloneRun(*r)
	return &out, nil
}

// Decide records a review decision.
func (s *Store) Decide(_ context.Context, runID string, d store.Decision) (*store.Run, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e, ok := s.runs[runID]
	if !ok {
		return nil, fmt.Errorf("memstore: decide run %s: %w", runID, store.ErrNotFound)
	}
	now := s.clock.Now()
	from := e.run.Status
	rec, err := storekit.ApplyDecision(&e.run, d, now)
	if err != nil {
		return nil, err
	}
	defer s.changed(e, from)
	if rec != nil {
		e.steps = append(e.steps, cloneRec(*rec))
	}
	if e.run.Status.Final() {
		storekit.Scrub(&e.run, e.steps)
	}
	s.endAttempt(e)
	s.signal.Notify()
	out := cloneRun(e.run)
	return &out, nil
}

// EscalateReview marks an overdue review as escalated, once.
func (s *Store) EscalateReview(_ context.Context, runID string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	e, ok := s.runs[runID]
	if !ok {
		return fmt.Errorf("memstore: escalate run %s: %w", runID, store.ErrNotFound)
	}
	if e.run.Status != store.AwaitingReview || e.run.Review == nil || e.run.Review.Escalated {
		return fmt.Errorf("memstore: escalate run %s: %w", runID, store.ErrConflict)
	}
	e.run.Review.Escalated = true
	return nil
}

// Pipelines lists registered pipelines by name.
func (s *Store) Pipelines(context.Context) ([]store.PipelineDef, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []store.PipelineDef
	for _, d := range s.pipelines {
		out = append(out, cloneDef(d))
	}
	slices.SortFunc(out, func(a, b store.PipelineDef) int { return compareStrings(a.Name, b.Name) })
	return out, nil
}

// Pipeline returns one pipeline's definition.
func (s *Store) Pipeline(_ context.Context, name string) (*store.PipelineDef, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	d, ok := s.pipelines[name]
	if !ok {
		return nil, fmt.Errorf("memstore: pipeline %q: %w", name, store.ErrNotFound)
	}
	d = cloneDef(d)
	return &d, nil
}

// Stats summarises pipelines.
func (s *Store) Stats(_ context.Context, pipeline string, window time.Duration) ([]store.PipelineStats, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	acc := storekit.NewStatsAccumulator(s.clock.Now(), window)
	for _, e := range s.runs {
		if pipeline != "" && e.run.Pipeline != pipeline {
			continue
		}
		acc.AddRun(&e.run, e.attempts)
		for i := range e.steps {
			acc.AddStep(e.run.Pipeline, &e.steps[i])
		}
	}
	now := s.clock.Now()
	for _, w := range s.ev.waits {
		if e, ok := s.runs[w.RunID]; ok && (pipeline == "" || w.Pipeline == pipeline) && storekit.AwaitingEvent(w, &e.run, now) {
			acc.AddAwaiting(w.Pipeline, 1)
		}
	}
	for name, p := range s.pauses {
		if pipeline == "" || name == pipeline {
			acc.AddPause(p)
		}
	}
	return acc.Result(), nil
}

// Prune deletes succeeded runs past the retention limits.
func (s *Store) Prune(_ context.Context, ret store.Retention) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	ret = ret.WithDefaults()
	cutoff := s.clock.Now().Add(-ret.MaxAge)
	var kept []*entry
	deleted := 0
	for id, e := range s.runs {
		if e.run.Status != store.Succeeded || e.run.Parent != nil {
			continue
		}
		if e.run.FinishedAt.Before(cutoff) {
			deleted += s.delete(id)
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) > ret.MaxRuns {
		slices.SortFunc(kept, func(a, b *entry) int {
			if c := b.run.FinishedAt.Compare(a.run.FinishedAt); c != 0 {
				return c
			}
			return compareStrings(b.run.ID, a.run.ID)
		})
		for _, e := range kept[ret.MaxRuns:] {
			deleted += s.delete(e.run.ID)
		}
	}
	return deleted, nil
}

// delete deletes a run with its branch runs, and returns how many runs
// it deleted.
func (s *Store) delete(id string) int {
	e := s.runs[id]
	if k := e.run.Pipeline + "\x00" + e.run.IdempotencyKey; e.run.IdempotencyKey != "" && s.idem[k] == id {
		delete(s.idem, k) // only the key's holder frees it
	}
	delete(s.runs, id)
	s.ev.forget(id)
	n := 1
	for _, c := range s.kids[id] {
		if _, ok := s.runs[c]; ok {
			n += s.delete(c)
		}
	}
	delete(s.kids, id)
	for k := range s.joins {
		if k.parent == id {
			delete(s.joins, k)
		}
	}
	return n
}

// DeadLetterGroups counts the dead-lettered runs f matches by pipeline,
// step and class.
func (s *Store) DeadLetterGroups(_ context.Context, f store.RunFilter) ([]store.DeadLetterGroup, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	f.Status, f.Before = []store.Status{store.DeadLettered}, ""
	var runs []*entry
	for _, e := range s.runs {
		if storekit.Matches(&e.run, &f) {
			runs = append(runs, e)
		}
	}
	slices.SortFunc(runs, func(a, b *entry) int { return compareStrings(b.run.ID, a.run.ID) })
	g := storekit.NewDeadLetterGrouper(f.Limit)
	for _, e := range runs {
		g.Add(&e.run, e.unclassified)
	}
	return g.Result(), nil
}

// StepHistory counts each step's outcomes per bucket from the records.
func (s *Store) StepHistory(_ context.Context, pipeline string, since time.Time, bucket time.Duration) ([]store.StepBucket, error) {
	start, err := store.StepHistoryBuckets(since, s.clock.Now(), bucket)
	if err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	h := storekit.NewStepHistory(start, bucket)
	for _, e := range s.runs {
		if pipeline != "" && e.run.Pipeline != pipeline {
			continue
		}
		for i := range e.steps {
			h.AddRecord(e.run.Pipeline, &e.steps[i])
		}
	}
	return h.Result(), nil
}
