package step

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/retry"
)

// Attempt is the record of one try: of the step's function, of a fallback,
// or of a model call inside a model step. Attempts are what the run
// history, the dead letter and the review inbox show.
//
// It is the runtime type: stores keep a store.AttemptRecord made from it,
// in a versioned format of their own, so a change here does not change
// what is on disk.
type Attempt struct {
	// Step is the step or fallback that ran.
	Step string `json:"step"`
	// Number counts attempts across the step and its fallbacks, from 1.
	Number int `json:"number"`
	// Kind says what the attempt was: a call, a retry, a re-ask, a
	// fallback model's first call, the input contract's check, or the
	// step's outcome. Records written before it existed decode as
	// AttemptCall; their Note still says it.
	Kind AttemptKind `json:"kind,omitempty"`
	// Reask numbers a model step's re-asks from 1 (Kind is AttemptReask);
	// zero otherwise.
	Reask int `json:"reask,omitempty"`
	// FallbackModel names the fallback model a model step's attempt
	// called; "" when it called the primary model.
	FallbackModel string `json:"fallback_model,omitempty"`
	// Note says the same for people: "input contract", "re-ask 2",
	// "fallback model gpt-4o-mini". It is text to read, never to parse:
	// decisions read Kind, Reask and FallbackModel.
	Note     string        `json:"note,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	// Error and Class describe the failure; both are empty on success.
	Error string      `json:"error,omitempty"`
	Class retry.Class `json:"class,omitempty"`
	// Unclassified says nobody classified the error (retry.Known is
	// false): Class is the transient that retry.Classify defaults to. Such
	// a failure is retried by the step's policy but never waited out in the
	// queue; wrap it with retry.Permanent or retry.Transient to say which
	// it is.
	Unclassified bool `json:"unclassified,omitempty"`
	// Abandoned says the attempt ended at its timeout while the function
	// was still running: the call was left to finish in the background and
	// whatever it returns is discarded. It may still cause side effects.
	Abandoned bool `json:"abandoned,omitempty"`
	// Violations lists the contract violations of a contract failure: the
	// first contract.MaxViolations of them.
	Violations []contract.Violation `json:"violations,omitempty"`
	// ViolationCount counts every violation found, those Violations leaves
	// out included.
	ViolationCount int `json:"violation_count,omitempty"`
	// Raw is a model's raw answer, exactly as it came.
	Raw string `json:"raw,omitempty"`
	// Model and the token counts describe a model call.
	Model        string  `json:"model,omitempty"`
	InputTokens  int     `json:"input_tokens,omitempty"`
	OutputTokens int     `json:"output_tokens,omitempty"`
	Cost         float64 `json:"cost,omitempty"`
	// Wait is the backoff taken after this attempt before the next one.
	Wait time.Duration `json:"wait,omitempty"`
	// Stack is the stack of a panic.
	Stack string `json:"stack,omitempty"`

	err error
}

// Err returns the live error of the attempt (a store.AttemptRecord has
// none: use Error and Class there).
func (a *Attempt) Err() error { return a.err }

// SetError fills Error, Class, Unclassified, Abandoned, Violations and
// Stack from err.
func (a *Attempt) SetError(err error) {
	a.err = err
	if err == nil {
		return
	}
	a.Error = err.Error()
	a.Class = retry.Classify(err)
	a.Unclassified = !retry.Known(err)
	a.Abandoned = errors.Is(err, ErrAbandoned)
	var ve *contract.ValidationError
	if errors.As(err, &ve) {
		a.Violations, a.ViolationCount = ve.Violations, ve.Count()
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		a.Stack = string(pe.Stack)
	}
}

// Trigger says what started a run.
type Trigger struct {
	// Source names where the item came from: "webhook:hubspot", "cron".
	Source string `json:"source,omitempty"`
	// ExternalID is the item's id in its source system.
	ExternalID string `json:"external_id,omitempty"`
	// ReceivedAt is when the item arrived.
	ReceivedAt time.Time `json:"received_at,omitzero"`
}

// RunInfo describes the run a step executes in, for step functions that
// need it: to log which run they serve, or to make a side effect happen
// once (IdempotencyKey). The pipeline puts it in the context; a step run
// on its own has none.
//
// A durable pipeline checkpoints each step once it returns, so a step is
// executed at least once until its checkpoint is written and never again
// after: a crash, a lost lease or a cancellation between the side effect
// and the checkpoint runs the step again, in the same run attempt, with
// the same IdempotencyKey. Give that key to the service you call (an
// Idempotency-Key header, a unique column) and the effect happens once.
type RunInfo struct {
	Pipeline string
	RunID    string
	Trigger  Trigger
	// Parent is the id of the run whose branching step (a fan-out, a
	// route, parallel sub-pipelines) started this run; empty for a run
	// that is no branch.
	Parent string
	// Attempt is the run attempt: 1 for the run as submitted, one more
	// for each replay. A resumption after a crash, a durable wait or a
	// review decision stays in the same attempt.
	Attempt int
	// Step names the pipeline step running (a fallback step runs under
	// the name of the step it stands in for); empty outside a step.
	Step string
	// Try counts the calls of the step's functions (its own, then its
	// fallbacks') in this execution of the step, from 1: the retry
	// policy's tries. It starts again at 1 when the run resumes after a
	// crash or a durable wait. Read it when the call starts: it moves on
	// with the next try.
	Try int
}

// IdempotencyKey returns a key for the side effects of the running step
// in this run attempt: "<run id>/<attempt>/<step>". It is the same every
// time the step runs again in the attempt (a retry, a fallback, a
// resumption after a crash or a durable wait) and another after a replay,
// which asks for the effect again. It is empty outside a step.
func (ri *RunInfo) IdempotencyKey() string {
	if ri == nil || ri.Step == "" {
		return ""
	}
	return ri.RunID + "/" + strconv.Itoa(max(ri.Attempt, 1)) + "/" + ri.Step
}

// RunInfoFrom returns the run the context belongs to, or nil.
func RunInfoFrom(ctx context.Context) *RunInfo {
	if r := attempt.RunFrom[RunInfo](ctx); r != nil {
		return &r.Info
	}
	return nil
}
