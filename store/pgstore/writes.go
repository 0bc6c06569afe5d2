package pgstore

import (
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// The hot writes take their values as arrays, one element per op, so that
// a batch of them is one statement: the server plans, starts and runs it
// once for all the batch's rows. Each row does what the write alone would
// (the lease check included), and each statement returns the ids of the
// runs it changed.

// column is one array parameter of a write: its name in the c CTE and its
// SQL type.
type column struct{ name, typ string }

// valuesCTE makes the CTE c of one row per op from the array parameters
// $1..$n. The run id sorts and compares byte by byte, as the column does.
func valuesCTE(cols []column) string {
	var params, names, sel []string
	for i, c := range cols {
		params = append(params, "$"+strconv.Itoa(i+1)+"::"+c.typ+"[]")
		names = append(names, c.name)
		if c.name == "id" {
			sel = append(sel, `u.id COLLATE "C" AS id`)
		} else {
			sel = append(sel, "u."+c.name)
		}
	}
	return "c AS (SELECT " + strings.Join(sel, ", ") + " FROM unnest(" + strings.Join(params, ", ") +
		") AS u(" + strings.Join(names, ", ") + "))"
}

var enqueueCols = []column{{"id", "text"}, {"pipeline", "text"}, {"status", "text"}, {"idem_key", "text"},
	{"trigger_source", "text"}, {"trigger_ext_id", "text"}, {"trigger_at", "timestamptz"}, {"input", "bytea"},
	{"input_hash", "text"}, {"input_size", "integer"}, {"not_before", "timestamptz"}, {"lease_owner", "text"},
	{"lease_token", "text"}, {"lease_expires", "timestamptz"}, {"keep_payloads", "boolean"}, {"trace_id", "text"},
	{"span_id", "text"}, {"input_replaced", "integer"}, {"now", "timestamptz"}, {"notify", "boolean"},
	{"parent_id", "text"}, {"parent_step", "text"}, {"parent_index", "integer"}, {"branch", "integer"},
	{"branch_name", "text"}, {"parent_trace_id", "text"}, {"parent_span_id", "text"}, {"budget_tokens", "bigint"},
	{"budget_cost", "double precision"}, {"version", "text"}, {"version_label", "text"}}

// enqueueSQL inserts runs and their first attempts (which hold the runs'
// inputs and versions, written once: the runs row, rewritten by every
// claim, checkpoint and finish, stays narrow), skipping those whose
// id or idempotency key is taken, and notifies the channel (the parameter
// after the arrays) for the rows that ask. It returns the runs inserted.
func enqueueSQL() string {
	ch := "$" + strconv.Itoa(len(enqueueCols)+1)
	return `WITH ` + valuesCTE(enqueueCols) + `, r AS (
	INSERT INTO {s}.runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id, trigger_at,
		input_hash, input_size, not_before, lease_owner, lease_token, lease_expires, keep_payloads,
		trace_id, span_id, input_replaced, created_at, updated_at, parent_id, parent_step, parent_index, branch,
		branch_name, parent_trace_id, parent_span_id, budget_tokens, budget_cost)
	SELECT c.id, c.pipeline, c.status, 1, c.idem_key, c.trigger_source, c.trigger_ext_id, c.trigger_at,
		c.input_hash, c.input_size, c.not_before, c.lease_owner, c.lease_token, c.lease_expires, c.keep_payloads,
		c.trace_id, c.span_id, c.input_replaced, c.now, c.now, c.parent_id, c.parent_step, c.parent_index, c.branch,
		c.branch_name, c.parent_trace_id, c.parent_span_id, c.budget_tokens, c.budget_cost FROM c
	ON CONFLICT DO NOTHING
	RETURNING id, pipeline, status, created_at
), a AS (
	INSERT INTO {s}.attempts (run_id, attempt, reason, input, status, started_at, version, version_label)
	SELECT r.id, 1, 'submitted', c.input, r.status, r.created_at, c.version, c.version_label FROM r JOIN c ON c.id = r.id
), n AS (
	SELECT pg_notify(` + ch + `::text, r.pipeline) FROM r JOIN c ON c.id = r.id WHERE c.notify
)
SELECT r.id, r.pipeline FROM r WHERE (SELECT count(*) FROM n) >= 0`
}

// handoffSQL is enqueueSQL for one run handed to an idle worker
// (store.Handoff): the run is inserted running under the lease its row
// carries when it is due by $34, its pipeline is not paused, and no run a
// claim of the worker's pipelines ($33) would take waits (each kind of
// claimable run read from its partial index, as claimSQL does; a paused
// pipeline counts only when its probe is due); otherwise it is inserted
// queued, without the lease, and notifies as an enqueue does. It returns
// the run inserted, with its status.
func handoffSQL() string {
	full := enqueueSQL()
	head := "WITH " + valuesCTE(enqueueCols)
	rest := strings.TrimPrefix(full, head)
	rest = strings.Replace(rest, "SELECT r.id, r.pipeline FROM r WHERE", "SELECT r.id, r.status FROM r WHERE", 1)
	var waiting []string
	for _, k := range claimable {
		waiting = append(waiting, `EXISTS (SELECT FROM pipes, LATERAL (SELECT 1 FROM {s}.runs r WHERE r.pipeline = pipes.name AND `+
			strings.ReplaceAll(k, "$1", "$34")+` LIMIT 1) x)`)
	}
	var sel []string
	for _, c := range enqueueCols {
		switch c.name {
		case "status":
			sel = append(sel, "CASE WHEN h.ok THEN c0.status ELSE 'queued' END AS status")
		case "lease_owner", "lease_token":
			sel = append(sel, "CASE WHEN h.ok THEN c0."+c.name+" ELSE '' END AS "+c.name)
		case "lease_expires":
			sel = append(sel, "CASE WHEN h.ok THEN c0.lease_expires END AS lease_expires")
		case "notify":
			sel = append(sel, "c0.notify AND NOT h.ok AS notify")
		default:
			sel = append(sel, "c0."+c.name)
		}
	}
	return "WITH c0" + strings.TrimPrefix(valuesCTE(enqueueCols), "c") + `,
pipes AS (
	SELECT DISTINCT p.name FROM unnest($33::text[]) AS p(name)
	WHERE NOT EXISTS (SELECT FROM {s}.pauses z WHERE z.pipeline = p.name
		AND NOT coalesce(z.probe_after <= $34::timestamptz AND z.probe_run = '', false))
), h AS (
	SELECT (c0.not_before IS NULL OR c0.not_before <= $34::timestamptz)
		AND NOT EXISTS (SELECT FROM {s}.pauses z WHERE z.pipeline = c0.pipeline)
		AND NOT ` + strings.Join(waiting, "\n\t\tAND NOT ") + ` AS ok
	FROM c0
), c AS (
	SELECT ` + strings.Join(sel, ", ") + ` FROM c0 CROSS JOIN h
)` + rest
}

// stepRecordCols are a step record's columns, after the run's id, lease token
// and update time.
var stepRecordCols = []column{{"idx", "integer"}, {"step", "text"}, {"status", "text"}, {"by_name", "text"},
	{"input", "bytea"}, {"output", "bytea"}, {"output_hash", "text"}, {"output_size", "integer"},
	{"attempts", "bytea"}, {"error", "text"}, {"class", "smallint"}, {"note", "text"},
	{"started_at", "timestamptz"}, {"finished_at", "timestamptz"}, {"trace_id", "text"}, {"span_id", "text"}}

var leaseCols = []column{{"id", "text"}, {"token", "text"}, {"now", "timestamptz"}}

// heldCols are the columns of heldSQL: the lease, the step record, and
// for a finish the run's new state.
var heldCols = append(append(append([]column{}, leaseCols...), stepRecordCols...), []column{{"finish", "boolean"},
	{"new_status", "text"}, {"run_step", "text"}, {"run_error", "text"}, {"run_class", "smallint"},
	{"not_before", "timestamptz"}, {"review", "bytea"}, {"run_output", "bytea"}, {"final", "boolean"},
	{"has_record", "boolean"}, {"notify", "boolean"}, {"spent_tokens", "bigint"}, {"spent_cost", "double precision"},
	{"joins", "boolean"}, {"cancels", "boolean"}, {"unclassified", "boolean"}}...)

// heldSQL writes to runs held under their leases, checkpoints and finishes
// alike, in one statement; each row does what Checkpoint or Finish alone
// would. The UPDATE checks the lease on the run's row (and locks it), and
// nothing else is written for a run where it did not. A checkpoint stamps
// the run's update time and appends its step record. A finish ends or
// defers the attempt: the run's new state, the last step record (when
// has_record; the attempt's outcome is the run's until the next attempt
// starts, so its row is not written), and a notification (the parameter
// after the arrays) where asked; a final outcome of a run that keeps no
// payloads is left to the scrubbing path, so its row does not change; so
// is a finish that changes a fork's join (a branch run ending or parking,
// to await review or held: joins) and a cancellation of a run that forked
// (cancels), whose children the cancel hook cancels: the join's rules are
// in Go (branch.go), in a transaction of their own. A top-level run pays
// for that one NULL test. So does a run nobody cancelled for another: a
// run marked cancelled is left alone, for the Go path to end it cancelled
// (finishTx). Every finish that ends the run or parks it (opens its
// review, holds it) notifies the end channel (the parameter after the channel) with its
// id. It returns the runs changed, with their pipelines.
func heldSQL() string {
	ch := "$" + strconv.Itoa(len(heldCols)+1)
	ends := "$" + strconv.Itoa(len(heldCols)+2)
	fin := func(set, keep string) string { return "CASE WHEN c.finish THEN " + set + " ELSE " + keep + " END" }
	return `WITH ` + valuesCTE(heldCols) + `, r AS (
	UPDATE {s}.runs SET status = ` + fin("c.new_status", "runs.status") + `,
		lease_owner = ` + fin("''", "runs.lease_owner") + `, lease_token = ` + fin("''", "runs.lease_token") + `,
		lease_expires = ` + fin("NULL", "runs.lease_expires") + `, updated_at = c.now,
		step = ` + fin("c.run_step", "runs.step") + `, error = ` + fin("c.run_error", "runs.error") + `,
		class = ` + fin("c.run_class", "runs.class") + `,
		unclassified = CASE WHEN c.finish AND c.new_status = 'dead_lettered' THEN c.unclassified ELSE runs.unclassified END,
		not_before = CASE WHEN c.finish AND c.new_status = 'queued' THEN c.not_before ELSE runs.not_before END,
		deferrals = runs.deferrals + CASE WHEN c.finish AND c.new_status = 'queued' THEN 1 ELSE 0 END,
		review = CASE WHEN c.finish AND c.new_status = 'awaiting_review' AND c.review IS NOT NULL THEN c.review ELSE runs.review END,
		output = CASE WHEN c.final THEN c.run_output ELSE runs.output END,
		finished_at = CASE WHEN c.final OR (c.finish AND c.new_status IN ('awaiting_review', 'held')) THEN c.now ELSE runs.finished_at END,
		records = runs.records + CASE WHEN c.has_record THEN 1 ELSE 0 END,
		trace_id = CASE WHEN runs.trace_id = '' AND c.trace_id <> '' THEN c.trace_id ELSE runs.trace_id END,
		span_id = CASE WHEN runs.trace_id = '' AND c.trace_id <> '' THEN c.span_id ELSE runs.span_id END,
		spent_tokens = ` + fin("c.spent_tokens", "runs.spent_tokens") + `, spent_cost = ` + fin("c.spent_cost", "runs.spent_cost") + `
	FROM c WHERE runs.id = c.id AND runs.status = 'running' AND runs.lease_token = c.token
		AND (runs.keep_payloads OR NOT c.final) AND (runs.parent_id IS NULL OR NOT c.joins)
		AND (NOT c.cancels OR NOT EXISTS (SELECT FROM {s}.joins j WHERE j.parent_id = runs.id))
		AND runs.cancel_at IS NULL
	RETURNING runs.id, runs.pipeline, runs.attempt
), s AS (
	INSERT INTO {s}.steps (run_id, pipeline, run_attempt, idx, step, status, by_name, input, output,
		output_hash, output_size, attempts, error, class, note, started_at, finished_at, trace_id, span_id)
	SELECT r.id, r.pipeline, r.attempt, c.idx, c.step, c.status, c.by_name, c.input, c.output, c.output_hash,
		c.output_size, c.attempts, c.error, c.class, c.note, c.started_at, c.finished_at, c.trace_id, c.span_id
	FROM r JOIN c ON c.id = r.id WHERE c.has_record
), n AS (
	SELECT pg_notify(` + ch + `::text, r.pipeline) FROM r JOIN c ON c.id = r.id WHERE c.notify
), e AS (
	SELECT pg_notify(` + ends + `::text, r.id) FROM r JOIN c ON c.id = r.id
	WHERE c.final OR c.finish AND c.new_status IN ('awaiting_review', 'held')
)
SELECT r.id, r.pipeline FROM r WHERE (SELECT count(*) FROM n) >= 0 AND (SELECT count(*) FROM e) >= 0`
}

// lockRunsSQL locks the given runs in id order, as heartbeatSQL and
// releaseSQL do, before a batch writes them.
const lockRunsSQL = `SELECT id FROM {s}.runs WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`

func tsz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func enqueueArgs(ops []*op, channel string) []any {
	n := len(ops)
	id, pipeline, status, source, extID, hash, owner, token, trace, span := mk[string](n), mk[string](n), mk[string](n),
		mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	replaced := mk[int32](n)
	idem := mk[pgtype.Text](n)
	trigAt, notBefore, expires, now := mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n)
	input := mk[[]byte](n)
	size := mk[int32](n)
	keep, notify := mk[bool](n), mk[bool](n)
	parent := mk[pgtype.Text](n)
	pstep, pname, ptrace, pspan := mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	pindex, branch := mk[int32](n), mk[int32](n)
	budgetTokens, budgetCost := mk[int64](n), mk[float64](n)
	version, label := mk[string](n), mk[string](n)
	for i, o := range ops {
		r := o.run
		version[i], label[i] = r.Version.Fingerprint, r.Version.Label
		if p := r.Parent; p != nil {
			parent[i] = pgtype.Text{String: p.RunID, Valid: true}
			pstep[i], pindex[i], branch[i], pname[i], ptrace[i], pspan[i] = p.Step, int32(p.Index), int32(p.Branch), p.Name, p.TraceID, p.SpanID
		}
		budgetTokens[i], budgetCost[i] = int64(r.Budget.Tokens), r.Budget.Cost
		id[i], pipeline[i], status[i] = r.ID, r.Pipeline, string(r.Status)
		idem[i] = pgtype.Text{String: r.IdempotencyKey, Valid: r.IdempotencyKey != ""}
		source[i], extID[i], trigAt[i] = r.Trigger.Source, r.Trigger.ExternalID, tsz(r.Trigger.ReceivedAt)
		input[i], hash[i], size[i] = runInput(r), r.InputHash, int32(r.InputSize)
		notBefore[i], owner[i], token[i], expires[i] = tsz(r.NotBefore), r.LeaseOwner, r.LeaseToken, tsz(r.LeaseExpires)
		keep[i], trace[i], now[i], notify[i] = r.KeepPayloads, r.TraceID, tsz(r.CreatedAt), o.notify
		span[i], replaced[i] = r.SpanID, int32(r.InputReplaced)
	}
	return []any{id, pipeline, status, idem, source, extID, trigAt, input, hash, size, notBefore, owner, token,
		expires, keep, trace, span, replaced, now, notify, parent, pstep, pindex, branch, pname, ptrace, pspan,
		budgetTokens, budgetCost, version, label, channel}
}

