package pgstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// ts stores the zero time as NULL. PostgreSQL keeps microseconds.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// micros returns t at the precision PostgreSQL keeps, so that a value a
// call returns equals the one a later read finds.
func micros(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond)
}

func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// blob stores nil as NULL and anything else, even empty, as bytea.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return []byte(b)
}

func raw(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func jsonBlob(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pgstore: encode %T: %w", v, err)
	}
	return b, nil
}

func reviewBlob(rv *store.Review) (any, error) {
	if rv == nil {
		return nil, nil
	}
	return jsonBlob(rv)
}

func attemptsBlob(rec *store.StepRecord) (any, error) {
	b, err := attemptsJSON(rec)
	if b == nil {
		return nil, err
	}
	return b, err
}

// attemptsJSON is a record's attempts in the shared format
// (storekit.EncodeAttempts), nil when it has none.
func attemptsJSON(rec *store.StepRecord) ([]byte, error) {
	return storekit.EncodeAttempts(rec.Attempts)
}

// runColumns are the columns a Run is read from, in scanRun's order; input
// is its current attempt's (runCols).
var runColumns = []string{"id", "pipeline", "status", "attempt", "idem_key", "trigger_source", "trigger_ext_id",
	"trigger_at", "input", "input_hash", "input_size", "output", "step", "error", "class", "not_before",
	"deferrals", "lease_owner", "lease_token", "lease_expires", "keep_payloads", "trace_id", "created_at",
	"updated_at", "finished_at", "review", "span_id", "input_replaced", "parent_id", "parent_step", "parent_index",
	"branch", "branch_name", "parent_trace_id", "parent_span_id", "spent_tokens", "spent_cost", "budget_tokens",
	"budget_cost", "cancel_at", "cancel_by", "cancel_reason"}

// parentArgs are a run's parent columns (parent_id to parent_span_id),
// parent_id NULL for a top-level run.
func parentArgs(p *store.Parent) []any {
	if p == nil {
		return []any{nil, "", 0, 0, "", "", ""}
	}
	return []any{p.RunID, p.Step, p.Index, p.Branch, p.Name, p.TraceID, p.SpanID}
}

// cancelArgs are a run's cancel columns (cancel_at to cancel_reason),
// cancel_at NULL for a run nobody cancelled.
func cancelArgs(c *store.Cancellation) []any {
	if c == nil {
		return []any{nil, "", ""}
	}
	return []any{micros(c.At), c.By, c.Reason}
}

// runCols lists runColumns qualified by alias, the input read from the
// run's current attempt (the runs row keeps none, to stay narrow: it is
// rewritten by every claim, checkpoint and finish), then the run's
// version, its current attempt's too, as a two-element array; both by a
// primary-key lookup, NULL for a run without an attempt row.
func runCols(alias string) string {
	cols := make([]string, len(runColumns), len(runColumns)+1)
	for i, c := range runColumns {
		cols[i] = alias + "." + c
		if c == "input" {
			cols[i] = "(SELECT a.input FROM {s}.attempts a WHERE a.run_id = " + alias + ".id AND a.attempt = " + alias + ".attempt)"
		}
	}
	cols = append(cols, "(SELECT ARRAY[a.version, a.version_label] FROM {s}.attempts a WHERE a.run_id = "+
		alias+".id AND a.attempt = "+alias+".attempt)")
	return strings.Join(cols, ", ")
}

