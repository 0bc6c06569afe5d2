-- Schema 11: a run's current input lives in its attempt's row.
--
-- The runs row is rewritten by every claim, checkpoint and finish; under
-- MVCC each rewrite is a new version of the whole row, so an input kept
-- there was carried three or four times per run until VACUUM, and VACUUM
-- does not give the space back to the file. The attempts row of the
-- run's attempt is written when the attempt starts and its input never
-- changes after (a final outcome without payloads sets it NULL), so the
-- input is written once there, as sqlitestore keeps it, and the runs row
-- stays narrow. input_hash and input_size stay on runs.

-- A run written before its attempts had rows gets one for its input.
INSERT INTO attempts (run_id, attempt, reason, input, status, started_at)
SELECT r.id, r.attempt, 'submitted', r.input, r.status, r.created_at FROM runs r
WHERE r.input IS NOT NULL
    AND NOT EXISTS (SELECT FROM attempts a WHERE a.run_id = r.id AND a.attempt = r.attempt);

UPDATE attempts SET input = runs.input FROM runs
WHERE attempts.run_id = runs.id AND attempts.attempt = runs.attempt AND attempts.input IS NULL
    AND runs.input IS NOT NULL;

ALTER TABLE runs DROP COLUMN input;
