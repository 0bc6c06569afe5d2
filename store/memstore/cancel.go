package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Cancel ends a run no worker holds cancelled, with its branch runs, or
// marks a held one for its worker to end.
func (s *Store) Cancel(_ context.Context, req store.CancelRequest) (*store.Run, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	e, ok := s.runs[req.RunID]
	if !ok {
		return nil, fmt.Errorf("memstore: cancel run %s: %w", req.RunID, store.ErrNotFound)
	}
	action, err := storekit.PlanCancel(&e.run)
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	now := s.clock.Now()
	c := storekit.Cancellation(req, now)
	switch action {
	case storekit.CancelEnd:
		s.endCancelled(e, c, now)
	case storekit.CancelMark:
		storekit.MarkCancel(&e.run, c, now)
	}
	out := cloneRun(e.run)
	return &out, nil
}

// endCancelled ends e cancelled by c (or by the cancellation it carries)
// and applies the change: its attempt, its fork's join, its children.
func (s *Store) endCancelled(e *entry, c store.Cancellation, now time.Time) {
	from := storekit.EndCancelled(&e.run, c, e.steps, now)
	s.endAttempt(e)
	s.changed(e, from)
}

// refuseCancelled ends a held run marked cancelled instead of writing
// for it (op), and says so; it returns nil for a run not marked.
func (s *Store) refuseCancelled(e *entry, op string) error {
	if e.run.Cancel == nil {
		return nil
	}
	s.endCancelled(e, *e.run.Cancel, s.clock.Now())
	return fmt.Errorf("memstore: %w", storekit.CancelledWrite(op, e.run.ID))
}

// cancelChildren applies the children hook of a run that ended
// cancelled: its branch runs that no worker holds end cancelled, and
// theirs; running ones are marked. It ends them all before it applies
// the changes to the joins, so that none is released only to be
// cancelled.
func (s *Store) cancelChildren(parent *entry) {
	now := s.clock.Now()
	c := storekit.ChildCancellation(&parent.run, now)
	type change struct {
		e    *entry
		from store.Status
	}
	var changes []change
	for k, j := range s.joins {
		if k.parent != parent.run.ID {
			continue
		}
		for _, id := range j.children {
			k, ok := s.runs[id]
			if !ok {
				continue
			}
			switch storekit.ChildCancel(k.run.Status) {
			case storekit.CancelEnd:
				from := storekit.EndCancelled(&k.run, c, k.steps, now)
				s.endAttempt(k)
				changes = append(changes, change{k, from})
			case storekit.CancelMark:
				storekit.MarkCancel(&k.run, c, now)
			}
		}
	}
	for _, ch := range changes {
		s.changed(ch.e, ch.from)
	}
}

// WaitRun returns the run once it has ended or is parked (awaiting
// review, held); every change of a run's status wakes the waiters
// (changed).
func (s *Store) WaitRun(ctx context.Context, id string) (*store.Run, error) {
	return storekit.WaitRun(ctx, s.ends.Next, func() (*store.Run, error) {
		if err := s.lock(); err != nil {
			return nil, err
		}
		defer s.mu.Unlock()
		e, ok := s.runs[id]
		if !ok {
			return nil, fmt.Errorf("memstore: wait for run %s: %w", id, store.ErrNotFound)
		}
		out := cloneRun(e.run)
		return &out, nil
	})
}
