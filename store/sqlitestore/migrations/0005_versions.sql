-- Schema 5: the definition each attempt of a run started under
-- (store.Version: the steps' fingerprint and the author's label), and the
-- held status of a run a worker of a changed definition could not go on
-- with.
--
-- The version is a column of attempts, not of runs, though Run.Version is
-- read with every run: the runs row is rewritten on every claim,
-- heartbeat, checkpoint and finish, and must stay narrow, while an
-- attempts row is written when an attempt starts and when it ends. A
-- run's version changes only with a new attempt (a replay, a fork that
-- restarts a branch), which is a new attempts row anyway, so nothing of
-- the hot path writes it. Every read of a run already reads its current
-- attempt's row by primary key for the input (the LEFT JOIN of a list, a
-- GetRun, a claim's RETURNING), so the version costs that read two
-- columns more, not a lookup of its own. Added with a constant default,
-- the columns cost no rewrite, and attempts written before this migration
-- read as the zero Version ("unversioned").
ALTER TABLE attempts ADD COLUMN version TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN version_label TEXT NOT NULL DEFAULT '';

-- Held is a status no claim takes, like awaiting_review: runs_ended
-- (status NOT IN ('queued', 'running')) holds held runs already, and
-- serves their lists and Stats' counts, so no index changes.
