package sqlitestore

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Times are stored as unix nanoseconds, 0 for the zero time, so that they
// round-trip exactly and compare as integers. Times outside the int64
// range of nanoseconds (before 1678 or after 2262) are clamped.
func nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// blob stores nil as NULL and anything else, even empty, as a BLOB.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return []byte(b)
}

// raw returns a payload read from a BLOB column: nil stays nil.
func raw(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func jsonBlob(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: encode %T: %w", v, err)
	}
	return b, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// runColumns are the runs columns a Run is read from, in scanRun's order;
// the run's input and version, from its current attempt, come last.
var runColumns = []string{"id", "pipeline", "status", "attempt", "coalesce(idem_key, '')",
	"trigger_source", "trigger_ext_id", "trigger_at", "input_hash", "input_size", "input_replaced", "output",
	"step", "error", "class", "not_before", "deferrals", "lease_owner", "lease_token",
	"lease_expires", "keep_payloads", "trace_id", "span_id", "created_at", "updated_at", "finished_at", "review",
	"parent_id", "parent_step", "parent_index", "branch", "branch_name", "parent_trace_id", "parent_span_id",
	"spent_tokens", "spent_cost", "budget_tokens", "budget_cost", "cancel"}

func runColumnList(prefix string) string {
	cols := make([]string, len(runColumns), len(runColumns)+1)
	for i, c := range runColumns {
		if strings.HasPrefix(c, "coalesce(") {
			cols[i] = "coalesce(" + prefix + strings.TrimPrefix(c, "coalesce(")
		} else {
			cols[i] = prefix + c
		}
	}
	return strings.Join(append(cols, outputDict(cmp.Or(prefix, "runs."))), ", ")
}

// outputDict reads, with a run (table or alias t, with its dot), the
// dictionary its output is packed against (storekit.PayloadPackedDict):
// its current attempt's input, looked up only for an output so packed.
func outputDict(t string) string {
	return "CASE WHEN substr(" + t + "output, 1, 1) = x'02' THEN (SELECT d.input FROM attempts d WHERE d.run_id = " +
		t + "id AND d.attempt = " + t + "attempt) END"
}

// currentAttempt selects a run's current attempt row, by primary key.
const currentAttempt = " FROM attempts a WHERE a.run_id = runs.id AND a.attempt = runs.attempt)"

var (
	// selectRun reads runs with their input and version.
	selectRun = "SELECT " + runColumnList("r.") + ", a.input, coalesce(a.version, ''), coalesce(a.version_label, '')" +
		" FROM runs r LEFT JOIN attempts a ON a.run_id = r.id AND a.attempt = r.attempt"
	// selectRunLite reads runs without their input and version, for
	// writes that do not need them.
	selectRunLite = "SELECT " + runColumnList("r.") + ", NULL, '', '' FROM runs r"
	// returningRunInput ends an UPDATE of a run that returns it, input
	// and version included.
	returningRunInput = " RETURNING " + runColumnList("") +
		", (SELECT a.input" + currentAttempt +
		// One lookup for both version columns (joined by versionSep,
		// split by scanRun): the claim reads them on every run.
		", coalesce((SELECT a.version || char(31) || a.version_label" + currentAttempt + ", ''), ''"
)

// parentColumns are a run's parent columns as read: all NULL on a
// top-level run.
type parentColumns struct {
	id, step, name, traceID, spanID sql.NullString
	index, branch                   sql.NullInt64
}

func (p *parentColumns) parent() *store.Parent {
	if !p.id.Valid {
		return nil
	}
	return &store.Parent{RunID: p.id.String, Step: p.step.String, Index: int(p.index.Int64), Branch: int(p.branch.Int64),
		Name: p.name.String, TraceID: p.traceID.String, SpanID: p.spanID.String}
}

// parentArgs are the values of a run's parent columns: NULL for a
// top-level run, and NULL for what a parent leaves empty.
func parentArgs(p *store.Parent) []any {
	if p == nil {
		return []any{nil, nil, nil, nil, nil, nil, nil}
	}
	return []any{p.RunID, p.Step, p.Index, p.Branch, nullString(p.Name), nullString(p.TraceID), nullString(p.SpanID)}
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// versionSep joins a run's version columns where one subquery reads both
// (returningRunInput): a fingerprint is hexadecimal, so the first one ends
// it.
const versionSep = "\x1f"

func scanRun(sc rowScanner) (store.Run, error) {
	var r store.Run
	var status string
	var class, keep int64
	var trigAt, notBefore, leaseExp, created, updated, finished int64
	var output, review, cancel, input, outDict []byte
	var p parentColumns
	err := sc.Scan(&r.ID, &r.Pipeline, &status, &r.Attempt, &r.IdempotencyKey,
		&r.Trigger.Source, &r.Trigger.ExternalID, &trigAt, &r.InputHash, &r.InputSize, &r.InputReplaced, &output,
		&r.Step, &r.Error, &class, &notBefore, &r.Deferrals, &r.LeaseOwner, &r.LeaseToken,
		&leaseExp, &keep, &r.TraceID, &r.SpanID, &created, &updated, &finished, &review,
		&p.id, &p.step, &p.index, &p.branch, &p.name, &p.traceID, &p.spanID,
		&r.Spent.Tokens, &r.Spent.Cost, &r.Budget.Tokens, &r.Budget.Cost, &cancel, &outDict, &input,
		&r.Version.Fingerprint, &r.Version.Label)
	if err != nil {
		return r, err
	}
	if f, label, ok := strings.Cut(r.Version.Fingerprint, versionSep); ok {
		r.Version = store.Version{Fingerprint: f, Label: label}
	}
	r.Parent = p.parent()
	r.Status = store.Status(status)
	r.Class = retry.Class(class)
	r.KeepPayloads = keep != 0
	r.Trigger.ReceivedAt = fromNanos(trigAt)
	r.NotBefore = fromNanos(notBefore)
	r.LeaseExpires = fromNanos(leaseExp)
	r.CreatedAt, r.UpdatedAt, r.FinishedAt = fromNanos(created), fromNanos(updated), fromNanos(finished)
	if r.Input, err = storekit.UnpackPayload(input, nil); err != nil {
		return r, fmt.Errorf("sqlitestore: run %s: input: %w", r.ID, err)
	}
	if r.Output, err = unpack(output, outDict); err != nil {
		return r, fmt.Errorf("sqlitestore: run %s: output: %w", r.ID, err)
	}
	if review != nil {
		r.Review = new(store.Review)
		if err := json.Unmarshal(review, r.Review); err != nil {
			return r, fmt.Errorf("sqlitestore: run %s: decode review: %w", r.ID, err)
		}
	}
	if cancel != nil {
		r.Cancel = new(store.Cancellation)
		if err := json.Unmarshal(cancel, r.Cancel); err != nil {
			return r, fmt.Errorf("sqlitestore: run %s: decode cancellation: %w", r.ID, err)
		}
	}
	return r, nil
}

// stepColumns are the steps columns a StepRecord is read from, and last
// the dictionary its payloads are packed against (storekit.PayloadPackedDict):
// its attempt's input, looked up only for a record so packed.
const stepColumns = "run_id, run_attempt, idx, step, status, by_name, input, output, output_hash, output_size, attempts, error, class, note, started_at, finished_at, trace_id, span_id, seq, " +
	"CASE WHEN substr(output, 1, 1) = x'02' OR substr(input, 1, 1) = x'02' THEN (SELECT d.input FROM attempts d WHERE d.run_id = steps.run_id AND d.attempt = steps.run_attempt) END"

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

func scanStep(sc rowScanner) (store.StepRecord, int64, error) {
	var rec store.StepRecord
	var status string
	var input, output, attempts, dict []byte
	var class, started, finished, seq int64
	err := sc.Scan(&rec.RunID, &rec.RunAttempt, &rec.Index, &rec.Step, &status, &rec.By,
		&input, &output, &rec.OutputHash, &rec.OutputSize, &attempts, &rec.Error, &class, &rec.Note,
		&started, &finished, &rec.TraceID, &rec.SpanID, &seq, &dict)
	if err != nil {
		return rec, 0, err
	}
	rec.Status = store.StepStatus(status)
	rec.Class = retry.Class(class)
	if rec.Input, err = unpack(input, dict); err != nil {
		return rec, 0, fmt.Errorf("sqlitestore: run %s step %s: input: %w", rec.RunID, rec.Step, err)
	}
	if rec.Output, err = unpack(output, dict); err != nil {
		return rec, 0, fmt.Errorf("sqlitestore: run %s step %s: output: %w", rec.RunID, rec.Step, err)
	}
	rec.StartedAt, rec.FinishedAt = fromNanos(started), fromNanos(finished)
	if rec.Attempts, err = storekit.DecodeAttempts(attempts); err != nil {
		return rec, 0, fmt.Errorf("sqlitestore: run %s step %s: %w", rec.RunID, rec.Step, err)
	}
	return rec, seq, nil
}

func scanSteps(rows interface {
	rowScanner
	Next() bool
	Err() error
	Close() error
}) (recs []store.StepRecord, seqs []int64, err error) {
	defer rows.Close()
	for rows.Next() {
		rec, seq, err := scanStep(rows)
		if err != nil {
			return nil, nil, err
		}
		recs = append(recs, rec)
		seqs = append(seqs, seq)
	}
	return recs, seqs, rows.Err()
}

// attemptsBlob is a record's attempts in the shared format
// (storekit.EncodeAttempts), NULL when it has none.
func attemptsBlob(rec *store.StepRecord) (any, error) {
	b, err := storekit.EncodeAttempts(rec.Attempts)
	if b == nil || err != nil {
		return nil, err
	}
	return b, nil
}

const insertStep = `INSERT INTO steps (run_id, pipeline, run_attempt, idx, step, status, by_name, input, output,
	output_hash, output_size, attempts, error, class, note, started_at, finished_at, trace_id, span_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertStep appends a step record of a run of pipeline.
func (tx *writer) insertStep(pipeline string, rec *store.StepRecord) error {
	att, err := attemptsBlob(rec)
	if err != nil {
		return err
	}
	dict := tx.dict(rec.RunID, rec.RunAttempt)
	_, err = tx.exec(insertStep, rec.RunID, pipeline, rec.RunAttempt, rec.Index, rec.Step, string(rec.Status),
		rec.By, blob(storekit.PackPayload(rec.Input, dict)), blob(storekit.PackPayload(rec.Output, dict)), rec.OutputHash, rec.OutputSize, att,
		rec.Error, int64(rec.Class), rec.Note, nanos(rec.StartedAt), nanos(rec.FinishedAt), rec.TraceID, rec.SpanID)
	return err
}

// dict returns the input of run id's attempt, to pack its payloads
// against: remembered since the claim, or read (and remembered); nil when
// the attempt keeps no input.
func (tx *writer) dict(id string, attempt int) []byte {
	if d := tx.s.dicts.Get(id, attempt); d != nil {
		return d
	}
	var b []byte
	if err := tx.row("SELECT input FROM attempts WHERE run_id = ? AND attempt = ?", id, attempt).Scan(&b); err != nil {
		return nil // packed on its own
	}
	d, err := storekit.UnpackPayload(b, nil)
	if err != nil {
		return nil
	}
	tx.s.dicts.Put(id, attempt, d)
	return d
}

const attemptColumns = "attempt, reason, input, status, step, error, class, started_at, finished_at, version, version_label"

func scanAttempt(sc rowScanner) (store.RunAttempt, error) {
	var a store.RunAttempt
	var status string
	var input []byte
	var class, started, finished int64
	err := sc.Scan(&a.Attempt, &a.Reason, &input, &status, &a.Step, &a.Error, &class, &started, &finished,
		&a.Version.Fingerprint, &a.Version.Label)
	if err != nil {
		return a, err
	}
	a.Status, a.Class = store.Status(status), retry.Class(class)
	a.StartedAt, a.FinishedAt = fromNanos(started), fromNanos(finished)
	a.Input, err = storekit.UnpackPayload(input, nil)
	return a, err
}

// insertRun writes a new run; its input goes to its attempt
// (insertAttempt).
func (tx *writer) insertRun(r *store.Run) error {
	var idem any
	if r.IdempotencyKey != "" {
		idem = r.IdempotencyKey
	}
	review, err := reviewBlob(r.Review)
	if err != nil {
		return err
	}
	args := make([]any, 0, 38)
	args = append(args, r.ID, r.Pipeline, string(r.Status), r.Attempt, idem, r.Trigger.Source, r.Trigger.ExternalID,
		nanos(r.Trigger.ReceivedAt), r.InputHash, r.InputSize, r.InputReplaced, blob(r.Output), r.Step, r.Error, int64(r.Class),
		nanos(r.NotBefore), r.Deferrals, r.LeaseOwner, r.LeaseToken, nanos(r.LeaseExpires), boolInt(r.KeepPayloads),
		r.TraceID, r.SpanID, nanos(r.CreatedAt), nanos(r.UpdatedAt), nanos(r.FinishedAt), review)
	args = append(args, parentArgs(r.Parent)...)
	args = append(args, r.Spent.Tokens, r.Spent.Cost, r.Budget.Tokens, r.Budget.Cost)
	_, err = tx.exec(`INSERT INTO runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id,
		trigger_at, input_hash, input_size, input_replaced, output, step, error, class, not_before, deferrals, lease_owner,
		lease_token, lease_expires, keep_payloads, trace_id, span_id, created_at, updated_at, finished_at, review,
		parent_id, parent_step, parent_index, branch, branch_name, parent_trace_id, parent_span_id,
		spent_tokens, spent_cost, budget_tokens, budget_cost)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		args...)
	if isConstraint(err) {
		return fmt.Errorf("sqlitestore: add run %s: a run with its id (or idempotency key) exists: %w", r.ID, store.ErrConflict)
	}
	return err
}

