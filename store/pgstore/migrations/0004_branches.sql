-- Schema 4: branch runs.
--
-- A branch run (a child) is a run like any other, with a pointer to the
-- run whose step forked it: parent_id (NULL for a top-level run),
-- parent_step and parent_index name the branching step, branch and
-- branch_name the child's place in it, parent_trace_id and parent_span_id
-- the parent execution's root span. spent_* is what the current attempt's
-- model calls spent, budget_* the cap a child got from its parent (0: none).
--
-- The new status 'waiting' is live and never claimable: a parent waiting
-- for its children, a child waiting for a slot under its fork's limit.
-- Claim's partial indexes (runs_ready, runs_deferred, runs_expiry) name
-- the statuses they hold, so waiting runs are in none of them: a claim
-- never reads one.
--
-- joins holds each fork's join: live counts the fork's children not yet
-- ended, active those queued or running, which lim bounds (0: no bound);
-- branches are the branches the parent's latest fork at the step named
-- (a fork made again with fewer leaves the others out of the join). Every change of
-- a child's status updates its join in the same transaction, under the
-- join row's lock, which serialises the changes of one fork's children
-- without locking their parent.
--
-- The columns are added with constant defaults (a catalog change, no
-- rewrite): rows written before read as top-level runs that spent nothing.
-- The status constraint is replaced by a wider one; NOT VALID skips
-- re-checking existing rows, which the old, narrower constraint admitted.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN
    ('queued', 'running', 'waiting', 'succeeded', 'dead_lettered', 'awaiting_review', 'cancelled')) NOT VALID;
ALTER TABLE runs ADD COLUMN parent_id text COLLATE "C",
    ADD COLUMN parent_step text NOT NULL DEFAULT '',
    ADD COLUMN parent_index integer NOT NULL DEFAULT 0,
    ADD COLUMN branch integer NOT NULL DEFAULT 0,
    ADD COLUMN branch_name text NOT NULL DEFAULT '',
    ADD COLUMN parent_trace_id text NOT NULL DEFAULT '',
    ADD COLUMN parent_span_id text NOT NULL DEFAULT '',
    ADD COLUMN spent_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN spent_cost double precision NOT NULL DEFAULT 0,
    ADD COLUMN budget_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN budget_cost double precision NOT NULL DEFAULT 0;

CREATE TABLE joins (
    parent_id text COLLATE "C" NOT NULL,
    idx       integer NOT NULL,
    step      text NOT NULL,
    live      integer NOT NULL,
    lim       integer NOT NULL DEFAULT 0,
    active    integer NOT NULL DEFAULT 0,
    branches  integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (parent_id, idx)
);

-- The indexes are partial on parent_id IS NOT NULL, so that a top-level
-- run, which is in none of them, costs no more to write than before (each
-- of its updates that is not HOT would add an entry to every index it is
-- in).
--
-- runs_children: a parent's children in (step index, branch) order
-- (Branches, RunFilter.Parent, the cancel hook, Prune's descent).
CREATE INDEX runs_children ON runs (parent_id, parent_index, branch) WHERE parent_id IS NOT NULL;
-- runs_waiting_children: the first child waiting for a slot under its
-- join's limit, released when a sibling ends.
CREATE INDEX runs_waiting_children ON runs (parent_id, parent_index, branch)
    WHERE status = 'waiting' AND parent_id IS NOT NULL;
-- TopLevel has no index of its own: one on parent_id IS NULL would hold
-- every top-level run and cost each of its non-HOT updates (claim, finish)
-- an entry. A TopLevel list reads runs_status or the primary key and skips
-- the children, which sort right after their parent (their ids extend
-- its), so a fork's children are one contiguous run of entries.
