-- Schema 11: the ops reads that stay instant at a million runs.
--
-- unclassified: a dead-lettered run's step gave up on an error nobody
-- classified (its class, permanent, is what the pipeline made of it).
-- Finish writes it with a dead letter; the groups keep such runs apart
-- from those whose error said it was permanent. Runs dead-lettered
-- before, or imported, group under their class.
ALTER TABLE runs ADD COLUMN unclassified INTEGER NOT NULL DEFAULT 0;
--
-- plumb deadletters list and the console's dead-letter page group the
-- dead letters by pipeline, step and error class (Ops.DeadLetterGroups).
-- Grouped from the rows, the listing read every dead-lettered run (and
-- stopped at a limit). Two indexes of the dead letters alone hold all
-- that the grouping reads, each in the order it reads it, so that it
-- reads no table row and sorts nothing:
--
-- runs_dead_letter_groups, by group then error: the counts, the
-- different messages (counted as the index walks them), the update times
-- for the filters and the oldest and newest, the parent for the branch
-- count. The status is there because SQLite does not take a partial
-- index's own condition as covered without its column.
CREATE INDEX runs_dead_letter_groups ON runs (pipeline, step, class, unclassified, error, updated_at, parent_id, status)
    WHERE status = 'dead_lettered';

-- runs_dead_letters (schema 9: a group's page, newest first) gains the
-- columns of the groups' newest ids and their filters, so that a group's
-- ids are read from it alone, newest first.
DROP INDEX runs_dead_letters;
CREATE INDEX runs_dead_letters ON runs (pipeline, step, class, id, unclassified, updated_at, parent_id, status)
    WHERE status = 'dead_lettered';

-- The review inbox lists the pending reviews oldest first (ListRuns with
-- ReviewOrder): this index holds them in that order (the review's
-- creation time as a Julian day, then the id), so that the inbox's page
-- is the first rows of the index, however many reviews wait.
CREATE INDEX runs_review_order ON runs (julianday(json_extract(review, '$.created_at')), id, pipeline)
    WHERE status = 'awaiting_review' AND json_valid(review) AND json_extract(review, '$.decision') IS NULL;
