package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Clock stamps every record and decides lease expiry and NotBefore;
	// SQLite's own time is never used. Defaults to retry.SystemClock.
	Clock retry.Clock
	// Synchronous is the PRAGMA synchronous of the writing connection:
	// "FULL" syncs the WAL on every commit, so no acknowledged write is lost
	// on power loss; "NORMAL" syncs only at checkpoints, so the last
	// commits may be lost on power loss (never on a process crash) and the
	// file stays consistent. Defaults to "FULL".
	Synchronous string
	// MaxBatch caps the operations the writer commits in one transaction.
	// Defaults to 512.
	MaxBatch int
	// MaxWait is how long the writer waits for more operations before it
	// commits a batch smaller than MaxBatch. Defaults to 0: a batch is what
	// queued up while the previous commit ran, which batches well under
	// load and adds no latency when idle.
	MaxWait time.Duration
	// BusyTimeout is how long a connection waits for another process's
	// lock before SQLite reports SQLITE_BUSY; the writer then retries the
	// batch until BusyRetryFor has passed. Defaults to 5s.
	BusyTimeout time.Duration
	// BusyRetryFor bounds the writer's retries of a busy database.
	// Defaults to 1 minute.
	BusyRetryFor time.Duration
	// Logger reports what the store recovers from (busy retries, failed
	// commits). Defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults, as documented on Config's fields.
const (
	DefaultMaxBatch     = 512
	DefaultBusyTimeout  = 5 * time.Second
	DefaultBusyRetryFor = time.Minute
)

func (c Config) withDefaults() (Config, error) {
	if c.Clock == nil {
		c.Clock = retry.SystemClock
	}
	switch strings.ToUpper(c.Synchronous) {
	case "":
		c.Synchronous = "FULL"
	case "FULL", "NORMAL":
		c.Synchronous = strings.ToUpper(c.Synchronous)
	default:
		return c, fmt.Errorf("sqlitestore: synchronous %q: want FULL or NORMAL", c.Synchronous)
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	if c.BusyRetryFor <= 0 {
		c.BusyRetryFor = DefaultBusyRetryFor
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Store is a store.Store in one SQLite file.
type Store struct {
	cfg   Config
	clock retry.Clock
	log   *slog.Logger
	path  string
	// db is the pool reads use; the writer holds one of its connections
	// for itself, so reads never wait for the writer's connection.
	db    *sql.DB
	ownDB bool
	w     *writer

	// life guards closing: every call holds it shared while it runs, so
	// Close waits for calls in flight and later calls see closed.
	life   sync.RWMutex
	closed bool

	reads sync.Map // query -> *sql.Stmt prepared on db

	tokenPrefix string
	tokenSeq    atomic.Uint64
	version     int

	// signal wakes this process's idle workers when runs may have become
	// claimable; workers in other processes poll.
	signal storekit.Signal

	// waits are WaitRun's waiters (wait.go).
	waits waits

	// dicts are the inputs of the attempts this process holds, that their
	// records and outputs are packed against (codec.go).
	dicts storekit.Dicts
}

// Subscribe wakes idle workers of this process when runs may have become
// claimable (an enqueue, a replay, an approval, a release, a resume).
func (s *Store) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	return s.signal.Subscribe(ctx)
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Waker = (*Store)(nil)
)

// Open opens (creating it and its directory if needed) the store in the
// SQLite file at path, and migrates its schema. The file is the whole
// store: its WAL (path-wal) and shared memory (path-shm) files come and go
// beside it. A file that is not a Plumb store, is corrupt, or was written by
// a newer version is refused with an error wrapping store.ErrNotAStore.
func Open(path string, cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlitestore: open %q: want the path of a file (memstore is the in-memory store)", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: create its directory: %w", path, err)
	}
	if err := checkHeader(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", fileDSN(abs, c.BusyTimeout))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(1 + readers)
	db.SetMaxIdleConns(1 + readers)
	s, err := newStore(db, abs, c)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.ownDB = true
	return s, nil
}

// fileDSN is the driver's name of the file at path, with the settings
// every connection of a store has.
func fileDSN(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// A URI, so that any character in the path survives.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// New makes a store of a database/sql handle the caller owns, opened with
// the modernc.org/sqlite driver on a file (not ":memory:": readers use other
// connections of the pool). New takes one connection of the pool for its
// writer for as long as the store is open, so the pool must allow at least
// two; it sets journal_mode=WAL on the file (a persistent setting) and
// busy_timeout, foreign_keys and synchronous on its writer connection only.
// Give the pool's other connections a busy_timeout in the DSN. Close
// returns the writer's connection but does not close db.
func New(db *sql.DB, cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if n := db.Stats().MaxOpenConnections; n == 1 {
		return nil, errors.New("sqlitestore: new: the pool allows one connection; the writer holds one and reads need others: SetMaxOpenConns(2) or more")
	}
	path, err := mainFile(db, "new")
	if err != nil {
		return nil, err
	}
	return newStore(db, path, c)
}

// mainFile returns the file behind db, refusing an in-memory database.
// what names the caller in errors.
func mainFile(db *sql.DB, what string) (string, error) {
	var seq int
	var name, file string
	err := db.QueryRow("PRAGMA database_list").Scan(&seq, &name, &file)
	if err != nil {
		return "", fmt.Errorf("sqlitestore: %s: %w", what, classify(err))
	}
	if file == "" {
		return "", fmt.Errorf("sqlitestore: %s: the database is in memory; a store needs a file that its connections share", what)
	}
	return file, nil
}

func newStore(db *sql.DB, path string, c Config) (*Store, error) {
	s := &Store{cfg: c, clock: c.Clock, log: c.Logger, path: path, db: db}
	s.waits.s, s.waits.every = s, watchEvery
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.tokenPrefix = hex.EncodeToString(b[:]) + "."
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, classify(err))
	}
	if err := s.setup(ctx, conn); err != nil {
		_ = conn.Close()
		return nil, err
	}
	s.w = startWriter(s, conn)
	return s, nil
}

