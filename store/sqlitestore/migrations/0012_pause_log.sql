-- Schema 12: a pipeline's log of pauses and resumes (store.Ops.PipelineLog).
--
-- The pauses table holds only the pause in force; once it is cleared,
-- nothing said who paused, who resumed, or why. Every SetPause (an
-- operator's pause, the breaker's trip and its re-arm after a failed
-- probe) and every ClearPause that cleared a pause adds a row here in the
-- same transaction. Rows are few (a pause is an event an operator hears
-- of), so they are kept; the index reads one pipeline's newest first.
CREATE TABLE pause_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline    TEXT NOT NULL,
    action      TEXT NOT NULL,
    by_name     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          INTEGER NOT NULL,
    probe_after INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pause_log_pipeline ON pause_log (pipeline, id);
