package store

import (
	"errors"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// DeadLetterGroup is the dead-lettered runs of one pipeline that failed at
// one step with one class: usually one cause, fixed and replayed together.
// The runs that gave up on an error nobody classified are a group of their
// own (Unclassified), apart from those whose error said it was permanent.
// Ops.DeadLetterGroups counts them in the store, so that a listing of the
// groups costs the same at ten dead letters and at a million.
type DeadLetterGroup struct {
	Pipeline string      `json:"pipeline"`
	Step     string      `json:"step"`
	Class    retry.Class `json:"class"`
	// Unclassified says the group's runs failed on an error nobody
	// classified (step.Error.Unclassified): their Class (permanent) is what
	// the pipeline made of it. Runs dead-lettered before the store kept
	// this (SQLite schema 11, PostgreSQL 12) group under their Class.
	Unclassified bool `json:"unclassified,omitempty"`
	// Count is how many runs the group holds; Branches how many of them
	// are branch runs (Run.Parent).
	Count    int `json:"count"`
	Branches int `json:"branches"`
	// Errors counts the different error messages in the group;
	// SampleError is the newest run's.
	Errors      int    `json:"distinct_errors"`
	SampleError string `json:"sample_error"`
	// Oldest and Newest are the earliest and the latest update time
	// (Run.UpdatedAt: when each was dead-lettered) of the group's runs.
	Oldest time.Time `json:"oldest"`
	Newest time.Time `json:"newest"`
	// RunIDs lists the group's newest runs, newest (greatest id) first,
	// up to the filter's limit.
	RunIDs []string `json:"run_ids"`
	// Parents are the parents of the branch runs RunIDs lists, in the
	// order of their newest branch there, each with how many of them it
	// has.
	Parents []DeadLetterParent `json:"parents,omitempty"`
}

// DeadLetterParent is a parent of a group's dead-lettered branch runs.
type DeadLetterParent struct {
	RunID    string `json:"run_id"`
	Branches int    `json:"branches"`
}

// StepBucket counts one step's outcomes over one bucket of time, as
// Stats counts them over its window: a step record (not a branch join's
// bookkeeping, Index >= 0) counts in the minute it finished, succeeded or
// failed (failed or deferred); N counts every record, of any status.
type StepBucket struct {
	// Start is the bucket's start; it ends a bucket's length later.
	Start     time.Time `json:"start"`
	Pipeline  string    `json:"pipeline"`
	Step      string    `json:"step"`
	N         int       `json:"n"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
}

// MaxStepBuckets bounds the buckets one StepHistory asks for (per step):
// a finer history over a longer span is an ErrInvalidHistory.
const MaxStepBuckets = 10_000

// StepHistoryBuckets checks a StepHistory request and returns its first
// bucket's start: since floored to its minute (the history is kept per
// minute), then whole buckets of length bucket, a whole number of
// minutes, up to now. It returns an error that says what to ask instead.
func StepHistoryBuckets(since, now time.Time, bucket time.Duration) (time.Time, error) {
	if bucket < time.Minute || bucket%time.Minute != 0 {
		return time.Time{}, &HistoryError{Reason: "the bucket must be a whole number of minutes, at least one (the history is kept per minute)"}
	}
	if since.IsZero() {
		return time.Time{}, &HistoryError{Reason: "the history needs a start (since)"}
	}
	start := since.Truncate(time.Minute)
	if n := now.Sub(start) / bucket; n > MaxStepBuckets {
		return time.Time{}, &HistoryError{Reason: "that asks for more than 10,000 buckets: ask for larger buckets or a later start"}
	}
	return start, nil
}

// HistoryError is a StepHistory request a store cannot answer; Reason
// says what to ask instead. It matches ErrInvalidHistory.
type HistoryError struct{ Reason string }

func (e *HistoryError) Error() string { return "store: step history: " + e.Reason }

// Is makes a HistoryError match ErrInvalidHistory.
func (e *HistoryError) Is(target error) bool { return target == ErrInvalidHistory }

// ErrInvalidHistory is what a StepHistory request a store cannot answer
// matches (a *HistoryError says why).
var ErrInvalidHistory = errors.New("invalid step history request")
