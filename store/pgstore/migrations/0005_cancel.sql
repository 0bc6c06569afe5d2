-- Schema 5: cancellation, and lookups by external id and idempotency key.
--
-- cancel_at is set once an operator asks for a run's cancellation (NULL:
-- nobody did), with who asked (cancel_by) and why (cancel_reason): a run
-- that no worker holds ends cancelled in the same write; a running one
-- carries the mark until its worker gives it up. The hot write of held
-- runs (heldSQL) skips a marked run, so that the cancellation's rules,
-- written in Go, end it; a run nobody cancels pays for one NULL test.
-- The columns are added with constant defaults (a catalog change, no
-- rewrite): rows written before read as runs nobody cancelled.
ALTER TABLE runs ADD COLUMN cancel_at timestamptz,
    ADD COLUMN cancel_by text NOT NULL DEFAULT '',
    ADD COLUMN cancel_reason text NOT NULL DEFAULT '';

-- runs_marked: the running runs marked cancelled, which a claim that
-- finds their leases expired ends (their workers died). It holds only
-- those, so a claim that finds none reads one empty index page.
CREATE INDEX runs_marked ON runs (pipeline) WHERE status = 'running' AND cancel_at IS NOT NULL;

-- ListRuns by the trigger's external id and by idempotency key (of any
-- pipeline), newest first: each lookup reads only the matching entries.
-- Both are partial, so that a run without an external id or a key is in
-- neither and costs no more to write than before; ListRuns repeats the
-- predicate so that a generic plan can use them.
CREATE INDEX runs_ext_id ON runs (trigger_ext_id, id) WHERE trigger_ext_id <> '';
CREATE INDEX runs_idem_key ON runs (idem_key, id) WHERE idem_key IS NOT NULL;
