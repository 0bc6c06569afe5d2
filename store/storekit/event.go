package storekit

import (
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/internal/ids"
	"github.com/plumb-dev/plumb/store"
)

// PrepareEvent checks an event a store is sent (Ops.SendEvent) and makes
// the record it keeps: an event with no name, or no key unless it is
// refused (a delivery refused for having none), is ErrConflict; one
// without an id gets a new one, so that it is no duplicate of any other;
// it is kept for Keep (store.DefaultEventKeep) from now.
func PrepareEvent(e store.NewEvent, now time.Time) (store.Event, error) {
	if e.Name == "" || e.Key == "" && e.Refused == "" {
		return store.Event{}, fmt.Errorf("event name %q or key %q is empty: %w", e.Name, e.Key, store.ErrConflict)
	}
	if e.ID == "" {
		e.ID = "evt_" + ids.New(now)
	}
	keep := e.Keep
	if keep <= 0 {
		keep = store.DefaultEventKeep
	}
	return store.Event{ID: e.ID, Source: e.Source, Name: e.Name, Key: e.Key, Payload: e.Payload,
		ReceivedAt: now, ExpiresAt: now.Add(keep), Refused: e.Refused}, nil
}

// CheckAwait refuses a wait with no name or key, or a record that is not
// an await step's waiting record.
func CheckAwait(runID string, a store.Await) error {
	if a.Name == "" || a.Key == "" {
		return fmt.Errorf("await of run %s: event name %q or key %q is empty: %w", runID, a.Name, a.Key, store.ErrConflict)
	}
	if a.Record.Status != store.StepAwaiting || a.Record.Step == "" || a.Record.Index < 0 {
		return fmt.Errorf("await of run %s: the record of step %q (index %d) has status %q, not %q: %w",
			runID, a.Record.Step, a.Record.Index, a.Record.Status, store.StepAwaiting, store.ErrConflict)
	}
	return nil
}

// ExpiredBatch is how many kept events past their keep a store's
// SendEvent deletes at most, so that a send never pays for a backlog.
const ExpiredBatch = 100

// EventLimit is an EventFilter's limit with its default.
func EventLimit(f store.EventFilter) int {
	if f.Limit <= 0 {
		return 100
	}
	return f.Limit
}

// AwaitStep is how the wait of an await step stands in the store, as
// PlanAwait reads it.
type AwaitStep struct {
	// Wait is the wait of this run attempt and step, nil before the
	// first.
	Wait *store.Wait
	// Taken is the event this wait took (Wait.EventID); Retaken the
	// event of this name and key an earlier attempt of the run took at
	// this step (a replay takes it again); Kept the oldest event of the
	// name and key that no wait took and that has not expired.
	Taken, Retaken, Kept *store.Event
}

// AwaitAction is what Queue.Await does.
type AwaitAction int

// What Queue.Await does.
const (
	// AwaitTake gives the wait the event (AwaitPlan.Event) and takes it
	// if it was kept: the step goes on with it.
	AwaitTake AwaitAction = iota + 1
	// AwaitExpire marks the wait expired: the step takes its default.
	AwaitExpire
	// AwaitWait writes the record and the wait, and queues the run until
	// the deadline.
	AwaitWait
)

// AwaitPlan is what Queue.Await does, and with what.
type AwaitPlan struct {
	Action AwaitAction
	// Event is the event taken (AwaitTake).
	Event *store.Event
	// Deadline is the wait's: the first one given in this attempt.
	Deadline time.Time
	// Resolved is true when the wait had ended before (the event taken
	// or the deadline passed): nothing is written.
	Resolved bool
}

// PlanAwait is the rule of Queue.Await, on what the store read in its
// transaction: a wait that ended stays as it ended (an execution after a
// crash finds the event its wait took); an event this run took at this
// step in an earlier attempt is taken again (a replay of the step gets
// the payment the run already had); then a passed deadline expires the
// wait, even with an event kept (an event that came after the deadline
// is left for another wait); then a kept event is taken; else the run
// waits.
func PlanAwait(a store.Await, st AwaitStep, now time.Time) AwaitPlan {
	deadline := a.Deadline
	if st.Wait != nil {
		deadline = st.Wait.Deadline
	}
	switch {
	case st.Wait != nil && st.Wait.EventID != "" && st.Taken != nil:
		return AwaitPlan{Action: AwaitTake, Event: st.Taken, Deadline: deadline, Resolved: true}
	case st.Wait != nil && st.Wait.Expired:
		return AwaitPlan{Action: AwaitExpire, Deadline: deadline, Resolved: true}
	case st.Retaken != nil:
		return AwaitPlan{Action: AwaitTake, Event: st.Retaken, Deadline: deadline}
	case !now.Before(deadline):
		return AwaitPlan{Action: AwaitExpire, Deadline: deadline}
	case st.Kept != nil:
		return AwaitPlan{Action: AwaitTake, Event: st.Kept, Deadline: deadline}
	}
	return AwaitPlan{Action: AwaitWait, Deadline: deadline}
}

// Result is the AwaitResult the plan returns.
func (p AwaitPlan) Result() store.AwaitResult {
	return store.AwaitResult{Event: p.Event, Expired: p.Action == AwaitExpire, Deadline: p.Deadline}
}

// WaitMatches reports whether a wait may take an event sent now: one of its
// name and key, not resolved, of a run queued in the attempt that waits,
// before its deadline. (A run whose deadline passed takes its default
// when a worker claims it, and a run a worker holds finds events itself.)
func WaitMatches(w *store.Wait, run *store.Run, now time.Time) bool {
	return !w.Resolved() && run.Status == store.Queued && run.Attempt == w.Attempt && now.Before(w.Deadline)
}

// Replaces reports whether an event sent with the source and id of old,
// which the store keeps, takes old's place rather than being its
// duplicate: old records a refused delivery and the new one is not
// refused (its payload corrected, or the sender's fixed retry).
func Replaces(old *store.Event, ev store.Event) bool {
	return old.IsRefused() && !ev.IsRefused()
}
