package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// events are the events kept and the waits for them, in arrival and
// creation order.
type events struct {
	list  []*store.Event
	byID  map[eventID]*store.Event
	waits []*store.Wait
}

type eventID struct{ source, id string }

func (ev *events) find(source, id string) *store.Event {
	if ev.byID == nil {
		return nil
	}
	return ev.byID[eventID{source, id}]
}

// wait returns the wait of a run attempt's step, or nil.
func (ev *events) wait(runID string, attempt, index int) *store.Wait {
	for _, w := range ev.waits {
		if w.RunID == runID && w.Attempt == attempt && w.Index == index {
			return w
		}
	}
	return nil
}

// forget deletes a run's waits and the events it took, as the SQL stores'
// foreign keys do when the run is deleted.
func (ev *events) forget(runID string) {
	ev.waits = slices.DeleteFunc(ev.waits, func(w *store.Wait) bool { return w.RunID == runID })
	ev.list = slices.DeleteFunc(ev.list, func(x *store.Event) bool {
		if x.RunID == runID {
			delete(ev.byID, eventID{x.Source, x.ID})
			return true
		}
		return false
	})
}

// Await gives a held run's await step its event, expires its wait, or
// records the wait and queues the run until the deadline.
func (s *Store) Await(_ context.Context, l store.Lease, a store.Await) (store.AwaitResult, error) {
	if err := s.lock(); err != nil {
		return store.AwaitResult{}, err
	}
	defer s.mu.Unlock()
	e, err := s.held(l)
	if err != nil {
		return store.AwaitResult{}, err
	}
	if err := s.refuseCancelled(e, "await"); err != nil {
		return store.AwaitResult{}, err
	}
	if err := storekit.CheckAwait(e.run.ID, a); err != nil {
		return store.AwaitResult{}, fmt.Errorf("memstore: %w", err)
	}
	now := s.clock.Now()
	r := &e.run
	idx := a.Record.Index
	st := storekit.AwaitStep{Wait: s.ev.wait(r.ID, r.Attempt, idx)}
	if st.Wait != nil && st.Wait.EventID != "" {
		st.Taken = s.ev.find(st.Wait.EventSource, st.Wait.EventID)
	}
	for _, x := range s.ev.list {
		switch {
		case x.Name != a.Name || x.Key != a.Key:
		case x.RunID == r.ID && x.Step == a.Record.Step:
			st.Retaken = x // the last one this run took
		case x.RunID == "" && !x.IsRefused() && st.Kept == nil && now.Before(x.ExpiresAt):
			st.Kept = x
		}
	}
	plan := storekit.PlanAwait(a, st, now)
	if plan.Resolved {
		return cloneResult(plan.Result()), nil
	}
	w := st.Wait
	if w == nil {
		w = &store.Wait{RunID: r.ID, Attempt: r.Attempt, Pipeline: r.Pipeline, Step: a.Record.Step, Index: idx,
			Name: a.Name, Key: a.Key, Deadline: plan.Deadline, CreatedAt: now}
		s.ev.waits = append(s.ev.waits, w)
	}
	switch plan.Action {
	case storekit.AwaitTake:
		w.EventID, w.EventSource, w.ResolvedAt = plan.Event.ID, plan.Event.Source, now
		if plan.Event.RunID == "" {
			plan.Event.RunID, plan.Event.Step, plan.Event.TakenAt = r.ID, a.Record.Step, now
		}
	case storekit.AwaitExpire:
		w.Expired, w.ResolvedAt = true, now
	case storekit.AwaitWait:
		rec := cloneRec(a.Record)
		rec.RunID, rec.RunAttempt = r.ID, r.Attempt
		e.steps = append(e.steps, rec)
		storekit.NoteTrace(r, &rec)
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.Status, r.NotBefore = store.Queued, plan.Deadline
		r.Step, r.Error, r.Class = a.Record.Step, "", 0
		r.UpdatedAt = now
		s.changed(e, store.Running)
		s.releaseOf(e)
	}
	return cloneResult(plan.Result()), nil
}

