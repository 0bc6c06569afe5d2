package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
)

const scheduleCols = "name, pipeline, spec, time_zone, missed, next_tick, last_tick, last_run, skipped, created_at, updated_at"

func scanSchedule(row pgx.Row) (store.Schedule, error) {
	var s store.Schedule
	var next, last, created, updated pgtype.Timestamptz
	var missed string
	var skipped int64
	err := row.Scan(&s.Name, &s.Pipeline, &s.Spec, &s.TimeZone, &missed, &next, &last, &s.LastRun, &skipped, &created, &updated)
	s.Missed, s.Skipped = store.Missed(missed), int(skipped)
	s.Next, s.LastTick, s.CreatedAt, s.UpdatedAt = fromTS(next), fromTS(last), fromTS(created), fromTS(updated)
	return s, err
}

// PutSchedule declares a schedule in one upsert, keeping its next tick
// while its pipeline, spec and zone are unchanged.
func (s *Store) PutSchedule(ctx context.Context, sc store.Schedule) (store.Schedule, error) {
	if sc.Name == "" || sc.Pipeline == "" || sc.Spec == "" || sc.TimeZone == "" || !sc.Missed.Valid() || sc.Next.IsZero() {
		return store.Schedule{}, fmt.Errorf("pgstore: put schedule %q of pipeline %q: a schedule needs a name, a pipeline, a spec, a time zone, a policy (one, all or skip; %q) and its next tick: %w",
			sc.Name, sc.Pipeline, sc.Missed, store.ErrConflict)
	}
	if err := s.enter(); err != nil {
		return store.Schedule{}, err
	}
	defer s.leave()
	now := s.now()
	out, err := scanSchedule(s.pool.QueryRow(ctx, `INSERT INTO `+s.q.schema+`.schedules AS z (`+scheduleCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, NULL, '', 0, $7, $7)
		ON CONFLICT (name) DO UPDATE SET
			next_tick = CASE WHEN z.pipeline = excluded.pipeline AND z.spec = excluded.spec
				AND z.time_zone = excluded.time_zone THEN z.next_tick ELSE excluded.next_tick END,
			pipeline = excluded.pipeline, spec = excluded.spec, time_zone = excluded.time_zone,
			missed = excluded.missed, updated_at = excluded.updated_at
		RETURNING `+scheduleCols,
		sc.Name, sc.Pipeline, sc.Spec, sc.TimeZone, string(sc.Missed), sc.Next.UTC(), now))
	if err != nil {
		return store.Schedule{}, s.wrap("put schedule "+sc.Name, err)
	}
	return out, nil
}

// AdvanceSchedule moves a schedule's next tick by compare-and-set.
func (s *Store) AdvanceSchedule(ctx context.Context, a store.ScheduleAdvance) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	var moved, exists bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE `+s.q.schema+`.schedules SET next_tick = $3,
				last_tick = CASE WHEN $4 <> '' THEN $5 ELSE last_tick END,
				last_run = CASE WHEN $4 <> '' THEN $4 ELSE last_run END,
				skipped = skipped + $6, updated_at = $7
			WHERE name = $1 AND next_tick = $2 RETURNING 1)
		SELECT EXISTS (SELECT FROM u), EXISTS (SELECT FROM `+s.q.schema+`.schedules WHERE name = $1)`,
		a.Name, a.From.UTC(), a.Next.UTC(), a.LastRun, ts(a.LastTick.UTC()), int64(a.Skipped), s.now()).Scan(&moved, &exists)
	if err != nil {
		return false, s.wrap("advance schedule "+a.Name, err)
	}
	if !moved && !exists {
		return false, fmt.Errorf("pgstore: advance schedule %q: %w", a.Name, store.ErrNotFound)
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
	rows, err := s.pool.Query(ctx, "SELECT "+scheduleCols+" FROM "+s.q.schema+".schedules WHERE $1 = '' OR pipeline = $1 ORDER BY name", pipeline)
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	out, err := collect(rows, func(row pgx.CollectableRow) (store.Schedule, error) { return scanSchedule(row) })
	if err != nil {
		return nil, s.wrap("list schedules", err)
	}
	if out == nil {
		out = []store.Schedule{}
	}
	return out, nil
}

// DeleteSchedule removes a schedule.
func (s *Store) DeleteSchedule(ctx context.Context, name string) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	tag, err := s.pool.Exec(ctx, "DELETE FROM "+s.q.schema+".schedules WHERE name = $1", name)
	if err != nil {
		return false, s.wrap("delete schedule "+name, err)
	}
	return tag.RowsAffected() > 0, nil
}
