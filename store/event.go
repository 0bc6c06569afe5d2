package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Events are what a run's await step waits for: a payment confirmed, a
// customer's reply, a click on an approval link. An event has a name (the
// kind of event, "payment") and a key (what it is about, "invoice:42"); a
// wait takes only an event of its name and key.
//
// The first execution of an await step calls Queue.Await: in one
// transaction the store gives it an event of its name and key that is
// kept, or writes the step's waiting record and the wait, and queues the
// run until the wait's deadline, holding no worker (a durable wait the
// claim already handles). Ops.SendEvent keeps an arriving event; when a
// run waits on its name and key, the same transaction gives the event to
// that run's wait and makes the run due now. The run's next execution
// calls Queue.Await again and finds the event its wait took, or, with the
// deadline passed, that the wait expired: the step takes its default.
//
// An event is taken by one wait, the oldest of its name and key, and a
// wait takes one event, the oldest kept. An event no wait takes is kept
// for NewEvent.Keep (DefaultEventKeep), for a wait to come, then deleted
// (a later SendEvent does it); a taken event is kept as long as the run
// that took it. A second
// delivery of one event (the same Source and ID: a webhook retried) is a
// duplicate: the store keeps the first and changes nothing.
//
// A delivery refused for its content (a webhook whose body is not JSON,
// breaks the event's contract, or has no key where the route says) is
// kept too, so that nothing refused is lost: an event with Refused set,
// given to no wait, never deleted for its keep, listed with
// EventFilter.Refused (plumb events list --refused). A later event of the
// same Source and ID that is not refused (plumb events send with the
// corrected payload and the refused one's --source and --id, or the
// sender's own retry once fixed) takes its place and goes to a wait as
// any other; a refused copy of a refused event is its duplicate.

// EventOps is the part of Ops that delivers the events runs wait for
// and lists the waits.
type EventOps interface {
	// SendEvent keeps an event and, when a run waits for its name and
	// key, gives it to the oldest such wait and makes that run due now,
	// in one transaction that wakes the workers. A second delivery of
	// one event (its Source and ID) is a duplicate that changes nothing.
	// An empty Name or Key is ErrConflict. Tools check the payload first
	// (DeliverEvent).
	SendEvent(ctx context.Context, e NewEvent) (Delivery, error)
	// Events lists waits and events (see EventFilter).
	Events(ctx context.Context, f EventFilter) (EventList, error)
}

// StepAwaiting marks an await step's record: the run waits for an event
// (Queue.Await), queued until the wait's deadline.
const StepAwaiting StepStatus = "awaiting"

// DefaultEventKeep is how long an event that no wait has taken is kept for
// a wait to come.
const DefaultEventKeep = 7 * 24 * time.Hour

// NewEvent is an event delivered to the store (Ops.SendEvent).
type NewEvent struct {
	// Name is the kind of event (the await step's event name): "payment".
	Name string `json:"name"`
	// Key names what the event is about: "invoice:42".
	Key string `json:"key"`
	// ID identifies the event at its source (a webhook's delivery id, a
	// payment provider's event id): a second delivery with the same
	// Source and ID is a duplicate. Empty: the store gives the event an
	// id of its own, and every delivery is a new event.
	ID string `json:"id,omitempty"`
	// Source names the sender ("stripe", "cli", "api").
	Source string `json:"source,omitempty"`
	// Payload is the event's JSON, checked against the contract of the
	// steps that await the event before it is sent.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Keep is how long the event is kept for a wait that has not started.
	// Defaults to DefaultEventKeep.
	Keep time.Duration `json:"keep,omitempty"`
	// Refused, when set, records a delivery refused for its content, with
	// why (its violations): the store keeps it with its payload (and its
	// Key, which may be empty when the delivery had none), gives it to no
	// wait and does not delete it for its keep, until an event of the
	// same Source and ID that is not refused takes its place.
	Refused string `json:"refused,omitempty"`
}

