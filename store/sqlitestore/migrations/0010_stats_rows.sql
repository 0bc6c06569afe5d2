-- Schema 10: the rows of Stats that are not counts, kept apart from the
-- million runs: the pending reviews' times (an index) and the recoveries
-- (a table the triggers keep).
--
-- Stats read every awaiting-review run's row (a table lookup each, and
-- the review's JSON) to find the oldest pending one: at a million runs,
-- 10,000 reviews were most of plumb status. These indexes hold exactly
-- what that reads (the pipeline, the review's creation time and whether
-- it is decided), so the read is of the index alone. Only runs awaiting
-- review have an entry, so a run that never waits for a review pays
-- nothing. runs_reviews_raw holds the reviews the JSON functions cannot
-- read (none that the store writes), which Stats decodes in Go.
CREATE INDEX runs_reviews ON runs (status, pipeline, json_valid(review),
    json_extract(review, '$.created_at'), json_extract(review, '$.decision') IS NULL)
    WHERE status = 'awaiting_review' AND json_valid(review);
CREATE INDEX runs_reviews_raw ON runs (status, pipeline) WHERE status = 'awaiting_review' AND NOT json_valid(review);

-- run_recoveries: a row per run that succeeded on a replay after a dead
-- letter (store.RecoveryTime): its pipeline and the nanoseconds from its
-- last dead letter (the latest dead-lettered attempt before its last one,
-- with a finish time) to its finish. Stats sums it instead of joining
-- every succeeded replay to its attempts. Triggers recompute a run's row
-- when its status or finish time changes, when one of its attempts is
-- written (whichever a bulk load writes first), and drop it with the run.
-- A run on its first attempt has no earlier attempt, so the triggers of
-- the hot path (a run that succeeds first time) stop at their WHEN.
CREATE TABLE run_recoveries (
    run_id   TEXT NOT NULL PRIMARY KEY,
    pipeline TEXT NOT NULL,
    ns       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX run_recoveries_pipeline ON run_recoveries (pipeline, ns);

CREATE TRIGGER runs_recovery_insert AFTER INSERT ON runs WHEN NEW.status = 'succeeded' AND NEW.attempt > 1 BEGIN
    INSERT OR REPLACE INTO run_recoveries (run_id, pipeline, ns)
        SELECT NEW.id, NEW.pipeline, NEW.finished_at - a.finished_at
        FROM attempts a WHERE a.run_id = NEW.id AND a.status = 'dead_lettered' AND a.finished_at <> 0
            AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = NEW.id)
        ORDER BY a.attempt DESC LIMIT 1;
END;
CREATE TRIGGER runs_recovery_update AFTER UPDATE OF status, finished_at, pipeline ON runs
    WHEN (NEW.status = 'succeeded' AND NEW.attempt > 1) OR OLD.status = 'succeeded' BEGIN
    DELETE FROM run_recoveries WHERE run_id = OLD.id;
    INSERT INTO run_recoveries (run_id, pipeline, ns)
        SELECT NEW.id, NEW.pipeline, NEW.finished_at - a.finished_at
        FROM attempts a WHERE NEW.status = 'succeeded' AND a.run_id = NEW.id AND a.status = 'dead_lettered' AND a.finished_at <> 0
            AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = NEW.id)
        ORDER BY a.attempt DESC LIMIT 1;
END;
CREATE TRIGGER runs_recovery_delete AFTER DELETE ON runs WHEN OLD.status = 'succeeded' AND OLD.attempt > 1 BEGIN
    DELETE FROM run_recoveries WHERE run_id = OLD.id;
END;
CREATE TRIGGER attempts_recovery_insert AFTER INSERT ON attempts WHEN NEW.attempt > 1 BEGIN
    DELETE FROM run_recoveries WHERE run_id = NEW.run_id;
    INSERT INTO run_recoveries (run_id, pipeline, ns)
        SELECT r.id, r.pipeline, r.finished_at - a.finished_at
        FROM runs r JOIN attempts a ON a.run_id = r.id
        WHERE r.id = NEW.run_id AND r.status = 'succeeded' AND a.status = 'dead_lettered' AND a.finished_at <> 0
            AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = NEW.run_id)
        ORDER BY a.attempt DESC LIMIT 1;
END;
-- An attempt's update (every finish) looks up its run only past its first
-- attempt: the first attempt of a run is rewritten while the run is in
-- flight, never once it has succeeded on a later one.
CREATE TRIGGER attempts_recovery_update AFTER UPDATE OF status, finished_at ON attempts
    WHEN NEW.attempt > 1 AND EXISTS (SELECT 1 FROM runs WHERE id = NEW.run_id AND status = 'succeeded' AND attempt > 1) BEGIN
    DELETE FROM run_recoveries WHERE run_id = NEW.run_id;
    INSERT INTO run_recoveries (run_id, pipeline, ns)
        SELECT r.id, r.pipeline, r.finished_at - a.finished_at
        FROM runs r JOIN attempts a ON a.run_id = r.id
        WHERE r.id = NEW.run_id AND r.status = 'succeeded' AND a.status = 'dead_lettered' AND a.finished_at <> 0
            AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = NEW.run_id)
        ORDER BY a.attempt DESC LIMIT 1;
END;

-- The recoveries of the runs already there.
INSERT INTO run_recoveries (run_id, pipeline, ns)
    SELECT r.id, r.pipeline, r.finished_at - (
            SELECT a.finished_at FROM attempts a WHERE a.run_id = r.id AND a.status = 'dead_lettered' AND a.finished_at <> 0
                AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = r.id)
            ORDER BY a.attempt DESC LIMIT 1)
    FROM runs r INDEXED BY runs_recovered WHERE r.status = 'succeeded' AND r.attempt > 1
        AND EXISTS (SELECT 1 FROM attempts a WHERE a.run_id = r.id AND a.status = 'dead_lettered' AND a.finished_at <> 0
            AND a.attempt < (SELECT max(attempt) FROM attempts WHERE run_id = r.id));
