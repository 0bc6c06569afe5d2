-- Schema 3: branch runs. A step that branches forks: its children are runs
-- of their own with a parent, the parent waits (status 'waiting', which no
-- claim takes), and each fork's join counts the children still live.
--
-- The parent's place of a branch run (parent_id ... parent_span_id) is
-- written when the child is created (a fork made again may rename its
-- step or its trace), and its run, step index and branch never change; it is NULL
-- on a top-level run, so a top-level row grows by one header byte per
-- column and nothing else: the hot path's UPDATEs rewrite the same narrow
-- row. parent_id is read with the row the hot path reads anyway, so a
-- top-level run's finish knows it has no join without a lookup. Spending
-- and the budget are numbers on the row (0: none). Columns added with a
-- constant default cost no rewrite, and rows written before this
-- migration read as top-level runs that spent nothing and have no budget.
ALTER TABLE runs ADD COLUMN parent_id TEXT;              -- NULL: a top-level run
ALTER TABLE runs ADD COLUMN parent_step TEXT;
ALTER TABLE runs ADD COLUMN parent_index INTEGER;
ALTER TABLE runs ADD COLUMN branch INTEGER;
ALTER TABLE runs ADD COLUMN branch_name TEXT;            -- NULL: a fan-out element
ALTER TABLE runs ADD COLUMN parent_trace_id TEXT;
ALTER TABLE runs ADD COLUMN parent_span_id TEXT;
-- 1: the parent forked again at the child's step without it, so the child
-- is no part of that fork's join (it stays the parent's, and goes with it).
ALTER TABLE runs ADD COLUMN dropped INTEGER;
ALTER TABLE runs ADD COLUMN spent_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN spent_cost REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_cost REAL NOT NULL DEFAULT 0;

-- joins holds one row per fork: the parent's branching step (idx, step),
-- how many of its children are live (not succeeded, dead_lettered or
-- cancelled) and the limit of those queued or running (0: none). It is a
-- table of its own so that a child's end updates a row of a few bytes, not
-- its parent's run; the store settles the parent when live reaches 0. A
-- join goes with its parent.
CREATE TABLE joins (
    parent_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    step      TEXT NOT NULL,
    live      INTEGER NOT NULL,
    lim       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, idx)
) WITHOUT ROWID;

-- The indexes of branch runs are partial on parent_id IS NOT NULL (or on
-- 'waiting'), so a top-level run has no entry in them and its writes pay
-- nothing for them; parent_id, parent_index and branch never change, so a
-- child's status changes do not touch runs_children either.

-- Branches, the cancel hook, Stats' count of branch runs and ListRuns of a
-- parent: a parent's children in step index then branch order.
CREATE INDEX runs_children ON runs (parent_id, parent_index, branch, pipeline) WHERE parent_id IS NOT NULL;
-- A join's release: its first child waiting for a slot, by branch.
CREATE INDEX runs_waiting_children ON runs (parent_id, parent_index, branch) WHERE status = 'waiting' AND parent_id IS NOT NULL;
-- A join's release: how many of its children hold a slot (queued or
-- running), at most the limit and a few it let overtake.
CREATE INDEX runs_active_children ON runs (parent_id, parent_index) WHERE status IN ('queued', 'running') AND parent_id IS NOT NULL;
-- ListRuns of top-level runs, newest first, and its count of the runs past
-- a page, with no table lookup however many branch runs there are. It is
-- the one index a top-level run pays for: one entry, written once at
-- enqueue (neither id nor parent_id ever changes). parent_id is a column
-- of the index (always NULL) only so that queries that name it, as they
-- must to use the index, need nothing but the index.
CREATE INDEX runs_top_level ON runs (id, parent_id) WHERE parent_id IS NULL;

-- runs_ended (status NOT IN ('queued', 'running')) now also holds waiting
-- runs, deliberately: like awaiting_review, waiting is a status no claim
-- takes, and the index, keyed by status first, serves a list of waiting
-- runs as well as of any ended status, and Stats counts them from it; so a
-- fork moves its parent between the claim's indexes and runs_ended, as a
-- finish does, and this migration need not rebuild it.

-- Prune deletes only top-level runs (a branch run goes with its parent),
-- and MaxRuns counts only them: runs_succeeded leaves branch runs out, so
-- that Prune's walk by finish time (and its OFFSET) reads the index alone
-- (parent_id in it, as in runs_top_level, for the queries that name it).
DROP INDEX runs_succeeded;
CREATE INDEX runs_succeeded ON runs (finished_at, id, parent_id) WHERE status = 'succeeded' AND parent_id IS NULL;
