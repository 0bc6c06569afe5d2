// Package storetest is the conformance suite every store.Store passes:
// Exercise(t, newStore) checks the queue, leases and fencing, checkpoints,
// final statuses, replays, reviews, pauses, retention, statistics and
// concurrent use, the same way for every implementation.
//
// # Writing a store
//
// A new store passes Exercise with a NewStore that returns a fresh, empty
// store reading time from the given clock; the suite drives that clock, so
// lease expiry and durable waits are tested without sleeping.
package storetest