func cloneResult(res store.AwaitResult) store.AwaitResult {
	if res.Event != nil {
		ev := cloneEvent(*res.Event)
		res.Event = &ev
	}
	return res
}

func cloneEvent(e store.Event) store.Event {
	e.Payload = clone(e.Payload)
	return e
}

// SendEvent keeps an event and gives it to the oldest wait for it.
func (s *Store) SendEvent(_ context.Context, ne store.NewEvent) (store.Delivery, error) {
	if err := s.lock(); err != nil {
		return store.Delivery{}, err
	}
	defer s.mu.Unlock()
	now := s.clock.Now()
	ev, err := storekit.PrepareEvent(ne, now)
	if err != nil {
		return store.Delivery{}, fmt.Errorf("memstore: %w", err)
	}
	d := store.Delivery{}
	if old := s.ev.find(ev.Source, ev.ID); old != nil {
		if !storekit.Replaces(old, ev) {
			return store.Delivery{Event: cloneEvent(*old), Duplicate: true}, nil
		}
		d.Replaced = true
		s.ev.list = slices.DeleteFunc(s.ev.list, func(x *store.Event) bool { return x == old })
		delete(s.ev.byID, eventID{ev.Source, ev.ID})
	}
	s.ev.list = slices.DeleteFunc(s.ev.list, func(x *store.Event) bool {
		if x.RunID == "" && !x.IsRefused() && !now.Before(x.ExpiresAt) {
			delete(s.ev.byID, eventID{x.Source, x.ID})
			return true
		}
		return false
	})
	ev.Payload = clone(ev.Payload)
	kept := &ev
	if s.ev.byID == nil {
		s.ev.byID = map[eventID]*store.Event{}
	}
	s.ev.byID[eventID{ev.Source, ev.ID}] = kept
	s.ev.list = append(s.ev.list, kept)
	for _, w := range s.ev.waits {
		if kept.IsRefused() {
			break // kept for an operator, given to no wait
		}
		if w.Name != ev.Name || w.Key != ev.Key {
			continue
		}
		e, ok := s.runs[w.RunID]
		if !ok || !storekit.WaitMatches(w, &e.run, now) {
			continue
		}
		w.EventID, w.EventSource, w.ResolvedAt = ev.ID, ev.Source, now
		kept.RunID, kept.Step, kept.TakenAt = w.RunID, w.Step, now
		e.run.NotBefore, e.run.UpdatedAt = now, now
		d.Woke = w.RunID
		s.signal.Notify()
		break
	}
	d.Event = cloneEvent(*kept)
	return d, nil
}

// Events lists waits and events.
func (s *Store) Events(_ context.Context, f store.EventFilter) (store.EventList, error) {
	if err := s.lock(); err != nil {
		return store.EventList{}, err
	}
	defer s.mu.Unlock()
	now := s.clock.Now()
	limit := storekit.EventLimit(f)
	out := store.EventList{Waits: []store.Wait{}, Events: []store.Event{}}
	for _, w := range s.ev.waits {
		if len(out.Waits) == limit || f.Refused {
			break
		}
		if f.Name != "" && w.Name != f.Name || f.Key != "" && w.Key != f.Key || f.RunID != "" && w.RunID != f.RunID {
			continue
		}
		if !f.All {
			e, ok := s.runs[w.RunID]
			if !ok || w.Resolved() || e.run.Attempt != w.Attempt || (e.run.Status != store.Queued && e.run.Status != store.Running) {
				continue
			}
		}
		out.Waits = append(out.Waits, *w)
	}
	for _, x := range s.ev.list {
		if len(out.Events) == limit {
			break
		}
		if f.Name != "" && x.Name != f.Name || f.Key != "" && x.Key != f.Key || f.RunID != "" && x.RunID != f.RunID {
			continue
		}
		switch {
		case f.Refused && !x.IsRefused():
			continue
		case !f.Refused && !f.All && (x.RunID != "" || x.IsRefused() || !now.Before(x.ExpiresAt)):
			continue
		}
		out.Events = append(out.Events, cloneEvent(*x))
	}
	slices.SortStableFunc(out.Waits, func(a, b store.Wait) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}
