-- Schema 1: the canonical record of runs, the queue, reviews and pauses.
-- Times are INTEGER unix nanoseconds (0 = not set), so that round trips
-- are exact and comparisons are integer comparisons against the store's
-- clock, never SQLite's. JSON payloads are BLOBs, kept byte for byte.

-- runs holds one row per run. It stays narrow: the hot path (claim,
-- checkpoint, heartbeat, finish) updates it several times per run, and
-- SQLite rewrites the whole row on every UPDATE, so the run's input lives
-- in attempts and the step payloads in steps.
CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    pipeline       TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    idem_key       TEXT,                      -- NULL: no idempotency key
    trigger_source TEXT NOT NULL DEFAULT '',
    trigger_ext_id TEXT NOT NULL DEFAULT '',
    trigger_at     INTEGER NOT NULL DEFAULT 0,
    input_hash     TEXT NOT NULL DEFAULT '',
    input_size     INTEGER NOT NULL DEFAULT 0,
    output         BLOB,
    step           TEXT NOT NULL DEFAULT '',
    error          TEXT NOT NULL DEFAULT '',
    class          INTEGER NOT NULL DEFAULT 0,
    not_before     INTEGER NOT NULL DEFAULT 0,
    deferrals      INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT NOT NULL DEFAULT '',
    lease_token    TEXT NOT NULL DEFAULT '',
    lease_expires  INTEGER NOT NULL DEFAULT 0,
    keep_payloads  INTEGER NOT NULL DEFAULT 0,
    trace_id       TEXT NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL DEFAULT 0,
    review         BLOB                       -- JSON store.Review; NULL: none
);

-- Idempotency keys are scoped to a pipeline.
CREATE UNIQUE INDEX runs_idem ON runs (pipeline, idem_key) WHERE idem_key IS NOT NULL;

-- Each index below that has status in its key or condition is written on
-- a status change, and a run changes status on every claim and finish; so
-- the live statuses (queued, running) and the ended ones have indexes of
-- their own, and a claim or a finish moves a run between three at most.

-- Claim: queued runs oldest first, across pipelines or for one. not_before
-- and pipeline are in the index so that deferred runs and other pipelines'
-- runs are skipped without reading the table. Also ListRuns and Stats of
-- queued runs.
CREATE INDEX runs_queued ON runs (created_at, id, pipeline, not_before) WHERE status = 'queued';
CREATE INDEX runs_queued_pipeline ON runs (pipeline, created_at, id, not_before) WHERE status = 'queued';
-- Claim: running runs whose lease expired (their worker died).
CREATE INDEX runs_leased ON runs (lease_expires, pipeline) WHERE status = 'running';
-- ListRuns of ended runs (dead letters, reviews), newest first by id, and
-- Stats counts of them.
CREATE INDEX runs_ended ON runs (status, id, pipeline) WHERE status NOT IN ('queued', 'running');
-- ListRuns of a pipeline, newest first.
CREATE INDEX runs_pipeline ON runs (pipeline, id);
-- Prune: succeeded runs by finish time.
CREATE INDEX runs_succeeded ON runs (finished_at, id) WHERE status = 'succeeded';
-- Stats: succeeded replays, the runs that may be recoveries.
CREATE INDEX runs_recovered ON runs (pipeline) WHERE status = 'succeeded' AND attempt > 1;

-- attempts holds one row per execution of a run. The current attempt's
-- input is the run's input.
CREATE TABLE attempts (
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    input       BLOB,
    status      TEXT NOT NULL,
    step        TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    class       INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, attempt)
);

-- steps holds every step record, in the order written (seq): the last
-- record of a step index counts. pipeline is copied from the run so that
-- Stats counts step outcomes from an index alone.
CREATE TABLE steps (
    seq         INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    pipeline    TEXT NOT NULL,
    run_attempt INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    step        TEXT NOT NULL,
    status      TEXT NOT NULL,
    by_name     TEXT NOT NULL DEFAULT '',
    input       BLOB,
    output      BLOB,
    output_hash TEXT NOT NULL DEFAULT '',
    output_size INTEGER NOT NULL DEFAULT 0,
    attempts    BLOB,                          -- JSON []step.Attempt
    error       TEXT NOT NULL DEFAULT '',
    class       INTEGER NOT NULL DEFAULT 0,
    note        TEXT NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER NOT NULL
);
CREATE INDEX steps_run ON steps (run_id, run_attempt, seq);
CREATE INDEX steps_stats ON steps (pipeline, finished_at, step, status, idx);

CREATE TABLE pipelines (
    name       TEXT PRIMARY KEY,
    def        BLOB NOT NULL,                  -- JSON store.PipelineDef
    updated_at INTEGER NOT NULL
);

CREATE TABLE pauses (
    pipeline    TEXT PRIMARY KEY,
    reason      TEXT NOT NULL,
    by_name     TEXT NOT NULL,
    since       INTEGER NOT NULL,
    probe_after INTEGER NOT NULL DEFAULT 0,
    probe_run   TEXT NOT NULL DEFAULT ''
);
