-- Schema 12: the ops reads that stay instant at a million runs.
--
-- plumb deadletters list and the console's dead-letter page group the
-- dead letters by pipeline, step and error class (Ops.DeadLetterGroups).
-- Grouped from the rows, the listing read every dead-lettered run (and
-- stopped at a limit). runs_dead_letter_groups holds all that the
-- grouping reads, so that it is an index-only scan: the group, a hash of
-- the error (error_key, kept by PostgreSQL itself, for the count of
-- different messages: an error's text can be longer than an index entry
-- may be), the update time for the filters and the oldest and newest,
-- the parent for the branch count, the id for the newest runs. Only
-- dead-lettered runs have an entry: a run that succeeds pays nothing for
-- it but the hash of its empty error. Adding the column rewrites the runs
-- table once: until VACUUM (autovacuum, or VACUUM ANALYZE runs after the
-- upgrade of a large store) marks its pages visible again, the grouping
-- reads the rows instead of the index alone.
--
-- unclassified: a dead-lettered run's step gave up on an error nobody
-- classified (its class, permanent, is what the pipeline made of it).
-- Finish writes it with a dead letter; the groups keep such runs apart
-- from those whose error said it was permanent. Runs dead-lettered
-- before, or imported, group under their class.
ALTER TABLE runs ADD COLUMN unclassified boolean NOT NULL DEFAULT false;
ALTER TABLE runs ADD COLUMN error_key bigint GENERATED ALWAYS AS (hashtextextended(error, 0)) STORED;
CREATE INDEX runs_dead_letter_groups ON runs (pipeline, step, class, unclassified, error_key, updated_at, parent_id, id)
    WHERE status = 'dead_lettered';
-- runs_dead_letters (schema 10: a group's page, newest first) gains the
-- columns of the groups' newest ids and their filters, so that each
-- group's ids are an index-only walk of it, newest first.
DROP INDEX runs_dead_letters;
CREATE INDEX runs_dead_letters ON runs (pipeline, step, class, id) INCLUDE (unclassified, updated_at, parent_id)
    WHERE status = 'dead_lettered';

-- plumb status (Stats) read every awaiting-review run's review (a heap
-- fetch each, and the JSON decoded in Go) to find the oldest pending one,
-- and joined every succeeded replay to its attempts for the recoveries:
-- at a million runs, most of its time. Two small tables that triggers
-- keep, as SQLite's migration 10 does with an index and a table, hold
-- exactly what Stats reads:
--
-- pending_reviews: a row per run awaiting a review nobody decided: its
-- pipeline and the review's creation time (created_at for the order, the
-- JSON's text for the exact time Stats reports). A review the JSON
-- functions cannot read counts as decided, as Stats always took it.
CREATE TABLE pending_reviews (
    run_id     text COLLATE "C" PRIMARY KEY,
    pipeline   text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    created    text NOT NULL
);
-- The oldest of a pipeline (Stats), and the pending reviews in the review
-- inbox's order, of a pipeline and of all (ListRuns with ReviewOrder).
CREATE INDEX pending_reviews_oldest ON pending_reviews (pipeline, created_at, run_id);
CREATE INDEX pending_reviews_order ON pending_reviews (created_at, run_id);

-- run_recoveries: a row per run that succeeded on a replay after a dead
-- letter: its pipeline, its finish and that of its last dead-lettered
-- attempt before the current one (store.RecoveryTime).
CREATE TABLE run_recoveries (
    run_id       text COLLATE "C" PRIMARY KEY,
    pipeline     text COLLATE "C" NOT NULL,
    succeeded_at timestamptz,
    dead_at      timestamptz NOT NULL
);
CREATE INDEX run_recoveries_pipeline ON run_recoveries (pipeline);

