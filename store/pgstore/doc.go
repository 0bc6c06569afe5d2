// Package pgstore is the PostgreSQL store.Store: the one canonical record
// of a deployment whose workers run on several hosts. The queue, the run
// history, the dead letters, the reviews and the pause switches all live in
// one database, so that every worker and every ops tool sees the same
// state. It passes storetest.Exercise against a real server.
//
//	s, err := pgstore.Open(ctx, "postgres://plumb:secret@db:5432/app")
//	p := pipeline.New(pipeline.NewRuntime(pipeline.RuntimeConfig{Store: s}), "leads", parse, pipeline.Policy{})
//
// Open owns its pool (pool settings go in the DSN: pool_max_conns=16); New
// takes a *pgxpool.Pool the application owns. Both create and migrate the
// schema unless Config.SkipMigrate is set.
//
// # Several hosts, one database
//
// Every worker, on any host, claims runs from the same tables. A run is
// held by one worker at a time under a lease; a worker that dies loses its
// runs to the others when the lease expires, and they resume them from the
// last checkpoint. Pauses (a tripped breaker) and reviews are rows too:
// pausing a pipeline on one host pauses it everywhere.
//
// The tables live in a schema of their own (Config.Schema, "plumb" by
// default), beside the application's tables; run ids and pipeline names
// sort byte by byte (COLLATE "C"), as in every store. Payloads are bytea,
// kept byte for byte (jsonb would reformat them); a step record's attempts
// are one blob in the versioned format of storekit.EncodeAttempts, and
// blobs of the unversioned format 0 still read. Times are timestamptz, so
// they keep microseconds: the store truncates times to that, so what a
// call returns equals what a later read finds.
//
// The definition a run attempt started under (store.Version) is a column
// pair of its attempts row, not of the run's: the runs row is rewritten
// by every claim, heartbeat, checkpoint and finish and stays narrow. A
// run's version is its current attempt's, read with the run by one
// primary-key lookup. A run held (store.Held) by a worker of a changed
// definition is parked like one awaiting review: in no claim index, and
// counted live by its fork's join.
//
// An attempts row is written when its attempt starts (with the input) and
// again when the next attempt starts, which writes the outcome of the one
// that ended into it: the finish does not rewrite it, so that under MVCC
// the input is written once. Until then the current attempt's outcome is
// the run's, which GetRun copies into it (storekit.SyncCurrentAttempt).
//
// # Branch runs and their joins
//
// A fork (Fork) is one transaction: the parent's lease, its fork's join
// row (table joins: live and active children, the limit, the branches of
// the latest fork), every new child and its first attempt in one
// statement, and the parent, waiting. A child's change of status updates
// its join in the same transaction, under the join row's lock: a child's
// end decrements live, releases waiting siblings while the limit has
// room (the room counted from the queued and running children that do not
// wait for an event, which a child starting to wait for one also
// releases), and the end that takes live to 0 settles the parent (queues it,
// or replays it from the fork when it had dead-lettered there). Many
// children of one parent ending at once in many processes serialise on
// the join's row only; the parent's row is locked only to settle it. A
// top-level run's writes stay on the group-commit path below; a branch
// run's end (and a scrub, and a cancellation of a run that forked, whose
// waiting and queued children it cancels) is a write of that path too,
// whose batch opens a transaction from Go: the ends of a batch take each
// join's lock once, in order, write its counts once and settle its parent
// once, and share one commit.
//
// # Claims with SKIP LOCKED
//
// Claim is one statement, sent in a batch of the group-commit writer (see
// below): for each pipeline the worker serves, it reads the oldest ready
// runs, the deferred runs now due and the running runs whose lease
// expired, each from a small partial index, locks them with SELECT ... FOR
// NO KEY UPDATE SKIP LOCKED and leases the oldest of them in an UPDATE. Concurrent claims skip each other's rows instead of
// waiting, and one pipeline's backlog is never scanned by workers of
// another. Paused pipelines are skipped; once a pause's ProbeAfter has
// passed, one claim takes exactly one probe, under the pause row's lock.
// The claim also returns, from the very rows it locked, whether each run
// has step records; only then does it read their checkpoints, all in one
// more query, after the claim committed: a checkpoint committed before the
// claim is always seen, so a finished step is never run again.
//
// # Leases and fencing
//
// Every claim gets a fresh lease token. Checkpoint, Finish and Release
// carry it, and each checks the token on the run's row and writes only if
// it still matches: a worker that stalled past its lease cannot overwrite
// the work of the one that took over (it gets store.ErrLeaseLost).
// Heartbeats extend leases in one statement and report the ones lost.
// Checkpoints change no indexed column, so they are HOT updates that touch
// no index. Expired leases are found through an index on the expiry
// (runs_expiry), so a claim reads only those.
//
// # Group commit
//
// Enqueue, Claim, Checkpoint and Finish are sent to a writer that commits
// the writes of many goroutines together: the ones that queued up while
// the previous transaction was in flight go in one pipelined batch, one
// round trip and one commit (one WAL flush) for all, and each caller is
// answered only after that COMMIT. The batch is a handful of statements
// whatever its size: the enqueues are one multi-row statement, the
// checkpoints and finishes another, each row with the checks the write
// alone would make, so a write under a lost lease changes nothing and
// fails alone. A statement the server refuses rolls back the batch, which
// is then written again one op at a time, so that the failure stays with
// the write that caused it. A batch locks the runs it writes in id order,
// as heartbeats do, so that batches never deadlock. Under load a batch
// carries tens of writes; idle, a write goes at once (Config.Writers,
// Config.MaxBatch). A spare writer takes the queued writes when the batch
// in flight has taken over 100ms (waiting for a row another session holds
// locked, say) or many writes are queued behind it, so that one slow batch
// does not hold up the process. WriteStats tells how well writes batch.
//
// The batch runs with generic plans and without JIT (plan_cache_mode and
// jit, for its transaction only): planning the statements afresh for each
// batch's array sizes cost more than running them. A generic plan fits the
// tables' sizes when it was made, so each connection makes its plans again
// every two seconds (DISCARD PLANS, which also drops the plans of other
// statements on that connection, when the pool is shared): plans made while
// the tables were nearly empty do not outlive their growth.
//
// # LISTEN/NOTIFY
//
// A write that makes a run claimable (Enqueue, Replay, an approving
// Decide, Release, a Finish that defers to now, ClearPause) notifies the
// channel (Config.Channel) with the pipeline's name in its own
// transaction, so the notification arrives after the commit. Subscribe
// (store.Waker) LISTENs on a connection of its own, outside the pool, and
// wakes idle workers within milliseconds; it reconnects when the
// connection drops, and wakes them then too, as notifications may have been
// lost. Workers still poll, as a fallback.
//
// A notifying commit takes a lock that serialises all notifying commits of
// the database, so under load a store notifies in the transaction at most
// once per Config.NotifyEvery (10ms) and sends one notification for the
// writes in between when the interval ends: idle workers wake within a few
// milliseconds, and enqueues do not queue behind each other.
//
// # Cancellation
//
// Cancel ends a run that no worker holds in its own transaction. A
// running run is marked instead (cancel_at, cancel_by, cancel_reason on
// its row), and each write of the worker holding it finds the mark under
// the lease it checks: Heartbeat reports the run lost and extends its
// lease; the hot write of held runs skips it (one NULL test for a run
// nobody cancels), so that Checkpoint and Finish take the Go path, which
// ends the run cancelled and refuses the write with store.ErrCancelled,
// as Fork does; Release ends it rather than queueing it; a Claim that
// finds its lease expired ends it and claims the runs after it. A run that
// ends cancelled, by any path, ends its branch runs that no worker holds
// and marks its running ones, in the same transaction.
//
// # Waiting for a run's end
//
// Every write that ends a run or parks it (opens its review or holds it:
// store.Status.Parked) notifies a second channel, Config.EndChannel, with
// the run's id, in its transaction, never paced, whatever its path: the
// finish batch, a finish in Go, Cancel, Decide, the end of a marked run
// at a claim, a release, a checkpoint or a fork, the children hook. WaitRun subscribes to that id on the store's one LISTEN
// connection (the one Subscribe uses), then reads the run, so that no end
// falls between the read and the wait; it reads again on each
// notification of the id, and every waiter reads again when the
// connection comes back after a drop.
//
// # Migrations and the advisory lock
//
// The schema is versioned: embedded migrations, applied in order, each
// recorded in the plumb_migrations table. Migrate (run by Open and New)
// first reads the version without locking; if it is behind, it applies the
// missing migrations in one transaction holding pg_advisory_xact_lock on a
// key derived from the schema's name, so that of several processes starting
// at once one migrates and the others wait and find it done. A database
// whose schema is newer than this package knows, or a schema holding
// another application's tables, is refused with an error wrapping
// store.ErrNotAStore.
//
// # Clocks across hosts
//
// Lease expiry, NotBefore and every timestamp come from Config.Clock, the
// workers' clock, passed to the server as query parameters; the server's
// now() is never used (that is what lets the conformance suite drive time).
// A lease expires when another worker's clock says so, so keep the hosts'
// clocks in sync with NTP: a host whose clock runs ahead by more than a
// lease takes runs that are still held (fencing keeps their records
// consistent, but the step runs twice). Leases of tens of seconds tolerate
// ordinary NTP drift by a wide margin.
//
// # Connections
//
// pgxpool replaces broken connections; a statement on a connection that
// dies returns an error at once, and the next one gets a new connection.
// The pipeline retries its store writes while the server is unreachable,
// for up to a lease. The store needs READ COMMITTED (PostgreSQL's
// default) and works through PgBouncer in session mode; transaction mode
// breaks LISTEN (workers then fall back to polling).
//
// The package example needs a server, so go test compiles it without
// running it; TestExample runs it against PLUMB_TEST_POSTGRES_DSN (see
// .ci/postgres.sh) and checks its output.
package pgstore
