package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds the store's SQL with its schema filled in, built once per
// Store so that each statement's text is stable (pgx prepares and caches
// each one per connection).
type queries struct {
	schema string // quoted

	enqueue, handoff, runByIdem, runByID, runForUpdate, leaseState, lockRuns string
	claim, claimAll, claimSteps                                              string
	heartbeat, held, release, notify                                         string
	insertStep, saveRun, scrubStep, closeAttempt, dropInput, insertAttempt   string
	getAttempts, getSteps, listRuns                                          string

	// branch runs and their joins (branch.go, join.go)
	joinOpen, joinSet, joinAdd, joinOf, forkExisting, forkInsert, branches string
	releaseWaiting, peek, settleQueue, cancelJoins, cancelKids, stepsOf    string
	joinCancel, restart, lockJoins                                         string
	lockJoinState, runsForUpdate, scrubSteps                               string

	// cancellation (cancel.go, join.go)
	markCancel, markKids, lockRunningKids string
}

func buildQueries(schema string) *queries {
	q := &queries{schema: pgx.Identifier{schema}.Sanitize()}
	fill := func(sql string) string { return strings.ReplaceAll(sql, "{s}", q.schema) }
	q.enqueue = fill(enqueueSQL())
	q.handoff = fill(handoffSQL())
	q.lockRuns = fill(lockRunsSQL)
	q.runByIdem = fill("SELECT " + runCols("r") + " FROM {s}.runs r WHERE r.pipeline = $1 AND r.idem_key = $2")
	q.runByID = fill("SELECT " + runCols("r") + " FROM {s}.runs r WHERE r.id = $1")
	q.runForUpdate = fill("SELECT " + runCols("r") + ", r.records FROM {s}.runs r WHERE r.id = $1 FOR NO KEY UPDATE")
	q.leaseState = fill("SELECT status, lease_token, cancel_at IS NOT NULL FROM {s}.runs WHERE id = $1")
	q.claim = fill(claimSQL(true))
	q.claimAll = fill(claimSQL(false))
	q.claimSteps = fill(claimStepsSQL)
	q.heartbeat = fill(heartbeatSQL)
	q.held = fill(heldSQL())
	q.release = fill(releaseSQL)
	q.notify = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p"
	q.insertStep = fill(insertStepSQL)
	q.saveRun = fill(saveRunSQL)
	q.scrubStep = fill(`UPDATE {s}.steps SET input = $3, output = $4, output_hash = $5, output_size = $6, attempts = $7
		WHERE run_id = $1 AND seq = $2`)
	q.closeAttempt = fill(`UPDATE {s}.attempts SET status = $3, step = $4, error = $5, class = $6,
		finished_at = $7::timestamptz WHERE run_id = $1 AND attempt = $2`)
	q.dropInput = fill("UPDATE {s}.attempts SET input = NULL WHERE run_id = $1 AND attempt = $2 AND input IS NOT NULL")
	q.insertAttempt = fill(`INSERT INTO {s}.attempts (run_id, attempt, reason, input, status, step, error, class, started_at, finished_at,
		version, version_label) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`)
	q.getAttempts = fill("SELECT " + attemptCols + " FROM {s}.attempts WHERE run_id = $1 ORDER BY attempt")
	q.getSteps = fill("SELECT " + stepCols + " FROM {s}.steps WHERE run_id = $1 ORDER BY seq")
	q.listRuns = fill("SELECT " + runCols("r") + " FROM {s}.runs r")
	q.joinOpen, q.joinSet, q.joinAdd, q.joinOf = fill(joinOpenSQL), fill(joinSetSQL), fill(joinAddSQL), fill(joinOfSQL)
	q.forkExisting, q.forkInsert, q.branches = fill(forkExistingSQL), fill(forkInsertSQL), fill(branchesSQL)
	q.releaseWaiting, q.peek, q.stepsOf, q.joinCancel = fill(releaseWaitingSQL), fill(peekSQL), fill(stepsOfSQL), fill(joinCancelSQL)
	q.settleQueue = fill(`UPDATE {s}.runs SET status = 'queued', not_before = NULL, updated_at = $2 WHERE id = $1`)
	q.cancelJoins, q.cancelKids = fill(cancelJoinsSQL), fill(cancelKidsSQL)
	q.lockJoins, q.lockJoinState, q.scrubSteps = fill(lockJoinsSQL), fill(lockJoinStateSQL), fill(scrubStepsSQL)
	q.runsForUpdate = fill(strings.ReplaceAll(runsForUpdateSQL, "{cols}", runCols("r")))
	q.restart = fill(restartSQL)
	q.markCancel, q.markKids, q.lockRunningKids = fill(markCancelSQL), fill(markKidsSQL), fill(lockRunningKidsSQL)
	return q
}

