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
	if err := s.refuseCancelled(e, "fork"); err != nil {
		return err
	}
	if err := storekit.CheckFork(e.run.ID, f); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	existing := map[string]storekit.ExistingChild{}
	for _, nr := range f.Children {
		c, ok := s.runs[nr.ID]
		if !ok {
			continue
		}
		if p := c.run.Parent; p == nil || p.RunID != e.run.ID || p.Index != f.Record.Index || p.Branch != nr.Parent.Branch {
			return fmt.Errorf("memstore: fork of run %s: run %s exists and is not its branch %d: %w", e.run.ID, nr.ID, nr.Parent.Branch, store.ErrConflict)
		}
		hash := c.run.InputHash
		if c.run.Input != nil {
			hash = store.Hash(c.run.Input)
		}
		existing[nr.ID] = storekit.ExistingChild{Status: c.run.Status, InputHash: hash, Awaiting: s.awaiting(c)}
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
	kids := slices.Clone(f.Children)
	slices.SortFunc(kids, func(a, b store.NewRun) int { return a.Parent.Branch - b.Parent.Branch })
	j.children = j.children[:0]
	for _, nr := range kids {
		j.children = append(j.children, nr.ID)
	}
	for _, c := range plan.Create {
		s.insert(c.Run, c.Status, now)
	}
	for _, c := range plan.Restart {
		s.restart(s.runs[c.Run.ID], c.Run, c.Status, storekit.RestartReason(e.run.ID), now)
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
		TraceID: nr.TraceID, SpanID: nr.SpanID, CreatedAt: now, UpdatedAt: now, Parent: &p, Budget: nr.Budget,
		Version: nr.Version,
	}
	s.runs[r.ID] = &entry{run: r, attempts: []store.RunAttempt{{
		Attempt: 1, Reason: storekit.ForkReason(p.RunID), Version: nr.Version, Input: clone(nr.Input), Status: status, StartedAt: now,
	}}}
	s.kids[p.RunID] = append(s.kids[p.RunID], r.ID)
	if k := nr.IdempotencyKey; k != "" {
		if _, taken := s.idem[nr.Pipeline+"\x00"+k]; !taken {
			s.idem[nr.Pipeline+"\x00"+k] = r.ID
		}
	}
}

// restart starts a new attempt of an ended branch run whose parent forked
// it again with a new input: from its first step, carrying nothing, since
// every step's input follows from the new one.
func (s *Store) restart(c *entry, nr store.NewRun, status store.Status, reason string, now time.Time) {
	r := &c.run
	p := *nr.Parent
	r.Attempt++
	r.Status, r.Parent, r.Budget, r.Cancel, r.Version = status, &p, nr.Budget, nil, nr.Version
	r.Input, r.InputHash, r.InputSize, r.InputReplaced = clone(nr.Input), store.Hash(nr.Input), len(nr.Input), nr.InputReplaced
	r.Output, r.Step, r.Error, r.Class = nil, "", "", 0
	r.NotBefore, r.Deferrals, r.FinishedAt, r.Review = nr.NotBefore, 0, time.Time{}, nil
	r.Spent = store.Spend{}
	r.UpdatedAt = now
	c.unclassified = false
	c.attempts = append(c.attempts, store.RunAttempt{
		Attempt: r.Attempt, Reason: reason, Version: nr.Version, Input: clone(nr.Input), Status: status, StartedAt: now,
	})
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
// (storekit.JoinChange), wakes those waiting for the run to end, and,
// when it ended cancelled, applies the children hook (cancelChildren).
func (s *Store) changed(e *entry, from store.Status) {
	to := e.run.Status
	if from != to && storekit.WaitEnded(to) {
		s.ends.Notify()
	}
	if to == store.Cancelled && from != store.Cancelled {
		s.cancelChildren(e)
	}
	if e.run.Parent == nil || from == to {
		return
	}
	j := s.joins[joinKey{e.run.Parent.RunID, e.run.Parent.Index}]
	// A child its parent's last fork at that step no longer names (the
	// parent forked again with fewer) is no part of the join.
	if j == nil || !slices.Contains(j.children, e.run.ID) {
		return
	}
	live, release := storekit.JoinChange(from, to)
	j.live += live
	if release {
		s.release(j)
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

// release lets the first children waiting for a slot run, as many as
// the fork's limit has room for (storekit.Releases). A queued child
// waiting for an event holds no slot (storekit.JoinChange).
func (s *Store) release(j *join) {
	active := 0
	var waiting []*entry
	for _, id := range j.children {
		if c, ok := s.runs[id]; ok {
			switch c.run.Status {
			case store.Queued, store.Running:
				if !s.awaiting(c) {
					active++
				}
			case store.Waiting:
				waiting = append(waiting, c)
			}
		}
	}
	for _, c := range waiting[:storekit.Releases(j.limit, active, len(waiting))] {
		c.run.Status, c.run.UpdatedAt = store.Queued, s.clock.Now()
		c.attempts[len(c.attempts)-1].Status = store.Queued
		s.signal.Notify()
	}
}

// awaiting reports whether a run waits for an event (storekit.OpenWait).
func (s *Store) awaiting(e *entry) bool {
	return slices.ContainsFunc(s.ev.waits, func(w *store.Wait) bool { return storekit.OpenWait(w, &e.run) })
}

// releaseOf gives the slot of a branch run that stopped to wait for an
// event to the next of its siblings waiting for one.
func (s *Store) releaseOf(e *entry) {
	if e.run.Parent == nil {
		return
	}
	if j := s.joins[joinKey{e.run.Parent.RunID, e.run.Parent.Index}]; j != nil && slices.Contains(j.children, e.run.ID) {
		s.release(j)
	}
}