// setup configures the writer's connection and brings the schema up to
// date, refusing a file that is not (or not yet) a Plumb store before
// anything is written to it.
func (s *Store) setup(ctx context.Context, conn *sql.Conn) error {
	for _, p := range []string{
		fmt.Sprintf("PRAGMA busy_timeout = %d", s.cfg.BusyTimeout.Milliseconds()),
		"PRAGMA foreign_keys = ON",
		// NORMAL even for FULL: the syncer, not each COMMIT, fsyncs the
		// WAL (see syncer); either way checkpoints are synced and the file
		// stays consistent.
		"PRAGMA synchronous = NORMAL",
		// A larger page cache for the writer: the queue's indexes stay hot.
		"PRAGMA cache_size = -16384",
		// Statement and savepoint journals in memory, not temporary files.
		"PRAGMA temp_store = MEMORY",
		// After a burst, SQLite truncates the WAL back to this when it
		// starts it over, rather than keeping its largest size forever.
		"PRAGMA journal_size_limit = 67108864",
	} {
		if _, err := conn.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("sqlitestore: open %s: %s: %w", s.path, p, classify(err))
		}
	}
	v, err := prepareSchema(ctx, conn, s.path, s.cfg.BusyRetryFor)
	if err != nil {
		return err
	}
	s.version = v
	return nil
}

// Path returns the store's file.
func (s *Store) Path() string { return s.path }

// SchemaVersion returns the version of the store's schema: the number of
// migrations applied.
func (s *Store) SchemaVersion() int { return s.version }

// enter marks a call in flight; it fails once the store is closed.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return fmt.Errorf("sqlitestore: %s: %w", s.path, store.ErrClosed)
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

// Close waits for calls in flight, commits what the writer holds, and
// closes what the store opened (not a handle given to New). Later calls,
// Close included, fail with store.ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return fmt.Errorf("sqlitestore: close %s: %w", s.path, store.ErrClosed)
	}
	s.closed = true
	s.life.Unlock()
	s.waits.close()
	err := s.w.stop()
	s.reads.Range(func(_, v any) bool {
		_ = v.(*sql.Stmt).Close()
		return true
	})
	if s.ownDB {
		err = errors.Join(err, s.db.Close())
	}
	return err
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error wrapping
// store.ErrNotAStore that lists the problems found, if any.
func (s *Store) IntegrityCheck(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("sqlitestore: integrity check of %s: %w", s.path, classify(err))
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlitestore: integrity check of %s: %w", s.path, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlitestore: integrity check of %s: %w", s.path, classify(err))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlitestore: integrity check of %s found %d problems (%s); restore from a backup or recover with the sqlite3 shell's .recover: %w",
			s.path, len(problems), strings.Join(problems[:min(len(problems), 5)], "; "), store.ErrNotAStore)
	}
	return nil
}

// WriteStats counts the writer's work since Open.
type WriteStats struct {
	// Commits counts committed transactions; Ops the operations they held.
	// Ops/Commits is the group commit's batching factor.
	Commits, Ops uint64
	// Failed counts operations that failed on their own (a lost lease, a
	// conflict) and were rolled back to their savepoint without failing
	// the rest of their batch.
	Failed uint64
	// Aborted counts batches whose transaction could not begin or commit:
	// every operation in them got the error.
	Aborted uint64
	// BusyRetries counts the times the writer found the database locked by
	// another process beyond BusyTimeout and tried again.
	BusyRetries uint64
	// Syncs counts the WAL fsyncs that made commits durable (Synchronous
	// FULL), and SyncTime is the time they took; one fsync may carry
	// several commits.
	Syncs    uint64
	SyncTime time.Duration
}

// WriteStats returns the writer's counters.
func (s *Store) WriteStats() WriteStats { return s.w.stats() }

// newToken returns a lease token unique across processes: a random prefix
// per store and a counter.
func (s *Store) newToken(worker string) string {
	n := s.tokenSeq.Add(1)
	return fmt.Sprintf("%s#%s%x", worker, s.tokenPrefix, n)
}

// readStmt returns a statement prepared on the read pool, cached.
func (s *Store) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.reads.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.reads.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}
