-- Schema 9: counters that Stats reads instead of counting rows.
--
-- plumb status and the workers' gauges ask for the runs of each pipeline
-- by status and for each step's outcomes over a window; counted from the
-- rows, both grow with the store (a million runs are seconds of index
-- scans). Triggers keep the counts in the same transaction as the write
-- that changes them, so they are exact at every commit, and no Go code of
-- the hot path changes: a run's insert, status change and delete (Prune,
-- and the cascade to its branch runs) move one run between two rows of
-- run_counts; a step record's insert and delete move one record in the
-- minute of step_counts it finished in. A status is rarely changed
-- without the write of the row anyway, and the store has one writer, so
-- a counter row is no point of contention.

-- run_counts: runs by pipeline and status, and how many of them are
-- branch runs. A row that falls to 0 stays (Stats skips it): a pipeline
-- has a few statuses.
CREATE TABLE run_counts (
    pipeline TEXT NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    branches INTEGER NOT NULL,
    PRIMARY KEY (pipeline, status)
) WITHOUT ROWID;

CREATE TRIGGER runs_count_insert AFTER INSERT ON runs BEGIN
    INSERT INTO run_counts (pipeline, status, n, branches) VALUES (NEW.pipeline, NEW.status, 1, NEW.parent_id IS NOT NULL)
        ON CONFLICT (pipeline, status) DO UPDATE SET n = n + 1, branches = branches + excluded.branches;
END;
CREATE TRIGGER runs_count_status AFTER UPDATE OF status ON runs WHEN OLD.status <> NEW.status BEGIN
    UPDATE run_counts SET n = n - 1, branches = branches - (OLD.parent_id IS NOT NULL)
        WHERE pipeline = OLD.pipeline AND status = OLD.status;
    INSERT INTO run_counts (pipeline, status, n, branches) VALUES (NEW.pipeline, NEW.status, 1, NEW.parent_id IS NOT NULL)
        ON CONFLICT (pipeline, status) DO UPDATE SET n = n + 1, branches = branches + excluded.branches;
END;
CREATE TRIGGER runs_count_delete AFTER DELETE ON runs BEGIN
    UPDATE run_counts SET n = n - 1, branches = branches - (OLD.parent_id IS NOT NULL)
        WHERE pipeline = OLD.pipeline AND status = OLD.status;
END;

-- step_counts: step records (idx >= 0, as Stats counts them) by the
-- minute they finished in (bucket: finished_at floored to 60 s), pipeline
-- and step: all of them (n), and the succeeded and the failed (failed or
-- deferred). Stats sums the whole minutes of its window and counts the
-- records of the minute the window starts in from steps_stats, so the
-- figures are those of the rows. A row that falls to 0 (its records
-- pruned) is deleted, so the table holds a row per busy minute and step.
CREATE TABLE step_counts (
    bucket    INTEGER NOT NULL,
    pipeline  TEXT NOT NULL,
    step      TEXT NOT NULL,
    n         INTEGER NOT NULL,
    succeeded INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    PRIMARY KEY (bucket, pipeline, step)
) WITHOUT ROWID;

CREATE TRIGGER steps_count_insert AFTER INSERT ON steps WHEN NEW.idx >= 0 BEGIN
    INSERT INTO step_counts (bucket, pipeline, step, n, succeeded, failed)
        VALUES (CASE WHEN NEW.finished_at >= 0 OR NEW.finished_at % 60000000000 = 0 THEN NEW.finished_at / 60000000000
                ELSE NEW.finished_at / 60000000000 - 1 END,
            NEW.pipeline, NEW.step, 1, NEW.status = 'succeeded', NEW.status IN ('failed', 'deferred'))
        ON CONFLICT (bucket, pipeline, step) DO UPDATE SET n = n + 1,
            succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed;
END;
CREATE TRIGGER steps_count_delete AFTER DELETE ON steps WHEN OLD.idx >= 0 BEGIN
    UPDATE step_counts SET n = n - 1, succeeded = succeeded - (OLD.status = 'succeeded'),
            failed = failed - (OLD.status IN ('failed', 'deferred'))
        WHERE bucket = CASE WHEN OLD.finished_at >= 0 OR OLD.finished_at % 60000000000 = 0 THEN OLD.finished_at / 60000000000
                ELSE OLD.finished_at / 60000000000 - 1 END
            AND pipeline = OLD.pipeline AND step = OLD.step;
    DELETE FROM step_counts WHERE n = 0 AND bucket = CASE WHEN OLD.finished_at >= 0 OR OLD.finished_at % 60000000000 = 0
            THEN OLD.finished_at / 60000000000 ELSE OLD.finished_at / 60000000000 - 1 END
        AND pipeline = OLD.pipeline AND step = OLD.step;
END;
-- No write changes a record's step, index, status, time or pipeline
-- (a lease's rewrite of a record changes its payloads only); should one,
-- the record moves like a delete and an insert.
CREATE TRIGGER steps_count_update AFTER UPDATE OF pipeline, idx, step, status, finished_at ON steps BEGIN
    UPDATE step_counts SET n = n - 1, succeeded = succeeded - (OLD.status = 'succeeded'),
            failed = failed - (OLD.status IN ('failed', 'deferred'))
        WHERE OLD.idx >= 0 AND bucket = CASE WHEN OLD.finished_at >= 0 OR OLD.finished_at % 60000000000 = 0
                THEN OLD.finished_at / 60000000000 ELSE OLD.finished_at / 60000000000 - 1 END
            AND pipeline = OLD.pipeline AND step = OLD.step;
    INSERT INTO step_counts (bucket, pipeline, step, n, succeeded, failed)
        SELECT CASE WHEN NEW.finished_at >= 0 OR NEW.finished_at % 60000000000 = 0 THEN NEW.finished_at / 60000000000
                ELSE NEW.finished_at / 60000000000 - 1 END,
            NEW.pipeline, NEW.step, 1, NEW.status = 'succeeded', NEW.status IN ('failed', 'deferred')
        WHERE NEW.idx >= 0
        ON CONFLICT (bucket, pipeline, step) DO UPDATE SET n = n + 1,
            succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed;
    DELETE FROM step_counts WHERE n = 0 AND bucket = CASE WHEN OLD.finished_at >= 0 OR OLD.finished_at % 60000000000 = 0
            THEN OLD.finished_at / 60000000000 ELSE OLD.finished_at / 60000000000 - 1 END
        AND pipeline = OLD.pipeline AND step = OLD.step;
END;

-- The counts of the rows already there.
INSERT INTO run_counts (pipeline, status, n, branches)
    SELECT pipeline, status, count(*), sum(parent_id IS NOT NULL) FROM runs GROUP BY pipeline, status;
INSERT INTO step_counts (bucket, pipeline, step, n, succeeded, failed)
    SELECT CASE WHEN finished_at >= 0 OR finished_at % 60000000000 = 0 THEN finished_at / 60000000000
            ELSE finished_at / 60000000000 - 1 END AS b,
        pipeline, step, count(*), sum(status = 'succeeded'), sum(status IN ('failed', 'deferred'))
    FROM steps WHERE idx >= 0 GROUP BY b, pipeline, step;

-- A group of dead letters (a pipeline's step and error class: deadletters
-- show, replay --filter), newest first, from the index until the rows of
-- the page. Only dead-lettered runs have an entry, so a run that succeeds
-- pays nothing for it.
CREATE INDEX runs_dead_letters ON runs (pipeline, step, class, id) WHERE status = 'dead_lettered';
