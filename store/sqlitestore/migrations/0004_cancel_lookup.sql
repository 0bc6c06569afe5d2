-- Schema 4: an operator's cancellation of a run, and lookups of runs by
-- the trigger's external id and by idempotency key.
--
-- cancel is the store.Cancellation (JSON) of a run whose cancellation was
-- asked while a worker held it, and stays on the run once it has ended
-- cancelled; NULL on every run nobody cancels. It is a column of the row,
-- not a table of its own, because the hot path must know of it: a
-- heartbeat, a checkpoint, a finish and a release of a held run each read
-- or update the row anyway, and test "cancel IS NULL" on it for nothing,
-- where a table would cost them a lookup each. A NULL column adds one
-- header byte to a row, and is written only by a cancel and a replay (which
-- clears it). Added with a constant default, it costs no rewrite, and rows
-- written before this migration read as runs nobody cancelled.
ALTER TABLE runs ADD COLUMN cancel BLOB;

-- ListRuns by external id or idempotency key: the runs of that value,
-- newest first, from the index alone until the rows on the page. Both are
-- partial, so a run without an external id or a key has no entry in
-- them, and neither column ever changes after the run is added: no write
-- of the hot path touches these indexes. (runs_idem, keyed by pipeline
-- first, cannot serve a lookup of the key across pipelines.)
CREATE INDEX runs_external_id ON runs (trigger_ext_id, id) WHERE trigger_ext_id <> '';
CREATE INDEX runs_idem_key ON runs (idem_key, id) WHERE idem_key IS NOT NULL;