// heldArgs are heldSQL's arguments for checkpoint and finish ops.
func heldArgs(ops []*op, channel, ends string) []any {
	n := len(ops)
	id, token, step, status, by, hash, errs, note := mk[string](n), mk[string](n), mk[string](n), mk[string](n),
		mk[string](n), mk[string](n), mk[string](n), mk[string](n)
	traceID, spanID := mk[string](n), mk[string](n)
	now, started, finished := mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n), mk[pgtype.Timestamptz](n)
	idx, size := mk[int32](n), mk[int32](n)
	input, output, attempts := mk[[]byte](n), mk[[]byte](n), mk[[]byte](n)
	class := mk[int16](n)
	newStatus, runStep, runErr := mk[string](n), mk[string](n), mk[string](n)
	runClass := mk[int16](n)
	notBefore := mk[pgtype.Timestamptz](n)
	review, runOutput := mk[[]byte](n), mk[[]byte](n)
	finish, final, hasRec, notify := mk[bool](n), mk[bool](n), mk[bool](n), mk[bool](n)
	spentTokens, spentCost := mk[int64](n), mk[float64](n)
	joins, cancels, unclassified := mk[bool](n), mk[bool](n), mk[bool](n)
	for i, o := range ops {
		id[i], token[i], now[i] = o.lease.RunID, o.lease.Token, tsz(o.now)
		if rec := o.rec; rec != nil {
			idx[i], step[i], status[i], by[i] = int32(rec.Index), rec.Step, string(rec.Status), rec.By
			input[i], output[i] = storekit.PackPayload(rec.Input, o.dict), storekit.PackPayload(rec.Output, o.dict)
			hash[i], size[i] = rec.OutputHash, int32(rec.OutputSize)
			attempts[i], errs[i], class[i], note[i] = o.att, rec.Error, int16(rec.Class), rec.Note
			started[i], finished[i], hasRec[i] = tsz(rec.StartedAt), tsz(rec.FinishedAt), true
			traceID[i], spanID[i] = rec.TraceID, rec.SpanID
		}
		if out := o.out; o.kind == opFinish {
			finish[i] = true
			newStatus[i], runStep[i], runErr[i], runClass[i] = string(out.Status), out.Step, out.Error, int16(out.Class)
			// Only a top-level run that keeps its payloads ends here
			// (heldSQL): its output is packed like its last record's.
			notBefore[i], review[i], runOutput[i] = tsz(out.NotBefore), o.review, storekit.PackPayload(out.Output, o.dict)
			final[i], notify[i] = out.Status.Final(), o.notify
			spentTokens[i], spentCost[i] = int64(out.Spent.Tokens), out.Spent.Cost
			joins[i] = out.Status.Final() || out.Status.Parked()
			cancels[i] = out.Status == store.Cancelled
			unclassified[i] = storekit.Unclassified(*out)
		}
	}
	return []any{id, token, now, idx, step, status, by, input, output, hash, size, attempts, errs, class, note,
		started, finished, traceID, spanID, finish, newStatus, runStep, runErr, runClass, notBefore, review, runOutput, final, hasRec,
		notify, spentTokens, spentCost, joins, cancels, unclassified, channel, ends}
}

func mk[T any](n int) []T { return make([]T, n) }
