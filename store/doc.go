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
// succeeded, dead_lettered, awaiting_review (until a person decides) or
// cancelled. Each execution of a run is a RunAttempt; a replay starts a
// new one and keeps the old one's history. Each step of an attempt leaves
// StepRecords with every attempt of the step; a succeeded record is a
// checkpoint that a resumed or replayed run passes on instead of running the
// step again.
//
// # Stability
//
// The record types and the Ops half are stable: tools may depend on them.
// The Queue half may gain methods in minor versions, as the worker's needs
// grow; implement stores by embedding nothing and passing storetest.
package store