DO $migration$
BEGIN
EXECUTE format($f$
CREATE FUNCTION %1$I.pending_review_of(r %1$I.runs) RETURNS void LANGUAGE plpgsql AS $body$
DECLARE
    j jsonb;
BEGIN
    DELETE FROM %1$I.pending_reviews WHERE run_id = r.id;
    IF r.status <> 'awaiting_review' OR r.review IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        j := convert_from(r.review, 'UTF8')::jsonb;
        IF jsonb_typeof(j) = 'object' AND coalesce(j->'decision', 'null'::jsonb) = 'null'::jsonb
            AND jsonb_typeof(j->'created_at') = 'string' THEN
            INSERT INTO %1$I.pending_reviews (run_id, pipeline, created_at, created)
                VALUES (r.id, r.pipeline, (j->>'created_at')::timestamptz, j->>'created_at');
        END IF;
    EXCEPTION WHEN others THEN
        NULL; -- an unreadable review is not a pending one
    END;
END
$body$;

CREATE FUNCTION %1$I.keep_pending_reviews() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM %1$I.pending_reviews WHERE run_id = OLD.id;
    ELSE
        PERFORM %1$I.pending_review_of(NEW);
    END IF;
    RETURN NULL;
END
$body$;

CREATE FUNCTION %1$I.recovery_of(rid text) RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
    DELETE FROM %1$I.run_recoveries WHERE run_id = rid;
    INSERT INTO %1$I.run_recoveries (run_id, pipeline, succeeded_at, dead_at)
        SELECT r.id, r.pipeline, r.finished_at, a.finished_at FROM %1$I.runs r
        JOIN LATERAL (SELECT a.finished_at FROM %1$I.attempts a WHERE a.run_id = r.id AND a.attempt < r.attempt
            AND a.status = 'dead_lettered' AND a.finished_at IS NOT NULL ORDER BY a.attempt DESC LIMIT 1) a ON true
        WHERE r.id = rid AND r.status = 'succeeded' AND r.attempt > 1;
END
$body$;

CREATE FUNCTION %1$I.keep_recoveries() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_TABLE_NAME = 'attempts' THEN
        PERFORM %1$I.recovery_of(NEW.run_id);
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM %1$I.run_recoveries WHERE run_id = OLD.id;
    ELSE
        PERFORM %1$I.recovery_of(NEW.id);
    END IF;
    RETURN NULL;
END
$body$;
$f$, current_schema());
END
$migration$;

-- Only runs that await a review, or did, and only replays (attempts past
-- the first) reach the functions: a run that succeeds first time stops
-- at the triggers' WHEN.
CREATE TRIGGER runs_pending_review_insert AFTER INSERT ON runs
    FOR EACH ROW WHEN (NEW.status = 'awaiting_review') EXECUTE FUNCTION keep_pending_reviews();
CREATE TRIGGER runs_pending_review_update AFTER UPDATE OF status, review ON runs
    FOR EACH ROW WHEN (NEW.status = 'awaiting_review' OR OLD.status = 'awaiting_review') EXECUTE FUNCTION keep_pending_reviews();
CREATE TRIGGER runs_pending_review_delete AFTER DELETE ON runs
    FOR EACH ROW WHEN (OLD.status = 'awaiting_review') EXECUTE FUNCTION keep_pending_reviews();
CREATE TRIGGER runs_recovery_insert AFTER INSERT ON runs
    FOR EACH ROW WHEN (NEW.status = 'succeeded' AND NEW.attempt > 1) EXECUTE FUNCTION keep_recoveries();
CREATE TRIGGER runs_recovery_update AFTER UPDATE OF status, finished_at, attempt ON runs
    FOR EACH ROW WHEN ((NEW.status = 'succeeded' AND NEW.attempt > 1) OR OLD.status = 'succeeded') EXECUTE FUNCTION keep_recoveries();
CREATE TRIGGER runs_recovery_delete AFTER DELETE ON runs
    FOR EACH ROW WHEN (OLD.status = 'succeeded' AND OLD.attempt > 1) EXECUTE FUNCTION keep_recoveries();
CREATE TRIGGER attempts_recovery AFTER INSERT OR UPDATE OF status, finished_at ON attempts
    FOR EACH ROW WHEN (NEW.attempt > 1) EXECUTE FUNCTION keep_recoveries();

-- The rows already there.
SELECT pending_review_of(r) FROM runs r WHERE r.status = 'awaiting_review';
INSERT INTO run_recoveries (run_id, pipeline, succeeded_at, dead_at)
    SELECT r.id, r.pipeline, r.finished_at, a.finished_at FROM runs r
    JOIN LATERAL (SELECT a.finished_at FROM attempts a WHERE a.run_id = r.id AND a.attempt < r.attempt
        AND a.status = 'dead_lettered' AND a.finished_at IS NOT NULL ORDER BY a.attempt DESC LIMIT 1) a ON true
    WHERE r.status = 'succeeded' AND r.attempt > 1;
