// Package sqlitestore is Plumb's embedded default store: a store.Store in
// one SQLite file, on modernc.org/sqlite (pure Go, no cgo). It passes
// storetest.Exercise, and it is built for the volume of a busy single
// machine: thousands of runs a second, hundreds of thousands kept.
//
//	s, err := sqlitestore.Open("/var/lib/plumb/plumb.db", sqlitestore.Config{})
//
// Open creates the file (and its directory) if needed; New wraps a
// *sql.DB the caller opened and owns.
//
// # What the file holds
//
// Every run's canonical record: the run (status, lease, failure, review),
// each attempt of it with its input, and every step record with its input,
// output and attempts, as JSON kept byte for byte (the attempts in the
// versioned format of storekit.EncodeAttempts; blobs of the unversioned
// format 0 still read). Beside them, the
// registered pipelines and the pauses. The version of the definition a run
// runs under (Run.Version) is its current attempt's, kept in the attempt's
// row and read with the run's input, so that the runs row the hot path
// rewrites stays narrow. Times are stored as integer unix
// nanoseconds and compared against the store's Clock, never SQLite's own
// time, so round trips are exact and tests can drive time.
//
// # WAL
//
// The file is in WAL mode: a write appends to path-wal, and readers keep
// reading a consistent snapshot beside the writer. Reads (GetRun,
// ListRuns, Stats) use a pool of connections; writes go through one. SQLite
// copies the WAL back into the file at checkpoints and keeps path-wal and
// path-shm beside the file while it is open: copy all three, or copy the
// file when no process has it open (or use the sqlite3 shell's .backup).
//
// # Synchronous modes
//
// Config.Synchronous says what an acknowledged write survives:
//
//   - "FULL" (the default): a power loss. No call returns before the WAL
//     holding its write has been fsynced. Readers may see a write in the
//     short window before its fsync; a power loss then takes it back, but
//     its caller was never told it succeeded.
//   - "NORMAL": a crash of the process, not a power loss: the last commits
//     before a power loss may be lost. The file stays consistent either
//     way; NORMAL saves the wait for the disk.
//
// With FULL the writer's connection still runs SQLite's synchronous=NORMAL,
// and a syncer goroutine fsyncs the WAL after each commit before
// acknowledging its operations: the next batch runs while the disk works,
// and one fsync covers every commit before it.
//
// # Group commit
//
// Every write (Enqueue, Claim, Checkpoint, Finish, Heartbeat, Replay...),
// from any goroutine, is an operation sent to one writer goroutine, which
// runs the operations that queued up in one BEGIN IMMEDIATE transaction and
// commits them together. With FULL it keeps taking operations into the open
// transaction while the previous fsync runs, so that the disk's pace sets
// the batch size. An operation that fails (a lost lease, a conflict) gets
// its own error and leaves no trace; the rest of its batch commits. Callers
// are acknowledged only after the commit (and, with FULL, the fsync).
// WriteStats shows the batching: Ops/Commits operations per transaction,
// and Syncs.
//
// # Multi-process use
//
// Several processes may open the same file (workers of one deployment, the
// plumb CLI beside them). A claim is one IMMEDIATE transaction, which holds
// SQLite's write lock across processes, so no run is claimed twice while
// its lease is live; every write carries its lease token and is refused
// once the lease has passed to another claim (fencing). A writer that finds
// the file locked waits (BusyTimeout) and retries (BusyRetryFor). The file
// must be on a local file system: WAL needs shared memory between the
// processes, which network file systems do not give.
//
// # Cancelling and waiting
//
// Cancel ends a run no worker holds in its write; a held run is marked in
// the run's row, and its worker hears of it at its next heartbeat, its
// next write is refused with store.ErrCancelled as the run ends, and a
// claim that finds its lease expired ends it instead (storekit's rules,
// which every store shares). Runs nobody cancels pay nothing for it: the
// statements the hot path runs anyway test the mark.
//
// WaitRun is woken, not polling: a write of this process that ends a run
// wakes that run's waiters once it is acknowledged, and while anyone waits
// one connection asks SQLite every 20 ms whether another process changed
// the file (PRAGMA data_version, which reads no run) and only then reads
// which waited runs have ended.
//
// # Migrations
//
// The schema is a list of embedded SQL files (migrations/NNNN_name.sql).
// Open applies those the file lacks in one IMMEDIATE transaction that also
// records the schema version (PRAGMA user_version) and marks the file as a
// Plumb store (PRAGMA application_id "Plmb"); of two processes opening a
// new file at once, one migrates and the other finds it done. Open
// refuses, with an error wrapping store.ErrNotAStore that names the file
// and says what to do, a file that is not SQLite, a corrupt one, an SQLite
// database of another application, or a store written by a newer Plumb,
// and writes nothing to it. Migrate does the same for a tool that prepares
// a store ahead of its first use. IntegrityCheck runs SQLite's full check.
package sqlitestore
