-- Schema 7: durable waits for events.
--
-- events keeps every event delivered (Ops.SendEvent), by its source and
-- its id at the source, so that a second delivery of one event (a webhook
-- retried) finds the first and changes nothing. An event no wait has
-- taken (run_id NULL) is kept for a wait to come until expires_at, and
-- deleted after (a later SendEvent does it, a batch at a time); a taken
-- one names the run and the step that took it, and goes with its run.
-- Times are unix nanoseconds, as everywhere in this schema.
CREATE TABLE events (
    source      TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL,
    payload     BLOB,
    received_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    run_id      TEXT REFERENCES runs (id) ON DELETE CASCADE, -- NULL: kept for a wait
    step        TEXT NOT NULL DEFAULT '',
    taken_at    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (source, id)
);
-- A wait finds the oldest kept event of its name and key; the index holds
-- only the kept ones, so that taken events cost it nothing.
CREATE INDEX events_kept ON events (name, key, received_at) WHERE run_id IS NULL;
-- A replay of an await step finds the event its run took there before,
-- and a run's timeline lists the events it took.
CREATE INDEX events_run ON events (run_id, step) WHERE run_id IS NOT NULL;
-- SendEvent deletes the kept events past their keep.
CREATE INDEX events_expiry ON events (expires_at) WHERE run_id IS NULL;

-- waits holds one row per wait of an await step: a run attempt's step,
-- with its deadline, and once it ended the event it took (event_source,
-- event_id) or that it expired. A run that waits is an ordinary queued
-- run with not_before at the deadline, so that the claim needs no query
-- of its own; a wait is deleted with its run.
CREATE TABLE waits (
    run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    idx          INTEGER NOT NULL,
    pipeline     TEXT NOT NULL,
    step         TEXT NOT NULL,
    name         TEXT NOT NULL,
    key          TEXT NOT NULL,
    deadline     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    event_source TEXT NOT NULL DEFAULT '',
    event_id     TEXT NOT NULL DEFAULT '',
    expired      INTEGER NOT NULL DEFAULT 0,
    resolved_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, attempt, idx)
);
-- An event finds the oldest open wait of its name and key.
CREATE INDEX waits_open ON waits (name, key, created_at) WHERE resolved_at = 0;