// scanRun reads a Run, and into extra any columns selected after
// runCols.
func scanRun(row pgx.Row, extra ...any) (store.Run, error) {
	var r store.Run
	var status string
	var idem *string
	var class int16
	var trigAt, notBefore, leaseExp, created, updated, finished, cancelAt pgtype.Timestamptz
	var cancel store.Cancellation
	var input, output, review []byte
	var parentID *string
	var p store.Parent
	var version []string
	dest := []any{&r.ID, &r.Pipeline, &status, &r.Attempt, &idem, &r.Trigger.Source, &r.Trigger.ExternalID,
		&trigAt, &input, &r.InputHash, &r.InputSize, &output, &r.Step, &r.Error, &class, &notBefore,
		&r.Deferrals, &r.LeaseOwner, &r.LeaseToken, &leaseExp, &r.KeepPayloads, &r.TraceID, &created,
		&updated, &finished, &review, &r.SpanID, &r.InputReplaced, &parentID, &p.Step, &p.Index,
		&p.Branch, &p.Name, &p.TraceID, &p.SpanID, &r.Spent.Tokens, &r.Spent.Cost, &r.Budget.Tokens, &r.Budget.Cost,
		&cancelAt, &cancel.By, &cancel.Reason, &version}
	err := row.Scan(append(dest, extra...)...)
	if err != nil {
		return r, err
	}
	if idem != nil {
		r.IdempotencyKey = *idem
	}
	if len(version) == 2 {
		r.Version = store.Version{Fingerprint: version[0], Label: version[1]}
	}
	r.Status, r.Class = store.Status(status), retry.Class(class)
	r.Trigger.ReceivedAt, r.NotBefore, r.LeaseExpires = fromTS(trigAt), fromTS(notBefore), fromTS(leaseExp)
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = fromTS(created), fromTS(updated), fromTS(finished)
	// The output is packed against the current attempt's input, read from
	// the attempt's row (storekit.PackPayload).
	if r.Input, err = storekit.UnpackPayload(input, nil); err != nil {
		return r, fmt.Errorf("pgstore: run %s: input: %w", r.ID, err)
	}
	if r.Output, err = storekit.UnpackPayload(output, r.Input); err != nil {
		return r, fmt.Errorf("pgstore: run %s: output: %w", r.ID, err)
	}
	if cancelAt.Valid {
		cancel.At = fromTS(cancelAt)
		r.Cancel = &cancel
	}
	if parentID != nil {
		p.RunID = *parentID
		r.Parent = &p
	}
	if review != nil {
		r.Review = new(store.Review)
		if err := json.Unmarshal(review, r.Review); err != nil {
			return r, fmt.Errorf("pgstore: run %s: decode its review: %w", r.ID, err)
		}
	}
	return r, nil
}

// stepCols are the columns a StepRecord is read from, in scanStep's order:
// stepColsOf("steps"), as a constant.
const stepCols = "steps.run_id, steps.run_attempt, steps.idx, steps.step, steps.status, steps.by_name, steps.input, steps.output, " +
	"steps.output_hash, steps.output_size, steps.attempts, steps.error, steps.class, steps.note, steps.started_at, " +
	"steps.finished_at, steps.trace_id, steps.span_id, steps.seq, CASE WHEN substr(steps.output, 1, 1) = '\\x02'::bytea OR " +
	"substr(steps.input, 1, 1) = '\\x02'::bytea THEN (SELECT d.input FROM {s}.attempts d WHERE d.run_id = steps.run_id " +
	"AND d.attempt = steps.run_attempt) END"

// stepColsOf are stepCols of the steps table named (or aliased) t, and
// last the dictionary its payloads are packed against
// (storekit.PayloadPackedDict): its attempt's input, in the attempt's
// row; looked up only for a record so packed.
func stepColsOf(t string) string {
	cols := strings.Split("run_id, run_attempt, idx, step, status, by_name, input, output, output_hash, output_size, attempts, error, class, note, started_at, finished_at, trace_id, span_id, seq", ", ")
	for i := range cols {
		cols[i] = t + "." + cols[i]
	}
	return strings.Join(cols, ", ") + ", CASE WHEN substr(" + t + ".output, 1, 1) = '\\x02'::bytea OR substr(" + t + ".input, 1, 1) = '\\x02'::bytea" +
		" THEN (SELECT d.input FROM {s}.attempts d WHERE d.run_id = " + t + ".run_id AND d.attempt = " + t + ".run_attempt) END"
}

// unpack reads a payload column: b in any form (storekit.PackPayload),
// dict the attempt input it may be packed against, as stored.
func unpack(b, dict []byte) (json.RawMessage, error) {
	if !storekit.PayloadNeedsDict(b) {
		return storekit.UnpackPayload(b, nil)
	}
	d, err := storekit.UnpackPayload(dict, nil)
	if err != nil {
		return nil, err
	}
	return storekit.UnpackPayload(b, d)
}

