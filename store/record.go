package store

import (
	"encoding/json"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// Status is where a run stands.
type Status string

// The statuses of a run. Queued, Running and Waiting are live; the others end a run
// attempt. AwaitingReview and Held end it until a person acts (Parked); a
// decision, or an explicit replay of a dead-lettered, cancelled or held
// run, starts the run again.
const (
	Queued  Status = "queued"
	Running Status = "running"
	// Waiting is a live run that no worker may claim until the store
	// makes it queued: a parent waiting for its branches, a branch waiting
	// for a slot under its fork's limit.
	Waiting        Status = "waiting"
	Succeeded      Status = "succeeded"
	DeadLettered   Status = "dead_lettered"
	AwaitingReview Status = "awaiting_review"
	Cancelled      Status = "cancelled"
	// Held is a run that a worker with a changed definition of its
	// pipeline picked up and could not go on with: its input or a
	// checkpoint breaks the new contracts (Run.Error says which, at
	// Run.Step; see VersionCheck). It is neither dead-lettered nor lost: it
	// waits, claimed by no worker, until it is replayed (with a patch that
	// meets the new contract, or after a roll-back to its own definition)
	// or cancelled.
	Held Status = "held"
)

// Statuses lists every status, live ones first.
var Statuses = []Status{Queued, Running, Waiting, Succeeded, DeadLettered, AwaitingReview, Held, Cancelled}

// Final reports whether s is a status nothing overwrites but an explicit
// replay (succeeded, dead_lettered, cancelled).
func (s Status) Final() bool { return s == Succeeded || s == DeadLettered || s == Cancelled }

// Parked reports whether s stopped the run's attempt until a person acts
// (awaiting review, held): no worker holds or claims it, and it is not
// final. A fork's join counts a parked branch as live.
func (s Status) Parked() bool { return s == AwaitingReview || s == Held }

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Run is the canonical record of one item going through one pipeline.
type Run struct {
	ID       string `json:"id"`
	Pipeline string `json:"pipeline"`
	Status   Status `json:"status"`
	// Attempt counts executions of the run: 1 for the first, one more for
	// each replay. Earlier attempts' history is kept. A review decision
	// does not start a new attempt: an approved run resumes within its
	// attempt, and who decided is in Review.Decision and the step record.
	Attempt int `json:"attempt"`
	// Version is the definition the current attempt started under
	// (RunAttempt.Version of its last attempt).
	Version Version      `json:"version,omitzero"`
	Trigger step.Trigger `json:"trigger,omitzero"`
	// IdempotencyKey makes Enqueue return the existing run instead of a
	// duplicate.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Input is the current attempt's input, nil when payloads are not kept
	// (then InputHash and InputSize describe it).
	Input     json.RawMessage `json:"input,omitempty"`
	InputHash string          `json:"input_hash,omitempty"`
	InputSize int             `json:"input_size,omitempty"`
	// InputReplaced counts the invalid UTF-8 bytes of the submitted input
	// that encoding it as JSON replaced with U+FFFD, so that a changed
	// input is noted on the run rather than changed silently.
	InputReplaced int `json:"input_replaced,omitempty"`
	// Output is the last step's output, once the run has succeeded.
	Output json.RawMessage `json:"output,omitempty"`
	// Step is the step the run failed or waits at; empty otherwise.
	Step string `json:"step,omitempty"`
	// Error and Class describe the failure that ended the attempt.
	Error string      `json:"error,omitempty"`
	Class retry.Class `json:"class,omitempty"`
	// NotBefore holds a queued run back until then (a durable wait).
	NotBefore time.Time `json:"not_before,omitzero"`
	// Deferrals counts the durable waits of this attempt (the outage
	// schedule's position).
	Deferrals int `json:"deferrals,omitempty"`
	// LeaseOwner and LeaseExpires describe the claim of a running run.
	LeaseOwner   string    `json:"lease_owner,omitempty"`
	LeaseToken   string    `json:"lease_token,omitempty"`
	LeaseExpires time.Time `json:"lease_expires,omitzero"`
	// KeepPayloads false means payloads are dropped (hashed) once the run
	// ends.
	KeepPayloads bool `json:"keep_payloads"`
	// TraceID and SpanID name the root span (plumb.run) of the run's first
	// execution. A store fills them from the first write that carries a
	// trace (storekit.NoteTrace) unless Enqueue already did; later executions link
	// their root spans to it, and each StepRecord names the execution
	// that wrote it.
	TraceID   string    `json:"trace_id,omitempty"`
	SpanID    string    `json:"span_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// FinishedAt is when the current attempt ended (or stopped to await
	// review); zero while live.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Review is the pending or decided review of the current attempt.
	Review *Review `json:"review,omitempty"`
	// Cancel is set once the run's cancellation is asked: who, why, when.
	// A running run carries it until its worker ends it cancelled.
	Cancel *Cancellation `json:"cancel,omitempty"`
	// Parent is set on a branch run: the run and step that started it.
	Parent *Parent `json:"parent,omitempty"`
	// Spent is what the current attempt's model calls have spent, written
	// by each Finish (Outcome.Spent): when it ended, and at each deferral,
	// with what the executions before it spent too.
	Spent Spend `json:"spent,omitzero"`
	// Budget caps the run's spending on top of its pipeline's own run
	// budget: the part of its parent's budget left when it was forked.
	// Zero: no cap.
	Budget Spend `json:"budget,omitzero"`
}

// StepStatus is the outcome of one step in one run attempt.
type StepStatus string

// Step outcomes.
const (
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
	// StepReused marks a checkpoint carried over from an earlier attempt
	// by a replay: the step was not run again.
	StepReused StepStatus = "reused"
	// StepPatched marks a checkpoint whose output an operator replaced.
	StepPatched StepStatus = "patched"
	// StepDeferred marks attempts that ended in a durable wait.
	StepDeferred StepStatus = "deferred"
	// StepReview marks a step whose output waits for, or got, a person's
	// decision.
	StepReview StepStatus = "review"
	// StepWaiting marks a branching step that forked its children and
	// waits for them (Queue.Fork).
	StepWaiting StepStatus = "waiting"
)

// Done reports whether the step's output is a checkpoint a resumed run
// may pass on.
func (s StepStatus) Done() bool { return s == StepSucceeded || s == StepReused || s == StepPatched }

// Lease returns the lease of the run's current claim.
func (r *Run) Lease() Lease { return Lease{RunID: r.ID, Token: r.LeaseToken, Attempt: r.Attempt} }

// StepRecord is one step of one run attempt: its input, output, every
// attempt and the outcome. Several records may exist for one step and run
// attempt (a deferral, then the success); the last one counts.
type StepRecord struct {
	RunID      string     `json:"run_id"`
	RunAttempt int        `json:"run_attempt"`
	Index      int        `json:"index"`
	Step       string     `json:"step"`
	Status     StepStatus `json:"status"`
	// By names the step or fallback that produced Output.
	By         string          `json:"by,omitempty"`
	Input      json.RawMessage `json:"input,omitempty"`
	Output     json.RawMessage `json:"output,omitempty"`
	OutputHash string          `json:"output_hash,omitempty"`
	OutputSize int             `json:"output_size,omitempty"`
	Attempts   []AttemptRecord `json:"attempts,omitempty"`
	Error      string          `json:"error,omitempty"`
	Class      retry.Class     `json:"class,omitempty"`
	Note       string          `json:"note,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	// TraceID and SpanID name the root span of the execution that wrote
	// the record (hex, as OpenTelemetry prints them); empty without a
	// tracer, and for records no execution wrote (a review decision, a
	// replay's carried checkpoints).
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
}

// RunAttempt is the summary of one execution of a run.
type RunAttempt struct {
	Attempt int `json:"attempt"`
	// Reason says why it started: "submitted", "replay from classify",
	// "replay from classify with a patched input"; a replay that moved the
	// run to another definition adds "; moved from <version> to
	// <version>".
	Reason string `json:"reason"`
	// Version is the definition the attempt started under: the
	// submitter's (NewRun.Version), or for a replay the pipeline's
	// registered definition when the replay was asked (PipelineDef).
	Version    Version         `json:"version,omitzero"`
	Input      json.RawMessage `json:"input,omitempty"`
	Status     Status          `json:"status"`
	Step       string          `json:"step,omitempty"`
	Error      string          `json:"error,omitempty"`
	Class      retry.Class     `json:"class,omitempty"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// RunDetail is a run with its whole timeline: every attempt of the run and
// every step record, oldest first.
type RunDetail struct {
	Run      Run          `json:"run"`
	Attempts []RunAttempt `json:"attempts"`
	Steps    []StepRecord `json:"steps"`
}

// StepInput is the input the named step last ran on in the run's current
// attempt: its own record's when the record kept it, else the output of
// the step before it, else the run's input for the first step. It is nil
// when the step has no record in this attempt (or its input was not
// kept). A replay that patches a step's input starts from it.
func (d *RunDetail) StepInput(step string) json.RawMessage {
	idx := -1
	for i := len(d.Steps) - 1; i >= 0; i-- {
		rec := &d.Steps[i]
		if rec.RunAttempt != d.Run.Attempt || rec.Step != step {
			continue
		}
		if rec.Input != nil {
			return rec.Input
		}
		if idx < 0 {
			idx = rec.Index
		}
	}
	switch {
	case idx < 0:
		return nil
	case idx == 0:
		return d.Run.Input
	}
	for i := len(d.Steps) - 1; i >= 0; i-- {
		rec := &d.Steps[i]
		if rec.RunAttempt == d.Run.Attempt && rec.Index == idx-1 && rec.Status.Done() {
			return rec.Output
		}
	}
	return nil
}

// Review is a step output (or failure) waiting for a person.
type Review struct {
	Step   string `json:"step"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	// Input is the step's input; Proposed its output, which a reviewer may
	// approve as is or edit. Proposed is nil when the step failed and a
	// person must supply the output.
	Input    json.RawMessage `json:"input,omitempty"`
	Proposed json.RawMessage `json:"proposed,omitempty"`
	// OutputSchema is the step's output contract, so that an edit can be
	// validated by code that does not have the step's types.
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	// Deadline is when an undecided review escalates; zero for none.
	Deadline time.Time `json:"deadline,omitzero"`
	// Escalated is set once the deadline has passed and was reported.
	Escalated bool      `json:"escalated,omitempty"`
	Decision  *Decision `json:"decision,omitempty"`
}

// Decision is a person's verdict on a review.
type Decision struct {
	// Review names the review decided (Run.ReviewRef of the run as the
	// person saw it). A store refuses a decision for any other review with
	// a *StaleReviewError, so that a decision lands only where it was made.
	Review   ReviewRef `json:"review,omitzero"`
	Approved bool      `json:"approved"`
	Reviewer string    `json:"reviewer"`
	// Output is the approved output: the proposal, or the reviewer's edit.
	Output json.RawMessage `json:"output,omitempty"`
	Edited bool            `json:"edited,omitempty"`
	// Reason explains a rejection (or an approval, optionally).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Default marks a decision taken by the deadline's configured default.
	Default bool `json:"default,omitempty"`
}

// PipelineDef is what a store knows of a pipeline's code: its steps and
// their contracts, so that ops tools can validate a patch or an edit.
type PipelineDef struct {
	Name  string    `json:"name"`
	Steps []StepDef `json:"steps"`
	// Version is the definition's version: Fingerprint(Steps) and the
	// author's label. The registered definition of a pipeline is the one
	// its last worker to start recorded.
	Version Version `json:"version,omitzero"`
	// KeepPayloads false: inputs and outputs are hashed once a run ends.
	KeepPayloads bool `json:"keep_payloads"`
	// ExpectEvery is how often runs are expected (0: no expectation).
	ExpectEvery time.Duration `json:"expect_every,omitempty"`
	UpdatedAt   time.Time     `json:"updated_at"`
}

// StepDef describes one step.
type StepDef struct {
	Name         string          `json:"name"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Event and EventSchema, on an await step, name the event it waits
	// for and its payload's contract, so that a tool without the step's
	// types checks an event before it sends it (DeliverEvent).
	Event       string          `json:"event,omitempty"`
	EventSchema json.RawMessage `json:"event_schema,omitempty"`
}

// Index returns the position of the named step, or -1.
func (d *PipelineDef) Index(step string) int {
	for i, s := range d.Steps {
		if s.Name == step {
			return i
		}
	}
	return -1
}

// Pause is a pipeline's intake held shut.
type Pause struct {
	Pipeline string    `json:"pipeline"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"` // "breaker:classify" or an operator
	Since    time.Time `json:"since"`
	// ProbeAfter, when set, lets one probe run through once reached (the
	// breaker's half-open state).
	ProbeAfter time.Time `json:"probe_after,omitzero"`
	// ProbeRun is the run let through as a probe, once claimed.
	ProbeRun string `json:"probe_run,omitempty"`
}

// Resume opens a paused pipeline's intake again (Queue.ClearPause): who
// takes it and why are kept in the pipeline's log.
type Resume struct {
	Pipeline string `json:"pipeline"`
	// By is who resumes: an operator, or "breaker:<step>" when a probe
	// run passed the step.
	By string `json:"by"`
	// Reason says why, for whoever looks next.
	Reason string `json:"reason"`
}

// PauseAction is what an entry of a pipeline's log did.
type PauseAction string

// The actions of a pipeline's log.
const (
	// Paused: SetPause shut the intake, or updated the pause (the
	// breaker re-arms it after a failed probe).
	Paused PauseAction = "paused"
	// Resumed: ClearPause opened the intake again.
	Resumed PauseAction = "resumed"
)

// DefaultLogLimit is how many entries Ops.PipelineLog returns when asked
// for none in particular.
const DefaultLogLimit = 50

// PauseEntry is one pause or resume of a pipeline, as Ops.PipelineLog
// returns it.
type PauseEntry struct {
	Pipeline string      `json:"pipeline"`
	Action   PauseAction `json:"action"`
	// By is who took it: an operator, or "breaker:<step>".
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// ProbeAfter is the pause's probe time, for a breaker's pause.
	ProbeAfter time.Time `json:"probe_after,omitzero"`
}
