package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

type joinKey struct {
	parent string
	index  int
}

// join is a fork's join: its children in branch order, how many are
// live, and the limit of those queued or running.
type join struct {
	step     string
	children []string
	live     int
	limit    int
}

// Fork ends a held run's execution at a branching step: it records the
// children and waits for them.
func (s *Store) Fork(_ context.Context, l store.Lease, f store.Fork) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	e, err := s.held(l)
	if err != nil {
		return err
	}
	for _, nr := range f.Children {
		if !store.ValidID(nr.ID) || nr.Pipeline == "" || nr.Parent == nil || nr.Parent.RunID != e.run.ID || nr.Parent.Index != f.Record.Index {
			return fmt.Errorf("memstore: fork of run %s: child %q must name the run and step %d as its parent: %w", e.run.ID, nr.ID, f.Record.Index, store.ErrConflict)
		}
	}
	existing := map[string]storekit.ExistingChild{}
	for _, nr := range f.Children {
		if c, ok := s.runs[nr.ID]; ok {
			existing[nr.ID] = storekit.ExistingChild{Status: c.run.Status, InputHash: store.Hash(c.run.Input)}
			if c.run.Input == nil {
				existing[nr.ID] = storekit.ExistingChild{Status: c.run.Status, InputHash: c.run.InputHash}
			}
		}
	}
	plan := storekit.PlanFork(f, existing)
	now := s.clock.Now()
	k := joinKey{e.run.ID, f.Record.Index}
	j := s.joins[k]
	if j == nil {
		j = &join{}
		s.joins[k] = j
	}
	j.step, j.limit = f.Record.Step, f.Limit
	j.children = j.children[:0]
	for _, nr := range f.Children {
		j.children = append(j.children, nr.ID)
	}
	for _, c := range plan.Create {
		s.insert(c.Run, c.Status, now)
	}
	for _, c := range plan.Restart {
		if _, err := s.replay(s.runs[c.Run.ID], store.ReplayRequest{RunID: c.Run.ID, Input: c.Run.Input,
			Reason: storekit.RestartReason(e.run.ID)}, c.Status); err != nil {
			return err
		}
	}
	j.live = plan.Live
	rec := cloneRec(f.Record)
	rec.RunID, rec.RunAttempt = e.run.ID, e.run.Attempt
	e.steps = append(e.steps, rec)
	storekit.NoteTrace(&e.run, &rec)
	r := &e.run
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	r.Status, r.Step, r.Error, r.Class, r.NotBefore = plan.Parent, f.Record.Step, "", 0, time.Time{}
	r.UpdatedAt = now
	s.signal.Notify()
	return nil
}

// insert adds a branch run, as Enqueue would, in status.
func (s *Store) insert(nr store.NewRun, status store.Status, now time.Time) {
	p := *nr.Parent
	r := store.Run{
		ID: nr.ID, Pipeline: nr.Pipeline, Status: status, Attempt: 1,
		Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
		Input: clone(nr.Input), InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
		InputReplaced: nr.InputReplaced, NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads,
		CreatedAt: now, UpdatedAt: now, Parent: &p, Budget: nr.Budget,
	}
	s.runs[r.ID] = &entry{run: r, attempts: []store.RunAttempt{{
		Attempt: 1, Reason: "forked by " + p.RunID, Input: clone(nr.Input), Status: status, StartedAt: now,
	}}}
}

// Branches lists a parent's branch runs.
func (s *Store) Branches(_ context.Context, q store.BranchQuery) ([]store.Branch, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var keys []joinKey
	for k, j := range s.joins {
		if k.parent == q.Parent && (q.Step == "" || j.step == q.Step) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b joinKey) int { return a.index - b.index })
	var out []store.Branch
	for _, k := range keys {
		j := s.joins[k]
		for _, id := range j.children {
			e, ok := s.runs[id]
			if !ok {
				continue
			}
			r := &e.run
			b := store.Branch{RunID: r.ID, Pipeline: r.Pipeline, Index: r.Parent.Index, Step: r.Parent.Step,
				Branch: r.Parent.Branch, Name: r.Parent.Name, Status: r.Status, Attempt: r.Attempt,
				InputHash: r.InputHash, FailedStep: r.Step, Error: r.Error, Class: r.Class, Spent: r.Spent, UpdatedAt: r.UpdatedAt}
			if r.Input != nil {
				b.InputHash = store.Hash(r.Input)
			}
			if q.Outputs {
				b.Output = clone(r.Output)
			}
			out = append(out, b)
		}
	}
	return out, nil
}

// changed applies a run's change of status from from to its fork's join
// (storekit.JoinChange) and, when it ended cancelled, cancels its own
// children that no worker holds.
func (s *Store) changed(e *entry, from store.Status) {
	to := e.run.Status
	if to == store.Cancelled && from != store.Cancelled {
		s.cancelChildren(e.run.ID)
	}
	if e.run.Parent == nil || from == to {
		return
	}
	j := s.joins[joinKey{e.run.Parent.RunID, e.run.Parent.Index}]
	if j == nil {
		return
	}
	live, release := storekit.JoinChange(from, to)
	j.live += live
	if release {
		s.releaseOne(j)
	}
	if live >= 0 || j.live != 0 {
		return
	}
	pe, ok := s.runs[e.run.Parent.RunID]
	if !ok {
		return
	}
	switch storekit.Settle(&pe.run, j.step, &e.run) {
	case storekit.SettleQueue:
		pe.run.Status, pe.run.NotBefore, pe.run.UpdatedAt = store.Queued, time.Time{}, s.clock.Now()
		s.signal.Notify()
	case storekit.SettleReplay:
		// A parent that kept no payloads has no input left to join with:
		// it stays dead-lettered until it is replayed with one.
		if _, err := s.replay(pe, store.ReplayRequest{RunID: pe.run.ID, From: j.step,
			Reason: storekit.RecoveredReason(e.run.ID)}, store.Queued); err == nil {
			s.changed(pe, store.DeadLettered)
			s.signal.Notify()
		}
	}
}

// releaseOne lets the first child waiting for a slot run.
func (s *Store) releaseOne(j *join) {
	for _, id := range j.children {
		if c, ok := s.runs[id]; ok && c.run.Status == store.Waiting {
			c.run.Status, c.run.UpdatedAt = store.Queued, s.clock.Now()
			c.attempts[len(c.attempts)-1].Status = store.Queued
			s.signal.Notify()
			return
		}
	}
}

// cancelChildren cancels the live children of parent that no worker
// holds (waiting, queued, awaiting review), and theirs.
func (s *Store) cancelChildren(parent string) {
	now := s.clock.Now()
	for k, j := range s.joins {
		if k.parent != parent {
			continue
		}
		for _, id := range j.children {
			c, ok := s.runs[id]
			if !ok {
				continue
			}
			from := c.run.Status
			if from != store.Waiting && from != store.Queued && from != store.AwaitingReview {
				continue
			}
			c.run.Status, c.run.FinishedAt, c.run.UpdatedAt = store.Cancelled, now, now
			c.run.Step, c.run.Error = "", "parent "+parent+" was cancelled"
			storekit.Scrub(&c.run, c.steps)
			s.endAttempt(c, now)
			s.changed(c, from)
		}
	}
}
