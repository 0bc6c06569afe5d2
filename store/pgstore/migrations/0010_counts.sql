-- Schema 10: counters that Stats reads instead of counting rows.
--
-- plumb status and the workers' gauges ask for the runs of each pipeline
-- by status and for each step's outcomes over a window; counted from the
-- rows, both grow with the store (a million runs are seconds of scans).
-- Row triggers keep the counts in the transaction of the write that
-- changes them, so they are exact at every commit, and no Go code of the
-- hot path changes: a run's insert, status change and delete move one run
-- between two rows of run_counts; a step record's insert and delete move
-- one record in the minute of step_counts it finished in.
--
-- Many worker processes write at once, so a counter is not one row: each
-- backend adds its deltas to rows of its own (slot: pg_backend_pid()), and
-- no two live backends ever update the same row, whatever they write.
-- Stats sums the slots; it folds the slots of backends that are gone into
-- slot 0 once they are many (no live backend has pid 0).

CREATE TABLE run_counts (
    pipeline text COLLATE "C" NOT NULL,
    status   text NOT NULL,
    slot     integer NOT NULL,
    n        bigint NOT NULL,
    branches bigint NOT NULL,
    PRIMARY KEY (pipeline, status, slot)
);

-- bucket: the minute finished_at is in (floor of its Unix seconds / 60),
-- or the least bigint for a record with no finish time. Stats sums the
-- whole minutes of its window and counts the records of the minute the
-- window starts in from the rows, so the figures are those of the rows.
CREATE TABLE step_counts (
    bucket    bigint NOT NULL,
    pipeline  text COLLATE "C" NOT NULL,
    step      text COLLATE "C" NOT NULL,
    slot      integer NOT NULL,
    n         bigint NOT NULL,
    succeeded bigint NOT NULL,
    failed    bigint NOT NULL,
    PRIMARY KEY (bucket, pipeline, step, slot)
);

-- The functions name the tables with the store's schema (the one this
-- migration runs in), since a trigger runs under the writer's search_path.
DO $migration$
BEGIN
EXECUTE format($f$
CREATE FUNCTION %1$I.count_runs() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO %1$I.run_counts AS c (pipeline, status, slot, n, branches)
            VALUES (NEW.pipeline, NEW.status, pg_backend_pid(), 1, (NEW.parent_id IS NOT NULL)::int)
            ON CONFLICT (pipeline, status, slot) DO UPDATE SET n = c.n + excluded.n, branches = c.branches + excluded.branches;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO %1$I.run_counts AS c (pipeline, status, slot, n, branches)
            VALUES (OLD.pipeline, OLD.status, pg_backend_pid(), -1, -(OLD.parent_id IS NOT NULL)::int)
            ON CONFLICT (pipeline, status, slot) DO UPDATE SET n = c.n + excluded.n, branches = c.branches + excluded.branches;
    ELSE
        INSERT INTO %1$I.run_counts AS c (pipeline, status, slot, n, branches)
            VALUES (OLD.pipeline, OLD.status, pg_backend_pid(), -1, -(OLD.parent_id IS NOT NULL)::int),
                   (NEW.pipeline, NEW.status, pg_backend_pid(), 1, (NEW.parent_id IS NOT NULL)::int)
            ON CONFLICT (pipeline, status, slot) DO UPDATE SET n = c.n + excluded.n, branches = c.branches + excluded.branches;
    END IF;
    RETURN NULL;
END
$body$;

CREATE FUNCTION %1$I.count_steps() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.idx >= 0 THEN
        INSERT INTO %1$I.step_counts AS c (bucket, pipeline, step, slot, n, succeeded, failed)
            VALUES (coalesce(floor(extract(epoch FROM OLD.finished_at) / 60)::bigint, -9223372036854775808),
                OLD.pipeline, OLD.step, pg_backend_pid(), -1, -(OLD.status = 'succeeded')::int, -(OLD.status IN ('failed', 'deferred'))::int)
            ON CONFLICT (bucket, pipeline, step, slot) DO UPDATE
                SET n = c.n + excluded.n, succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.idx >= 0 THEN
        INSERT INTO %1$I.step_counts AS c (bucket, pipeline, step, slot, n, succeeded, failed)
            VALUES (coalesce(floor(extract(epoch FROM NEW.finished_at) / 60)::bigint, -9223372036854775808),
                NEW.pipeline, NEW.step, pg_backend_pid(), 1, (NEW.status = 'succeeded')::int, (NEW.status IN ('failed', 'deferred'))::int)
            ON CONFLICT (bucket, pipeline, step, slot) DO UPDATE
                SET n = c.n + excluded.n, succeeded = c.succeeded + excluded.succeeded, failed = c.failed + excluded.failed;
    END IF;
    RETURN NULL;
END
$body$;
$f$, current_schema());
END
$migration$;

-- Only a status change moves a run (pipeline and parent_id never change);
-- only a change of what a record is counted by moves it.
CREATE TRIGGER runs_count AFTER INSERT OR DELETE ON runs FOR EACH ROW EXECUTE FUNCTION count_runs();
CREATE TRIGGER runs_count_status AFTER UPDATE OF status ON runs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION count_runs();
CREATE TRIGGER steps_count AFTER INSERT OR DELETE ON steps FOR EACH ROW EXECUTE FUNCTION count_steps();
CREATE TRIGGER steps_count_update AFTER UPDATE OF pipeline, idx, step, status, finished_at ON steps
    FOR EACH ROW EXECUTE FUNCTION count_steps();

-- The counts of the rows already there (the triggers exist, and hold
-- their table's lock until this migration commits, so no write falls
-- between).
INSERT INTO run_counts (pipeline, status, slot, n, branches)
    SELECT pipeline, status, 0, count(*), count(*) FILTER (WHERE parent_id IS NOT NULL) FROM runs GROUP BY pipeline, status;
INSERT INTO step_counts (bucket, pipeline, step, slot, n, succeeded, failed)
    SELECT coalesce(floor(extract(epoch FROM finished_at) / 60)::bigint, -9223372036854775808) AS b, pipeline, step, 0,
        count(*), count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status IN ('failed', 'deferred'))
    FROM steps WHERE idx >= 0 GROUP BY b, pipeline, step;

-- Stats reads the succeeded replays (the runs that may be recoveries):
-- few, and written to this index once, when such a run succeeds.
CREATE INDEX runs_recovered ON runs (pipeline) WHERE status = 'succeeded' AND attempt > 1;

-- A group of dead letters (a pipeline's step and error class: deadletters
-- show, replay --filter), newest first. Only dead-lettered runs have an
-- entry, so a run that succeeds pays nothing for it.
CREATE INDEX runs_dead_letters ON runs (pipeline, step, class, id) WHERE status = 'dead_lettered';
