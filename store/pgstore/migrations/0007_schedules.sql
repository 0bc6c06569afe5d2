-- Schema 7: cron schedules (store.Schedule).
--
-- One row per declared schedule, by name. The store parses no cron spec:
-- the pipeline computes each next tick and writes it. next_tick is the
-- compare-and-set value of AdvanceSchedule (UPDATE ... WHERE next_tick =
-- the one read): workers on every host firing the same tick advance it
-- once, under the row lock the UPDATE takes. PutSchedule is one INSERT
-- ... ON CONFLICT, so that workers declaring a schedule at once agree on
-- its next tick. The table is read whole (a store has few schedules), so
-- it needs no index but its key.
CREATE TABLE schedules (
    name       text COLLATE "C" PRIMARY KEY,
    pipeline   text NOT NULL,
    spec       text NOT NULL,
    time_zone  text NOT NULL,
    missed     text NOT NULL,
    next_tick  timestamptz NOT NULL,
    last_tick  timestamptz,
    last_run   text NOT NULL DEFAULT '',
    skipped    bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
