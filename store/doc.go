// Package store defines the store: the single source of truth of a
// deployment. One store is the queue, the run history, the dead-letter
// bucket, the review queue and the pause switches, so that there is one
// place to look when something seems wrong.
//
// # The interface
//
// Store is the service-provider interface that memstore, sqlitestore and
// pgstore implement and that storetest.Exercise checks. It has two halves:
//
//   - Queue is what a worker needs: Enqueue (with idempotency keys),
//     Claim (with a lease), Heartbeat, Checkpoint, Finish, Release, and the
//     pause switch. Every write carries the Lease of the claim, and a store
//     refuses writes under a lease that is no longer current, so a worker
//     that stalled cannot overwrite the work of the one that took over.
//   - Ops is what the CLI and the review inbox need: GetRun (the whole
//     timeline), ListRuns, Replay, Decide, Stats, Prune. Ops never runs step
//     code: a replay or a review decision is an intent written here and
//     carried out by a worker of the application's own binary.
//
// # Records
//
// A Run is one item through one pipeline; it ends in exactly one of
// succeeded, dead_lettered, awaiting_review (until a person decides),
// held (until it is replayed or cancelled: see Versions) or cancelled. Each execution of a run is a RunAttempt; a replay starts a
// new one and keeps the old one's history. Each step of an attempt leaves
// StepRecords with every attempt of the step (as AttemptRecords: the
// persisted form of a step.Attempt, which changes only with the versioned
// format storekit.AttemptFormat, never with the runtime type; see
// AttemptRecordOf); a succeeded record is a
// checkpoint that a resumed or replayed run passes on instead of running the
// step again.
//
// Each StepRecord names the trace of the execution that wrote it, and a Run
// names its first execution's trace: a store fills Run.TraceID and SpanID
// from the first write that carries one (storekit.NoteTrace) unless Enqueue did, and
// keeps them after, so a later execution can link to it. Run.InputReplaced
// counts the invalid UTF-8 bytes the submitted input lost to U+FFFD.
//
// # Versions
//
// A run records the definition it started under (Run.Version, and each
// RunAttempt's): a Fingerprint of the steps and their contracts, and the
// author's label. A worker whose definition differs checks the run's
// input and checkpoints against its own contracts (VersionCheck.Resume)
// before any step runs; a run that cannot go on is held (Outcome Held):
// parked like a review, its payloads kept, claimed by no worker, until a
// replay (with a patch, or after a roll-back) or a cancellation. A
// replay runs under the pipeline's registered definition and records the
// move in its attempt's reason. CheckVersions is the same check over a
// whole store, for a deploy to run first.
//
// # Pages and reviews
//
// ListRuns returns a RunPage: when the limit cut the list off, More counts
// the runs past it and Next is the Before of the next page (counted only
// for a full page, and never with RunFilter.NoCount). A Review is named by
// its ReviewRef (the run attempt and the reviewed step's index); a
// Decision names the ref it decides, and a store refuses one for any other
// review with a *StaleReviewError, inside the transaction that would write
// it, so a decision held open while the run moved on never lands on the
// next review. ErrFinal (a *FinalError, which also matches ErrConflict)
// answers a decision on a decided review and a replay of a succeeded run.
//
// # What is where
//
// This package is what applications and tools import: the interface, the
// record types, the errors, and the recovery operations an operator runs
// through any store (ReplayRun, ReplayMatching, Approve, Reject,
// CurrentReview, ValidateJSON). It also holds the definitions the records
// and their readers share: ValidID (what a run id may be), Hash (the
// fingerprint kept for a payload that is not), Checkpoints (which records
// a resumed or replayed attempt starts with), ReplayStart (the step a
// replay starts from, so that a tool's plan names the step the store will
// use) and RecoveryTime (the figure behind PipelineStats.MeanRecovery and
// the pipeline's recovery metric).
//
// What only a store implementation needs (planning a replay, applying a
// decision, scrubbing payloads, paging and filtering lists, counting
// statistics, waking workers in one process) is in package storekit, out
// of the way of applications. A dead letter becomes a run through
// deadletter.Store, which works with any store.
//
// # Schedules
//
// A Schedule is a cron schedule a pipeline declared (pipeline.Schedule),
// kept where every worker finds it. A store parses no cron spec: it keeps
// what the pipeline computed, the next tick due (Next, UTC), and what the
// last tick started (LastTick, LastRun), with a count of the ticks its
// policy skipped. PutSchedule is an upsert that keeps Next while the
// pipeline, spec and zone are unchanged, so that every worker declaring
// the schedule at its start agrees on the tick due; AdvanceSchedule is a
// compare-and-set of Next, so that of the workers that fired one tick
// (each enqueueing its run under ScheduleKey, which Enqueue makes one run)
// one advances it. Only DeleteSchedule removes a schedule: a worker that
// does not declare one cannot tell a deleted schedule from a rolling
// deploy.
//
// # Stability
//
// The record types and the Ops half are stable: tools may depend on them,
// and call them on any store.
//
// The Store interface is not yet for implementation outside this module,
// as River says of its driver interface: it may grow in any release, as
// the worker's needs grow, and a store implemented elsewhere should expect
// to change with it. Every implementation must pass storetest.Exercise
// (and storetest.Differential against memstore, for one that does in its
// own way what memstore does in Go); embed nothing to pass it.
package store