func reviewBlob(rv *store.Review) (any, error) {
	if rv == nil {
		return nil, nil
	}
	return jsonBlob(rv)
}

func cancelBlob(c *store.Cancellation) (any, error) {
	if c == nil {
		return nil, nil
	}
	return jsonBlob(c)
}

func (tx *writer) insertAttempt(runID string, a store.RunAttempt) error {
	_, err := tx.exec(`INSERT INTO attempts (run_id, attempt, reason, input, status, step, error, class, started_at, finished_at,
		version, version_label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, runID, a.Attempt, a.Reason, blob(a.Input), string(a.Status),
		a.Step, a.Error, int64(a.Class), nanos(a.StartedAt), nanos(a.FinishedAt), a.Version.Fingerprint, a.Version.Label)
	return err
}

// saveRun writes back what a write may change in a run (its input lives
// in attempts).
func (tx *writer) saveRun(r *store.Run) error {
	review, err := reviewBlob(r.Review)
	if err != nil {
		return err
	}
	cancel, err := cancelBlob(r.Cancel)
	if err != nil {
		return err
	}
	output := r.Output
	// A top-level run that keeps its payloads has its output packed
	// against its attempt's input (the last step's record holds the same
	// output, packed alike): a branch run's output is read by its
	// parent's join, and stays as it is.
	if r.Output != nil && r.KeepPayloads && r.Parent == nil {
		output = storekit.PackPayload(r.Output, tx.dict(r.ID, r.Attempt))
	}
	if r.Status != store.Running {
		tx.s.dicts.Drop(r.ID)
	}
	_, err = tx.exec(`UPDATE runs SET status = ?, attempt = ?, input_hash = ?, input_size = ?, output = ?,
		step = ?, error = ?, class = ?, not_before = ?, deferrals = ?, lease_owner = ?, lease_token = ?,
		lease_expires = ?, updated_at = ?, finished_at = ?, review = ?, trace_id = ?, span_id = ?,
		spent_tokens = ?, spent_cost = ?, cancel = ? WHERE id = ?`,
		string(r.Status), r.Attempt, r.InputHash, r.InputSize, blob(output), r.Step, r.Error, int64(r.Class),
		nanos(r.NotBefore), r.Deferrals, r.LeaseOwner, r.LeaseToken, nanos(r.LeaseExpires),
		nanos(r.UpdatedAt), nanos(r.FinishedAt), review, r.TraceID, r.SpanID, r.Spent.Tokens, r.Spent.Cost, cancel, r.ID)
	if err == nil && storekit.WaitEnded(r.Status) {
		tx.ended(r.ID)
	}
	return err
}
