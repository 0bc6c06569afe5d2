package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Letter is a run that gave up, with everything needed to diagnose it and
// replay it: the input of the step that failed, the last raw output, every
// attempt with its error and class, and the trace to look at.
type Letter struct {
	Pipeline string       `json:"pipeline"`
	RunID    string       `json:"run_id"`
	Step     string       `json:"step"`
	Trigger  step.Trigger `json:"trigger,omitzero"`
	// Input is the failed step's input, as JSON. Nil when the pipeline
	// keeps no payloads (then InputHash and InputSize describe it).
	Input     json.RawMessage `json:"input,omitempty"`
	InputHash string          `json:"input_hash,omitempty"`
	InputSize int             `json:"input_size,omitempty"`
	// LastOutput is the last raw output, when there was one: a model's
	// answer, or the JSON of an output that broke its contract.
	LastOutput string `json:"last_output,omitempty"`
	// Class and Error describe the failure that decided the outcome.
	Class retry.Class `json:"class"`
	Error string      `json:"error"`
	// Attempts is every attempt of the step and its fallbacks, as the
	// runtime made them (a letter is a live value; Err still works).
	// Record converts them to the store's store.AttemptRecord.
	Attempts []step.Attempt `json:"attempts"`
	TraceID  string         `json:"trace_id,omitempty"`
	SpanID   string         `json:"span_id,omitempty"`
	// StartedAt is when the run started; FailedAt when it gave up.
	StartedAt time.Time `json:"started_at"`
	FailedAt  time.Time `json:"failed_at"`
	// NeedsHuman says automatic replay cannot help: a person must look
	// (a permanent or contract failure, a refusal, a rejected review).
	NeedsHuman bool `json:"needs_human"`
}

// Summary is a one-line description of the letter for logs and lists.
func (l *Letter) Summary() string {
	n := len(l.Attempts)
	noun := "attempts"
	if n == 1 {
		noun = "attempt"
	}
	return fmt.Sprintf("%s run %s dead-lettered at step %q (%s) after %d %s: %s",
		l.Pipeline, l.RunID, l.Step, l.Class, n, noun, firstLine(l.Error))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// NeedsHuman reports whether a failure of class c needs a person rather
// than an automatic replay.
func NeedsHuman(c retry.Class) bool {
	switch c {
	case retry.ClassPermanent, retry.ClassContract, retry.ClassNeedsReview, retry.ClassRefusal:
		return true
	}
	return false
}

// Sink receives dead letters. Send must return only once the letter is
// safely kept (written and synced, accepted by the remote end); an error
// means it was not, and the caller reports it. Implementations must be safe
// for concurrent use.
type Sink interface {
	Send(ctx context.Context, l *Letter) error
}

// Named is implemented by sinks that can say what they are in an error
// message ("jsonl:/var/lib/plumb/dead.jsonl").
type Named interface{ Name() string }

// SinkName returns s's name, or its Go type.
func SinkName(s Sink) string {
	if n, ok := s.(Named); ok {
		return n.Name()
	}
	return fmt.Sprintf("%T", s)
}

// Error is the error of a run that was dead-lettered: errors.As(err, &dl)
// yields the letter. It unwraps to the step's failure, so errors.Is(err,
// retry.ErrContract) and the like hold. SinkErr says which sinks failed to
// keep the letter; when it is not nil the letter may exist only here.
type Error struct {
	Letter  *Letter
	Err     error
	SinkErr error
}

func (e *Error) Error() string {
	s := e.Letter.Pipeline + " run " + e.Letter.RunID + " dead-lettered: "
	if e.Err != nil {
		s += e.Err.Error()
	} else {
		s += e.Letter.Error
	}
	if e.SinkErr != nil {
		s += "; WARNING: the dead letter was not kept by every sink: " + e.SinkErr.Error()
	}
	return s
}

// Unwrap returns the step's failure.
func (e *Error) Unwrap() error { return e.Err }

// SinkError is one sink's failure to keep a letter.
type SinkError struct {
	Sink  string
	RunID string
	Err   error
}

func (e *SinkError) Error() string {
	return fmt.Sprintf("dead-letter sink %s refused run %s: %v", e.Sink, e.RunID, e.Err)
}

// Unwrap returns the sink's error.
func (e *SinkError) Unwrap() error { return e.Err }

// ErrSink matches every *SinkError.
var ErrSink = errors.New("dead-letter sink failed")

// Is matches ErrSink.
func (e *SinkError) Is(target error) bool { return target == ErrSink }

// Record is the store record of a run known only by its letter (a run
// executed in-process): a dead-lettered run with one attempt whose failed
// step holds every attempt. The Store sink imports it.
func (l *Letter) Record() store.RunDetail {
	r := store.Run{
		ID: l.RunID, Pipeline: l.Pipeline, Status: store.DeadLettered, Attempt: 1,
		Trigger: l.Trigger, Input: l.Input, InputHash: l.InputHash, InputSize: l.InputSize,
		Step: l.Step, Error: l.Error, Class: l.Class, KeepPayloads: l.Input != nil, TraceID: l.TraceID,
		CreatedAt: l.StartedAt, UpdatedAt: l.FailedAt, FinishedAt: l.FailedAt,
	}
	rec := store.StepRecord{
		RunID: l.RunID, RunAttempt: 1, Index: -1, Step: l.Step, Status: store.StepFailed,
		Input: l.Input, Attempts: store.AttemptRecords(l.Attempts), Error: l.Error, Class: l.Class,
		Note: "recorded from a dead letter", StartedAt: l.StartedAt, FinishedAt: l.FailedAt,
	}
	if len(l.Attempts) > 0 {
		rec.StartedAt = l.Attempts[0].Start
	}
	att := store.RunAttempt{Attempt: 1, Reason: "submitted", Input: l.Input, Status: store.DeadLettered,
		Step: l.Step, Error: l.Error, Class: l.Class, StartedAt: l.StartedAt, FinishedAt: l.FailedAt}
	return store.RunDetail{Run: r, Attempts: []store.RunAttempt{att}, Steps: []store.StepRecord{rec}}
}
