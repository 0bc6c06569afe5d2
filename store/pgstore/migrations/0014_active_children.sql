-- Schema 14: the children of a fork that hold a slot under its limit,
-- counted where they are.
--
-- A child waiting for an event (an open wait of its current attempt) is
-- queued until its deadline, but holds no slot: its fork's release counts
-- the queued and running children that do not wait for an event, from
-- this index, which holds only the queued and running branch runs
-- (joins.active keeps counting every queued and running child). Only
-- branch runs are in it: a top-level run's writes cost it nothing.
CREATE INDEX runs_active_children ON runs (parent_id, parent_index)
    WHERE status IN ('queued', 'running') AND parent_id IS NOT NULL;
