package store

import (
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
)

// AttemptRecord is one attempt as the stores keep it: the persisted form of
// a step.Attempt. The runtime type may change with the code that makes
// attempts; this one changes only with the format (storekit.AttemptFormat),
// so that what a store wrote yesterday still reads today. Its JSON names
// are the ones step.Attempt had when stores first kept attempts, so that
// records written then decode unchanged.
//
// Kind, Class and Violations keep their own packages' types, whose
// encodings ("reask", "contract", a violation's path, keyword, message and
// value) are part of the format: storekit's golden tests fail if one
// changes.
type AttemptRecord struct {
	// Step is the step or fallback that ran.
	Step string `json:"step"`
	// Number counts attempts across the step and its fallbacks, from 1.
	Number int `json:"number"`
	// Kind says what the attempt was (see step.AttemptKind). Records
	// written before kinds were kept decode as step.AttemptCall.
	Kind step.AttemptKind `json:"kind,omitempty"`
	// Reask numbers a model step's re-asks from 1; zero otherwise.
	Reask int `json:"reask,omitempty"`
	// FallbackModel names the fallback model the attempt called; "" for
	// the primary model.
	FallbackModel string `json:"fallback_model,omitempty"`
	// Note says what the attempt was in words for people; never parse it.
	Note     string        `json:"note,omitempty"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	// Error and Class describe the failure; both are empty on success.
	Error string      `json:"error,omitempty"`
	Class retry.Class `json:"class,omitempty"`
	// Unclassified says nobody classified the error: Class is the
	// transient retry.Classify defaults to.
	Unclassified bool `json:"unclassified,omitempty"`
	// Abandoned says the attempt ended at its timeout with the function
	// still running.
	Abandoned bool `json:"abandoned,omitempty"`
	// Violations lists the first contract.MaxViolations violations of a
	// contract failure; ViolationCount counts all of them.
	Violations     []contract.Violation `json:"violations,omitempty"`
	ViolationCount int                  `json:"violation_count,omitempty"`
	// Raw is a model's raw answer, exactly as it came (or, once a run that
	// keeps no payloads has ended, its size and hash).
	Raw string `json:"raw,omitempty"`
	// Model, the token counts and Cost describe a model call.
	Model        string  `json:"model,omitempty"`
	InputTokens  int     `json:"input_tokens,omitempty"`
	OutputTokens int     `json:"output_tokens,omitempty"`
	Cost         float64 `json:"cost,omitempty"`
	// Wait is the backoff taken after this attempt before the next one.
	Wait time.Duration `json:"wait,omitempty"`
	// Stack is the stack of a panic.
	Stack string `json:"stack,omitempty"`
}

// AttemptRecordOf is the record of attempt a. Its live error is not kept:
// Error, Class and the fields SetError fills say what it was.
func AttemptRecordOf(a step.Attempt) AttemptRecord {
	return AttemptRecord{
		Step: a.Step, Number: a.Number, Kind: a.Kind, Reask: a.Reask, FallbackModel: a.FallbackModel,
		Note: a.Note, Start: a.Start, Duration: a.Duration, Error: a.Error, Class: a.Class,
		Unclassified: a.Unclassified, Abandoned: a.Abandoned, Violations: a.Violations,
		ViolationCount: a.ViolationCount, Raw: a.Raw, Model: a.Model, InputTokens: a.InputTokens,
		OutputTokens: a.OutputTokens, Cost: a.Cost, Wait: a.Wait, Stack: a.Stack,
	}
}

// AttemptRecords is the records of attempts, in order: nil for nil, so
// that a store keeps "no attempts" and "an empty list" apart as before.
func AttemptRecords(attempts []step.Attempt) []AttemptRecord {
	if attempts == nil {
		return nil
	}
	recs := make([]AttemptRecord, len(attempts))
	for i, a := range attempts {
		recs[i] = AttemptRecordOf(a)
	}
	return recs
}