// The three kinds of claimable run, each read from its partial index.
var claimable = []string{
	`r.status = 'queued' AND r.not_before IS NULL`,
	`r.status = 'queued' AND r.not_before IS NOT NULL AND r.not_before <= $1::timestamptz`,
	`r.status = 'running' AND r.lease_expires < $1::timestamptz AND r.cancel_at IS NULL`,
}

// markedExpired are the running runs marked cancelled whose leases expired
// (their workers died), read from the partial index runs_marked.
const markedExpired = `r.status = 'running' AND r.cancel_at IS NOT NULL AND r.lease_expires < $1::timestamptz`

// claimSQL leases up to $3 runs, oldest first, to worker $4 until $6, each
// under the token $5 || its id: queued runs that are ready
// (not_before unset, or passed by $1) and running runs whose lease expired
// before $1, of the pipelines $2 (all when empty). Every candidate is
// locked with SKIP LOCKED, so concurrent claims take different runs
// without waiting. Paused pipelines are skipped, except one probe per
// pause whose probe_after has passed: the pause row is locked (SKIP
// LOCKED too) and, if its oldest run is among those claimed, marked with
// it in the same statement, so exactly one claim ever takes the probe.
//
// With filtered set, each named pipeline's runs of each kind are read in
// order by a LATERAL on its partial index, so that no pipeline's backlog
// (a paused one's, another worker pool's) is ever scanned; without, the
// claimable runs of all pipelines are ordered, which is slower on a large
// queue (workers always name their pipelines).
//
// The claimed runs are updated by their ids (= ANY), not joined to pick,
// so that the plan stays an index lookup whatever the planner guesses of
// pick's size: Claim runs the filtered statement with a generic plan.
//
// Every expired run marked cancelled (its worker died) of the pipelines,
// paused or not, is taken too (marked), on top of the limit, for Claim to
// end it cancelled and not return it, so that the claim goes on to the
// runs after it; it is never a probe. Its index holds only marked running
// runs: a claim that finds none pays one probe of an empty index.
func claimSQL(filtered bool) string {
	lateral := func(from, where, limit string) string {
		return `SELECT c.id, c.created_at, c.pipeline FROM ` + from + `, LATERAL (
			SELECT r.id, r.created_at, r.pipeline FROM {s}.runs r WHERE r.pipeline = ` + from + `.name AND ` + where + `
			ORDER BY r.created_at, r.id LIMIT ` + limit + ` FOR NO KEY UPDATE SKIP LOCKED) c`
	}
	all := func(where string) string {
		return `SELECT * FROM (SELECT r.id, r.created_at, r.pipeline FROM {s}.runs r WHERE ` + where + `
			AND NOT EXISTS (SELECT FROM {s}.pauses z WHERE z.pipeline = r.pipeline)
			ORDER BY r.created_at, r.id LIMIT $3 FOR NO KEY UPDATE SKIP LOCKED) c`
	}
	var normal, probe []string
	for _, k := range claimable {
		if filtered {
			normal = append(normal, lateral("pipes", k, "$3"))
		} else {
			normal = append(normal, all(k))
		}
		probe = append(probe, lateral("probes", k, "1"))
	}
	marked := `SELECT r.id FROM {s}.runs r WHERE ` + markedExpired + ` FOR NO KEY UPDATE SKIP LOCKED`
	if filtered {
		marked = `SELECT c.id FROM (SELECT DISTINCT p.name FROM unnest($2::text[]) AS p(name)) m, LATERAL (
			SELECT r.id FROM {s}.runs r WHERE r.pipeline = m.name AND ` + markedExpired + ` FOR NO KEY UPDATE SKIP LOCKED) c`
	}
	return `WITH probes AS (
		SELECT z.pipeline AS name FROM {s}.pauses z
		WHERE z.probe_after <= $1::timestamptz AND z.probe_run = ''
			AND (cardinality($2::text[]) = 0 OR z.pipeline = ANY($2::text[]))
		FOR UPDATE SKIP LOCKED
	),
	pipes AS (
		SELECT DISTINCT p.name FROM unnest($2::text[]) AS p(name)
		WHERE NOT EXISTS (SELECT FROM {s}.pauses z WHERE z.pipeline = p.name)
	),
	normal AS (` + strings.Join(normal, "\n\t\tUNION ALL ") + `),
	probe AS (
		SELECT DISTINCT ON (x.pipeline) x.* FROM (` + strings.Join(probe, "\n\t\tUNION ALL ") + `) x
		ORDER BY x.pipeline, x.created_at, x.id
	),
	pick AS (
		SELECT cand.id, cand.pipeline, cand.probe
		FROM (SELECT *, false AS probe FROM normal UNION ALL SELECT *, true FROM probe) cand
		ORDER BY cand.created_at, cand.id LIMIT $3
	),
	marked AS (` + marked + `),
	probed AS (
		UPDATE {s}.pauses z SET probe_run = pick.id FROM pick WHERE pick.probe AND z.pipeline = pick.pipeline
	)
	UPDATE {s}.runs r SET status = 'running', lease_owner = $4, lease_token = $5::text || r.id,
		lease_expires = $6, updated_at = $1::timestamptz
	WHERE r.id = ANY (ARRAY(SELECT pick.id FROM pick UNION ALL SELECT marked.id FROM marked))
	RETURNING ` + runCols("r") + `, r.records`
}

