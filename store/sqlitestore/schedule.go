package sqlitestore

import (
	"context"
	"fmt"

	"github.com/plumb-dev/plumb/store"
)

const scheduleColumns = "name, pipeline, spec, time_zone, missed, next_tick, last_tick, last_run, skipped, created_at, updated_at"

func scanSchedule(sc rowScanner) (store.Schedule, error) {
	var s store.Schedule
	var next, last, created, updated int64
	var missed string
	err := sc.Scan(&s.Name, &s.Pipeline, &s.Spec, &s.TimeZone, &missed, &next, &last, &s.LastRun, &s.Skipped, &created, &updated)
	s.Missed = store.Missed(missed)
	s.Next, s.LastTick, s.CreatedAt, s.UpdatedAt = fromNanos(next), fromNanos(last), fromNanos(created), fromNanos(updated)
	return s, err
}

// PutSchedule declares a schedule, keeping its next tick while its
// pipeline, spec and zone are unchanged: one upsert, so that workers
// declaring it at once agree.
func (s *Store) PutSchedule(ctx context.Context, sc store.Schedule) (store.Schedule, error) {
	if sc.Name == "" || sc.Pipeline == "" || sc.Spec == "" || sc.TimeZone == "" || !sc.Missed.Valid() || sc.Next.IsZero() {
		return store.Schedule{}, fmt.Errorf("sqlitestore: put schedule %q of pipeline %q: a schedule needs a name, a pipeline, a spec, a time zone, a policy (one, all or skip; %q) and its next tick: %w",
			sc.Name, sc.Pipeline, sc.Missed, store.ErrConflict)
	}
	var out store.Schedule
	err := s.write(ctx, func(tx *writer) error {
		now := nanos(s.clock.Now())
		if _, err := tx.exec(`INSERT INTO schedules (`+scheduleColumns+`) VALUES (?, ?, ?, ?, ?, ?, 0, '', 0, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				next_tick = CASE WHEN schedules.pipeline = excluded.pipeline AND schedules.spec = excluded.spec
					AND schedules.time_zone = excluded.time_zone THEN schedules.next_tick ELSE excluded.next_tick END,
				pipeline = excluded.pipeline, spec = excluded.spec, time_zone = excluded.time_zone,
				missed = excluded.missed, updated_at = excluded.updated_at`,
			sc.Name, sc.Pipeline, sc.Spec, sc.TimeZone, string(sc.Missed), nanos(sc.Next), now, now); err != nil {
			return err
		}
		var err error
		out, err = scanSchedule(tx.row("SELECT "+scheduleColumns+" FROM schedules WHERE name = ?", sc.Name))
		return err
	})
	if err != nil {
		return store.Schedule{}, fmt.Errorf("sqlitestore: put schedule %s: %w", sc.Name, err)
	}
	return out, nil
}

// AdvanceSchedule moves a schedule's next tick by compare-and-set.
func (s *Store) AdvanceSchedule(ctx context.Context, a store.ScheduleAdvance) (bool, error) {
	var moved bool
	err := s.write(ctx, func(tx *writer) error {
		moved = false
		n, err := affected(tx.exec(`UPDATE schedules SET next_tick = ?,
				last_tick = CASE WHEN ? <> '' THEN ? ELSE last_tick END,
				last_run = CASE WHEN ? <> '' THEN ? ELSE last_run END,
				skipped = skipped + ?, updated_at = ?
			WHERE name = ? AND next_tick = ?`,
			nanos(a.Next), a.LastRun, nanos(a.LastTick), a.LastRun, a.LastRun, a.Skipped, nanos(s.clock.Now()), a.Name, nanos(a.From)))
		if err != nil {
			return err
		}
		if n == 1 {
			moved = true
			return nil
		}
		var one int
		err = tx.row("SELECT 1 FROM schedules WHERE name = ?", a.Name).Scan(&one)
		if isNoRows(err) {
			return fmt.Errorf("schedule %q: %w", a.Name, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlitestore: advance schedule %s: %w", a.Name, err)
	}
	return moved, nil
}

// Schedules lists a pipeline's schedules (every pipeline's for ""), by
// name.
func (s *Store) Schedules(ctx context.Context, pipeline string) ([]store.Schedule, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	st, err := s.readStmt(ctx, "SELECT "+scheduleColumns+" FROM schedules WHERE ? = '' OR pipeline = ? ORDER BY name")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, pipeline, pipeline)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list schedules: %w", classify(err))
	}
	defer rows.Close()
	out := []store.Schedule{}
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: list schedules: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: list schedules: %w", err)
	}
	return out, nil
}

// DeleteSchedule removes a schedule.
func (s *Store) DeleteSchedule(ctx context.Context, name string) (bool, error) {
	var was bool
	err := s.write(ctx, func(tx *writer) error {
		n, err := affected(tx.exec("DELETE FROM schedules WHERE name = ?", name))
		was = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlitestore: delete schedule %s: %w", name, err)
	}
	return was, nil
}
