-- Schema 6: the definition each attempt runs under, and the held status.
--
-- version is the fingerprint of the definition an attempt started under
-- (store.Fingerprint over its steps and contracts), version_label the
-- label its author gave it; both empty for an attempt that recorded none.
-- They live in the attempts row, not in runs: the runs row is rewritten
-- by every claim, heartbeat, checkpoint and finish, and is kept narrow so
-- that those writes stay cheap (and checkpoints HOT), while an attempt's
-- row is written when the attempt starts and when it ends. A run's
-- version (Run.Version) is its current attempt's, read wherever a run is
-- read with one primary-key lookup of (run_id, attempt) per run.
--
-- The new status 'held' is a run a worker of a changed definition picked
-- up and could not go on with: parked like a run awaiting review, it is
-- in none of Claim's partial indexes (they name the statuses they hold),
-- and runs_status lists it for ListRuns.
--
-- The columns are added with constant defaults (a catalog change, no
-- rewrite): attempts written before read as unversioned. The status
-- constraint is replaced by a wider one; NOT VALID skips re-checking
-- existing rows, which the old, narrower constraint admitted.
ALTER TABLE attempts ADD COLUMN version text NOT NULL DEFAULT '',
    ADD COLUMN version_label text NOT NULL DEFAULT '';

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN
    ('queued', 'running', 'waiting', 'succeeded', 'dead_lettered', 'awaiting_review', 'held', 'cancelled')) NOT VALID;
