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
-- it but the hash of its empty error.
ALTER TABLE runs ADD COLUMN error_key bigint GENERATED ALWAYS AS (hashtextextended(error, 0)) STORED;
CREATE INDEX runs_dead_letter_groups ON runs (pipeline, step, class, error_key, updated_at, parent_id, id)
    WHERE status = 'dead_lettered';