// Event is an event the store keeps.
type Event struct {
	ID         string          `json:"id"`
	Source     string          `json:"source,omitempty"`
	Name       string          `json:"name"`
	Key        string          `json:"key"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	ReceivedAt time.Time       `json:"received_at"`
	// ExpiresAt is when an event no wait took stops being kept for one.
	ExpiresAt time.Time `json:"expires_at"`
	// RunID and Step name the wait that took the event, at TakenAt; empty
	// while the event is kept.
	RunID   string    `json:"run_id,omitempty"`
	Step    string    `json:"step,omitempty"`
	TakenAt time.Time `json:"taken_at,omitzero"`
	// Refused says why the delivery was refused for its content (see
	// NewEvent.Refused); empty for an event kept for a wait or taken.
	Refused string `json:"refused,omitempty"`
}

// IsRefused reports whether the event records a refused delivery.
func (e *Event) IsRefused() bool { return e.Refused != "" }

// Taken reports whether a wait took the event.
func (e *Event) Taken() bool { return e.RunID != "" }

// Delivery says what Ops.SendEvent did with an event.
type Delivery struct {
	Event Event `json:"event"`
	// Duplicate: an event of the same source and id was delivered before;
	// Event is that one, and nothing changed.
	Duplicate bool `json:"duplicate,omitempty"`
	// Woke is the run whose wait took the event: it is due now. Empty
	// when no run waited: the event is kept for a wait to come.
	Woke string `json:"woke,omitempty"`
	// Replaced: a refused delivery of the same source and id was kept,
	// and this event took its place.
	Replaced bool `json:"replaced,omitempty"`
}

// Await asks Queue.Await for an event.
type Await struct {
	// Record is the step's waiting record (Status StepAwaiting), written
	// when the run waits; its Index and Step name the wait.
	Record StepRecord
	// Name and Key select the event.
	Name, Key string
	// Deadline is when the wait ends without an event. A wait made again
	// in the same run attempt (the run's next execution) keeps the
	// deadline it was first given.
	Deadline time.Time
}

// AwaitResult is where a wait stands after Queue.Await. With neither
// Event nor Expired, the run waits: the store queued it until Deadline
// and the worker's lease is gone.
type AwaitResult struct {
	// Event is the event the wait took: the step goes on with it.
	Event *Event
	// Expired: the deadline passed with no event; the step takes its
	// default.
	Expired bool
	// Deadline is the wait's deadline.
	Deadline time.Time
}

// Waiting reports whether the run waits for its event.
func (a AwaitResult) Waiting() bool { return a.Event == nil && !a.Expired }

// Wait is a run's wait for an event, as Ops.Events lists it.
type Wait struct {
	RunID    string `json:"run_id"`
	Attempt  int    `json:"attempt"`
	Pipeline string `json:"pipeline"`
	Step     string `json:"step"`
	Index    int    `json:"index"`
	Name     string `json:"name"`
	Key      string `json:"key"`
	// Deadline is when the wait ends without an event.
	Deadline  time.Time `json:"deadline"`
	CreatedAt time.Time `json:"created_at"`
	// EventID and EventSource name the event the wait took, at
	// ResolvedAt.
	EventID     string `json:"event_id,omitempty"`
	EventSource string `json:"event_source,omitempty"`
	// Expired: the deadline passed first, at ResolvedAt, and the step took
	// its default.
	Expired    bool      `json:"expired,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Resolved reports whether the wait took an event or expired.
func (w *Wait) Resolved() bool { return w.EventID != "" || w.Expired }

// EventFilter selects waits and events (Ops.Events). Zero fields match
// everything.
type EventFilter struct {
	Name, Key string
	// RunID selects one run's waits and the events it took.
	RunID string
	// All lists the waits that ended and the events taken, expired or
	// refused too; otherwise only the pending waits (of runs that are
	// live, in the attempt that waits) and the events kept for a wait.
	All bool
	// Refused lists only the refused deliveries (NewEvent.Refused), and
	// no waits.
	Refused bool
	// Limit caps each list. Defaults to 100.
	Limit int
}

// EventList is what Ops.Events found: waits by creation, events by
// arrival, oldest first.
type EventList struct {
	Waits  []Wait  `json:"waits"`
	Events []Event `json:"events"`
}

// ErrUnknownEvent: no step awaits an event of that name, so nothing says
// what its payload must be.
var ErrUnknownEvent = errors.New("no step awaits an event of that name")

// DeliverEvent checks e's payload against the contract of every
// registered await step that waits for events of its name, and sends it
// (Ops.SendEvent): what a tool that has only the store (the CLI, a webhook
// route) does. A payload that breaks a contract is refused with the
// *contract.ValidationError, and nothing is sent; an event no registered
// step awaits is ErrUnknownEvent.
func DeliverEvent(ctx context.Context, o Ops, e NewEvent) (Delivery, error) {
	defs, err := o.Pipelines(ctx)
	if err != nil {
		return Delivery{}, err
	}
	found := false
	for _, d := range defs {
		for _, s := range d.Steps {
			if s.Event != e.Name {
				continue
			}
			found = true
			if err := ValidateJSON(s.EventSchema, e.Payload); err != nil {
				return Delivery{}, fmt.Errorf("event %s for %s: the payload breaks the contract of step %s of pipeline %s: %w", e.Name, e.Key, s.Name, d.Name, err)
			}
		}
	}
	if !found {
		return Delivery{}, fmt.Errorf("event %q: %w (is a worker of the pipeline that waits for it started, so that its definition is registered?)", e.Name, ErrUnknownEvent)
	}
	return o.SendEvent(ctx, e)
}
