// Package storetest is the conformance suite every store.Store passes:
// Exercise(t, newStore) checks the queue, leases and fencing, checkpoints,
// final statuses, replays, reviews, pauses, retention, statistics,
// concurrent use and branch runs (forks, the join the store keeps, fork
// limits, a recovered child resuming its parent, the cancel hook, pruning
// and scrubbing of branches) and versions (the version a run and each
// attempt record, held runs, a replay's move to the registered version,
// CheckVersions over the store), the same way for every implementation.
// Differential(t, newStore, cfg) drives a store and memstore, the
// reference, through the same random sequences of operations (leases
// current and stale, probes of paused pipelines, replays, held runs,
// decisions on stale reviews) and requires the same answers, timelines,
// listings and statistics.
//
// # Writing a store
//
// A new store passes Exercise with a NewStore that returns a fresh, empty
// store reading time from the given clock; the suite drives that clock, so
// lease expiry and durable waits are tested without sleeping. A store that
// does in its own way (in SQL, say) what memstore does in Go also passes
// Differential.
package storetest