func scanStep(row pgx.Row) (store.StepRecord, int64, error) {
	var rec store.StepRecord
	var status string
	var input, output, attempts, dict []byte
	var class int16
	var seq int64
	var started, finished pgtype.Timestamptz
	err := row.Scan(&rec.RunID, &rec.RunAttempt, &rec.Index, &rec.Step, &status, &rec.By, &input, &output,
		&rec.OutputHash, &rec.OutputSize, &attempts, &rec.Error, &class, &rec.Note, &started, &finished,
		&rec.TraceID, &rec.SpanID, &seq, &dict)
	if err != nil {
		return rec, 0, err
	}
	rec.Status, rec.Class = store.StepStatus(status), retry.Class(class)
	if rec.Input, err = unpack(input, dict); err != nil {
		return rec, 0, fmt.Errorf("pgstore: run %s step %s: input: %w", rec.RunID, rec.Step, err)
	}
	if rec.Output, err = unpack(output, dict); err != nil {
		return rec, 0, fmt.Errorf("pgstore: run %s step %s: output: %w", rec.RunID, rec.Step, err)
	}
	rec.StartedAt, rec.FinishedAt = fromTS(started), fromTS(finished)
	if rec.Attempts, err = storekit.DecodeAttempts(attempts); err != nil {
		return rec, 0, fmt.Errorf("pgstore: run %s step %s: %w", rec.RunID, rec.Step, err)
	}
	return rec, seq, nil
}

// scanSteps reads step records, with their seq, until rows end.
func scanSteps(rows pgx.Rows) (recs []store.StepRecord, seqs []int64, err error) {
	defer rows.Close()
	for rows.Next() {
		rec, seq, err := scanStep(rows)
		if err != nil {
			return nil, nil, err
		}
		recs, seqs = append(recs, rec), append(seqs, seq)
	}
	return recs, seqs, rows.Err()
}

// runInput is the blob of a run's input: a top-level run's packed on its
// own (storekit.PackPayload), in its attempt's row; a branch run's as it
// is, since the fork's SQL hashes it (inputHashSQL).
func runInput(r *store.Run) []byte {
	if r.Parent != nil {
		return r.Input
	}
	return storekit.PackPayload(r.Input, nil)
}

// stepArgs are the values of insertStep's parameters $1 to $19 for rec,
// its payloads packed against dict, its attempt's input (nil: on their
// own).
func stepArgs(pipeline string, rec *store.StepRecord, dict []byte) ([]any, error) {
	att, err := attemptsBlob(rec)
	if err != nil {
		return nil, err
	}
	return []any{rec.RunID, pipeline, rec.RunAttempt, rec.Index, rec.Step, string(rec.Status), rec.By,
		blob(storekit.PackPayload(rec.Input, dict)), blob(storekit.PackPayload(rec.Output, dict)), rec.OutputHash, rec.OutputSize, att, rec.Error, int16(rec.Class),
		rec.Note, ts(rec.StartedAt), ts(rec.FinishedAt), rec.TraceID, rec.SpanID}, nil
}

const attemptCols = "attempt, reason, input, status, step, error, class, started_at, finished_at, version, version_label"

func scanAttempt(row pgx.Row) (store.RunAttempt, error) {
	var a store.RunAttempt
	var status string
	var input []byte
	var class int16
	var started, finished pgtype.Timestamptz
	err := row.Scan(&a.Attempt, &a.Reason, &input, &status, &a.Step, &a.Error, &class, &started, &finished,
		&a.Version.Fingerprint, &a.Version.Label)
	if err != nil {
		return a, err
	}
	a.Status, a.Class = store.Status(status), retry.Class(class)
	a.StartedAt, a.FinishedAt = fromTS(started), fromTS(finished)
	a.Input, err = storekit.UnpackPayload(input, nil)
	return a, err
}

const pauseCols = "pipeline, reason, by_name, since, probe_after, probe_run"

func scanPause(row pgx.Row) (store.Pause, error) {
	var p store.Pause
	var since, probe pgtype.Timestamptz
	err := row.Scan(&p.Pipeline, &p.Reason, &p.By, &since, &probe, &p.ProbeRun)
	p.Since, p.ProbeAfter = fromTS(since), fromTS(probe)
	return p, err
}

// collect reads every row with fn; no rows is a nil slice, as memstore
// returns.
func collect[T any](rows pgx.Rows, fn pgx.RowToFunc[T]) ([]T, error) {
	return pgx.AppendRows([]T(nil), rows, fn)
}
