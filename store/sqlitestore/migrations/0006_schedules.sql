-- Schema 6: cron schedules (store.Schedule).
--
-- One row per declared schedule, by name. The store parses no cron spec:
-- the pipeline computes each next tick and writes it; next_tick is the
-- compare-and-set value of AdvanceSchedule (UPDATE ... WHERE next_tick =
-- the one read), so that workers of any process firing the same tick
-- advance it once. Times are Unix nanoseconds in UTC, 0 for none, like
-- every other time of this store. The table is read whole (a store has
-- few schedules), so it needs no index but its key.
CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    pipeline   TEXT NOT NULL,
    spec       TEXT NOT NULL,
    time_zone  TEXT NOT NULL,
    missed     TEXT NOT NULL,
    next_tick  INTEGER NOT NULL,
    last_tick  INTEGER NOT NULL DEFAULT 0,
    last_run   TEXT NOT NULL DEFAULT '',
    skipped    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
