// Package memstore is an in-memory store.Store for tests and examples. It
// follows the same rules as the durable stores (it passes
// storetest.Exercise) but keeps nothing across a restart.
//
// # Use
//
// pipelinetest runs pipelines on it with a fake clock; examples use it
// where durability does not matter. Production uses sqlitestore (one
// machine) or pgstore (many).
package memstore
