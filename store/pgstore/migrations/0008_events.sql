-- Schema 8: durable waits for events.
--
-- events keeps every event delivered (Ops.SendEvent), by its source and
-- its id at the source, so that a second delivery of one event (a webhook
-- retried) finds the first and changes nothing. An event no wait has
-- taken (run_id NULL) is kept for a wait to come until expires_at, and
-- deleted after (a later SendEvent does it, a batch at a time); a taken
-- one names the run and the step that took it, and goes with its run.
CREATE TABLE events (
    source      text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    payload     bytea,
    received_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    run_id      text COLLATE "C" REFERENCES runs (id) ON DELETE CASCADE, -- NULL: kept for a wait
    step        text NOT NULL DEFAULT '',
    taken_at    timestamptz,
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
-- run with not_before at the deadline (runs_deferred), so that the claim
-- needs no query of its own; a wait is deleted with its run. Every write
-- of a wait or an event of one name and key holds a transaction-scoped
-- advisory lock on them, so that one event goes to one wait.
CREATE TABLE waits (
    run_id       text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    idx          integer NOT NULL,
    pipeline     text NOT NULL,
    step         text NOT NULL,
    name         text COLLATE "C" NOT NULL,
    key          text COLLATE "C" NOT NULL,
    deadline     timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    event_source text NOT NULL DEFAULT '',
    event_id     text NOT NULL DEFAULT '',
    expired      boolean NOT NULL DEFAULT false,
    resolved_at  timestamptz,
    PRIMARY KEY (run_id, attempt, idx)
);
-- An event finds the oldest open wait of its name and key.
CREATE INDEX waits_open ON waits (name, key, created_at) WHERE resolved_at IS NULL;