// claimStepsSQL reads the last record of each step index of the given
// runs' attempts ($1 ids, $2 attempts). Claim runs it, after the claim
// committed, only for runs whose records count (read from the row the
// claim locked, so it includes every checkpoint committed before the
// claim) says they have any.
var claimStepsSQL = `SELECT DISTINCT ON (s.run_id, s.idx) ` + stepColsOf("s") + `
	FROM unnest($1::text[], $2::integer[]) AS c(id, attempt)
	JOIN {s}.steps s ON s.run_id = c.id AND s.run_attempt = c.attempt
	ORDER BY s.run_id, s.idx, s.seq DESC`

// heartbeatSQL extends the leases ($1 ids, $2 tokens) still held to $3 and
// returns their ids, each with whether its run is marked cancelled. Rows
// are locked in id order, as releaseSQL does, so that the two never
// deadlock.
const heartbeatSQL = `WITH held AS (
	SELECT r.id FROM {s}.runs r JOIN unnest($1::text[], $2::text[]) AS l(id, token) ON r.id = l.id AND r.lease_token = l.token
	WHERE r.status = 'running' ORDER BY r.id FOR NO KEY UPDATE OF r
)
UPDATE {s}.runs r SET lease_expires = $3 FROM held WHERE r.id = held.id RETURNING r.id, r.cancel_at IS NOT NULL`

// insertStepSQL appends a step record ($1 to $19, as stepArgs).
const insertStepSQL = `INSERT INTO {s}.steps (run_id, pipeline, run_attempt, idx, step, status, by_name, input, output,
	output_hash, output_size, attempts, error, class, note, started_at, finished_at, trace_id, span_id)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`

// releaseSQL puts the runs held under the leases ($1 ids, $2 tokens) back
// in the queue at $3, notifying ($4 channel) when $5. It returns the
// pipelines of the runs released, and the ids of the held runs marked
// cancelled, which it leaves to end cancelled (Release).
const releaseSQL = `WITH held AS (
	SELECT r.id, r.cancel_at IS NOT NULL AS marked FROM {s}.runs r
		JOIN unnest($1::text[], $2::text[]) AS l(id, token) ON r.id = l.id AND r.lease_token = l.token
	WHERE r.status = 'running' ORDER BY r.id FOR NO KEY UPDATE OF r
), u AS (
	UPDATE {s}.runs r SET status = 'queued', lease_owner = '', lease_token = '', lease_expires = NULL, updated_at = $3
	FROM held WHERE r.id = held.id AND NOT held.marked RETURNING r.pipeline
), n AS (
	SELECT pg_notify($4::text, d.pipeline) FROM (SELECT DISTINCT pipeline FROM u) d WHERE $5::bool
)
SELECT coalesce(array_agg(DISTINCT u.pipeline), '{}'), (SELECT count(*) FROM n),
	ARRAY(SELECT held.id FROM held WHERE held.marked) FROM u`

// saveRunSQL writes back everything a write in Go may change in a run: its
// input ($4) in its current attempt's row, only when it changed (a scrub
// drops it; a replay's new attempt has no row yet, and inserts its own).
const saveRunSQL = `WITH a AS (
	UPDATE {s}.attempts SET input = $4::bytea WHERE run_id = $1 AND attempt = $3 AND input IS DISTINCT FROM $4::bytea
)
UPDATE {s}.runs SET status = $2, attempt = $3, input_hash = $5, input_size = $6,
	output = $7, step = $8, error = $9, class = $10, not_before = $11, deferrals = $12, lease_owner = $13,
	lease_token = $14, lease_expires = $15, updated_at = $16, finished_at = $17, review = $18, records = $19,
	trace_id = $20, span_id = $21, spent_tokens = $22, spent_cost = $23, cancel_at = $24, cancel_by = $25,
	cancel_reason = $26 WHERE id = $1`
