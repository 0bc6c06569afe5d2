// Package storekit is what the store implementations share: the rules a
// store applies to its records so that every store behaves alike. It is
// for the authors of stores, not for applications, and it is unstable: it
// changes whenever the store interface does (see package store's
// Stability).
//
// # The rules
//
// A store loads the records an operation touches, applies the rule here,
// and writes the result in one transaction:
//
//   - PlanReplay checks that a replay is possible and plans it (the
//     ReplayPlan: the new attempt's input and the checkpoints it carries),
//     starting where store.ReplayStart says, so that a tool's plan and the
//     store's replay agree.
//   - ApplyDecision applies a review decision, refusing a stale or decided
//     review inside the transaction that would write it.
//   - Scrub and ScrubRecord replace the payloads of a run that keeps none
//     with hashes and sizes once it has ended; scrubbing twice changes
//     nothing.
//   - CheckFork, PlanFork, JoinChange, Releases and Settle are a fork's
//     join: which children a fork creates or restarts and in which
//     status, what each change of a child's status does to the join, how
//     many waiting children a freed slot releases, and what the last live
//     child's end does to the parent.
//   - SyncCurrentAttempt gives a read run's current attempt the run's
//     outcome, in every store's GetRun.
//   - PlanCancel, MarkCancel, EndCancelled, EndAttempt, ChildCancel,
//     ChildCancellation and CancelledWrite are a cancellation: what
//     Cancel does to a run in each status (end it, or mark a held one),
//     the state a cancelled run ends in whatever the path (Cancel, a
//     refused write, a release, a claim of an expired lease, the children
//     hook), what its branch runs inherit, and the error of a refused
//     write.
//   - WaitRun, WaitEnded and Broadcast are Ops.WaitRun for a store that
//     can tell waiters in this process when runs change: subscribe, read,
//     wait, so that no end falls between the read and the wait.
//   - NoteTrace keeps the trace of a run's first execution.
//   - LimitOrDefault, Matches and Page make ListRuns' pages the same way.
//   - StatsAccumulator computes Stats from records, for stores that count
//     in Go; a store that counts in SQL follows its rules.
//   - Signal is a store.Waker for stores whose writes all happen in one
//     process.
//   - EncodeAttempts and DecodeAttempts are the blob a store keeps for a
//     step record's attempts: {"v":AttemptFormat,"attempts":[...]}, and
//     the bare array of format 0 that stores wrote before the format had a
//     version. Golden files in testdata hold every format ever written; a
//     test decodes each, field by field.
//
// # Stability
//
// Nothing here is stable. A store implemented outside this module may use
// it, but should expect it to change in any release, like the Store
// interface itself; what holds a store to its contract is
// storetest.Exercise, which every implementation must pass.
package storekit
