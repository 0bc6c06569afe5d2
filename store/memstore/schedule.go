package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// PutSchedule declares a schedule, keeping its Next while its pipeline,
// spec and zone are unchanged.
func (s *Store) PutSchedule(_ context.Context, sc store.Schedule) (store.Schedule, error) {
	if err := s.lock(); err != nil {
		return store.Schedule{}, err
	}
	defer s.mu.Unlock()
	if err := checkSchedule(sc); err != nil {
		return store.Schedule{}, err
	}
	if s.schedules == nil {
		s.schedules = map[string]store.Schedule{}
	}
	now := s.clock.Now()
	sc.Next = sc.Next.UTC()
	if cur, ok := s.schedules[sc.Name]; ok {
		if cur.Pipeline == sc.Pipeline && cur.Spec == sc.Spec && cur.TimeZone == sc.TimeZone {
			sc.Next = cur.Next
		}
		sc.LastTick, sc.LastRun, sc.Skipped, sc.CreatedAt = cur.LastTick, cur.LastRun, cur.Skipped, cur.CreatedAt
	} else {
		sc.LastTick, sc.LastRun, sc.Skipped, sc.CreatedAt = time.Time{}, "", 0, now
	}
	sc.UpdatedAt = now
	s.schedules[sc.Name] = sc
	return sc, nil
}

func checkSchedule(sc store.Schedule) error {
	if sc.Name == "" || sc.Pipeline == "" || sc.Spec == "" || sc.TimeZone == "" || !sc.Missed.Valid() || sc.Next.IsZero() {
		return fmt.Errorf("memstore: put schedule %q of pipeline %q: a schedule needs a name, a pipeline, a spec, a time zone, a policy (one, all or skip; %q) and its next tick: %w",
			sc.Name, sc.Pipeline, sc.Missed, store.ErrConflict)
	}
	return nil
}

// AdvanceSchedule moves a schedule's Next by compare-and-set.
func (s *Store) AdvanceSchedule(_ context.Context, a store.ScheduleAdvance) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	sc, ok := s.schedules[a.Name]
	if !ok {
		return false, fmt.Errorf("memstore: advance schedule %q: %w", a.Name, store.ErrNotFound)
	}
	if !sc.Next.Equal(a.From) {
		return false, nil
	}
	sc.Next = a.Next.UTC()
	if a.LastRun != "" {
		sc.LastTick, sc.LastRun = a.LastTick.UTC(), a.LastRun
	}
	sc.Skipped += a.Skipped
	sc.UpdatedAt = s.clock.Now()
	s.schedules[a.Name] = sc
	return true, nil
}

// Schedules lists a pipeline's schedules (every pipeline's for ""), by
// name.
func (s *Store) Schedules(_ context.Context, pipeline string) ([]store.Schedule, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.Schedule{}
	for _, sc := range s.schedules {
		if pipeline == "" || sc.Pipeline == pipeline {
			out = append(out, sc)
		}
	}
	slices.SortFunc(out, func(a, b store.Schedule) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteSchedule removes a schedule.
func (s *Store) DeleteSchedule(_ context.Context, name string) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	_, ok := s.schedules[name]
	delete(s.schedules, name)
	return ok, nil
}
