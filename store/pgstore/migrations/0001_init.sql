-- Schema 1: the canonical record of runs, the queue, reviews and pauses.
-- Migrate runs this with search_path set to the store's schema.
--
-- Times are timestamptz (microseconds), NULL for "not set"; every value
-- comes from the workers' clock, never the server's now(). Payloads and
-- the JSON of reviews, attempts and definitions are bytea, kept byte for
-- byte: jsonb would reformat them (and refuses \u0000). Run ids and
-- pipeline names sort byte by byte (COLLATE "C"), as in every store, and
-- compare faster than under a language's collation.

-- runs holds one row per run, the queue included. input is the current
-- attempt's input (earlier attempts keep theirs in attempts). fillfactor
-- leaves room on each page so that the frequent updates that change no
-- indexed column (heartbeats, checkpoints) are HOT updates.
CREATE TABLE runs (
    id             text COLLATE "C" PRIMARY KEY,
    pipeline       text COLLATE "C" NOT NULL,
    status         text NOT NULL CHECK (status IN
                   ('queued', 'running', 'succeeded', 'dead_lettered', 'awaiting_review', 'cancelled')),
    attempt        integer NOT NULL,
    idem_key       text,                      -- NULL: no idempotency key
    trigger_source text NOT NULL DEFAULT '',
    trigger_ext_id text NOT NULL DEFAULT '',
    trigger_at     timestamptz,
    input          bytea,
    input_hash     text NOT NULL DEFAULT '',
    input_size     integer NOT NULL DEFAULT 0,
    output         bytea,
    step           text NOT NULL DEFAULT '',
    error          text NOT NULL DEFAULT '',
    class          smallint NOT NULL DEFAULT 0,
    not_before     timestamptz,
    deferrals      integer NOT NULL DEFAULT 0,
    lease_owner    text NOT NULL DEFAULT '',
    lease_token    text NOT NULL DEFAULT '',
    lease_expires  timestamptz,
    keep_payloads  boolean NOT NULL DEFAULT false,
    trace_id       text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    review         bytea,                     -- JSON store.Review; NULL: none
    -- records counts the step records of the current attempt. A claim
    -- reads it from the row it locks, which every checkpoint updates, so
    -- it knows exactly whether the run has checkpoints to fetch.
    records        integer NOT NULL DEFAULT 0
) WITH (fillfactor = 80);

-- Idempotency keys are scoped to a pipeline.
CREATE UNIQUE INDEX runs_idem ON runs (pipeline, idem_key) WHERE idem_key IS NOT NULL;

-- Claim walks three small partial indexes, for each pipeline it serves,
-- each in the order it needs: queued runs ready now, oldest first;
-- deferred runs by the time they become due; running runs (few: the
-- workers' concurrency) to find expired leases. pipeline leads each key,
-- so that one pipeline's backlog (or a paused pipeline's) is never
-- scanned by workers of another. lease_expires is not indexed, so that
-- heartbeats are HOT updates.
CREATE INDEX runs_ready ON runs (pipeline, created_at, id) WHERE status = 'queued' AND not_before IS NULL;
CREATE INDEX runs_deferred ON runs (pipeline, not_before) WHERE status = 'queued' AND not_before IS NOT NULL;
CREATE INDEX runs_running ON runs (pipeline, created_at, id) WHERE status = 'running';

-- ListRuns by status (dead letters, reviews) newest first; Prune.
CREATE INDEX runs_status ON runs (status, id);

-- attempts holds one row per execution of a run. The current attempt's
-- input is the run's (input is NULL here until a replay starts the next).
CREATE TABLE attempts (
    run_id      text COLLATE "C" NOT NULL,
    attempt     integer NOT NULL,
    reason      text NOT NULL,
    input       bytea,
    status      text NOT NULL,
    step        text NOT NULL DEFAULT '',
    error       text NOT NULL DEFAULT '',
    class       smallint NOT NULL DEFAULT 0,
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, attempt)
);

-- steps holds every step record in the order written (seq): the last
-- record of a step index counts. pipeline is copied from the run so that
-- Stats needs no join. The BRIN index serves Stats' time window at almost
-- no cost per insert, as records arrive in time order.
CREATE TABLE steps (
    run_id      text COLLATE "C" NOT NULL,
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    pipeline    text COLLATE "C" NOT NULL,
    run_attempt integer NOT NULL,
    idx         integer NOT NULL,
    step        text NOT NULL,
    status      text NOT NULL,
    by_name     text NOT NULL DEFAULT '',
    input       bytea,
    output      bytea,
    output_hash text NOT NULL DEFAULT '',
    output_size integer NOT NULL DEFAULT 0,
    attempts    bytea,                         -- JSON []step.Attempt
    error       text NOT NULL DEFAULT '',
    class       smallint NOT NULL DEFAULT 0,
    note        text NOT NULL DEFAULT '',
    started_at  timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX steps_finished ON steps USING brin (finished_at);

CREATE TABLE pipelines (
    name       text COLLATE "C" PRIMARY KEY,
    def        bytea NOT NULL,                 -- JSON store.PipelineDef
    updated_at timestamptz NOT NULL
);

CREATE TABLE pauses (
    pipeline    text COLLATE "C" PRIMARY KEY,
    reason      text NOT NULL DEFAULT '',
    by_name     text NOT NULL DEFAULT '',
    since       timestamptz NOT NULL,
    probe_after timestamptz,
    probe_run   text NOT NULL DEFAULT ''
);
