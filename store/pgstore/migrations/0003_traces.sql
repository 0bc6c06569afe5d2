-- Schema 3: every execution of a run is recorded with its trace, and a
-- changed input is noted on the run.
--
-- A step record names the root span of the execution that wrote it, so
-- the trace of each execution (the first, and each after a deferral, a
-- review decision, a replay or a reclaim) is known without a write of its
-- own. runs.trace_id and runs.span_id name the first execution's root
-- span, which later executions link to; a store fills them from the first
-- record that carries a trace. input_replaced counts the invalid UTF-8
-- bytes the encoding of a submitted input replaced with U+FFFD.
--
-- Columns added with a constant default change only the catalog (no table
-- rewrite), and rows written before this migration read as "no trace
-- recorded", "nothing replaced". None is indexed: checkpoints stay HOT.
ALTER TABLE runs ADD COLUMN span_id text NOT NULL DEFAULT '',
    ADD COLUMN input_replaced integer NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN trace_id text NOT NULL DEFAULT '',
    ADD COLUMN span_id text NOT NULL DEFAULT '';
