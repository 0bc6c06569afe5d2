-- Schema 11: the ops reads that stay instant at a million runs.
--
-- plumb deadletters list and the console's dead-letter page group the
-- dead letters by pipeline, step and error class (Ops.DeadLetterGroups).
-- Grouped from the rows, the listing read every dead-lettered run (and
-- stopped at a limit). This index holds all that the grouping reads (the
-- group, the error for the count of different messages, the update time
-- for the filters and the oldest and newest, the parent for the branch
-- count, the id for the newest runs, and the status, without which SQLite
-- reads the table for the partial index's own condition), so the grouping
-- reads the index alone. Only dead-lettered runs have an entry: a run that succeeds pays
-- nothing for it.
CREATE INDEX runs_dead_letter_groups ON runs (pipeline, step, class, error, updated_at, parent_id, id, status)
    WHERE status = 'dead_lettered';
