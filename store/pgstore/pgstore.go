package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Clock stamps every record and decides lease expiry and NotBefore: its
	// readings go to the server as query parameters, and the server's own
	// now() is never used. Every host sharing a store must therefore keep
	// its clock in sync (NTP). Defaults to retry.SystemClock.
	Clock retry.Clock
	// Schema holds the store's tables, so that they live apart from the
	// application's. It is created if missing (which needs the CREATE
	// privilege on the database). Defaults to "plumb".
	Schema string
	// Channel is the LISTEN/NOTIFY channel that wakes idle workers: every
	// write that makes a run claimable notifies it with the pipeline's
	// name. At most 63 bytes. Defaults to Schema + "_wake".
	Channel string
	// EndChannel is the LISTEN/NOTIFY channel that wakes WaitRun: every
	// write that ends a run (succeeded, dead-lettered, cancelled) or parks
	// it (awaiting review, held) notifies it with the run's id in its
	// transaction. At most 63 bytes. Defaults to Schema + "_ended".
	EndChannel string
	// NotifyEvery is the shortest interval between two notifications this
	// store sends for one pipeline. A write in between does not notify in
	// its own transaction (a notifying commit takes a lock that serialises
	// all notifying commits); one notification follows once the interval
	// has passed. Defaults to 10ms; negative notifies on every write.
	NotifyEvery time.Duration
	// Writers is how many group-commit writers send the hot writes
	// (Enqueue, Claim, Checkpoint, Finish): each takes the writes that
	// queued up while it was busy and commits them in one transaction, in
	// one round trip, holding a pool connection while it does. One writer
	// makes the largest batches, so the least work for the server per
	// write; more lower the wait of a write under light load. Defaults
	// to 1.
	Writers int
	// MaxBatch caps the writes of one such transaction. Defaults to 256.
	MaxBatch int
	// SkipMigrate leaves the schema alone at New and Open: the schema
	// must then be current already (Migrate it first), or New fails.
	// Defaults to false: New and Open migrate.
	SkipMigrate bool
	// Logger reports what the store recovers from (a lost LISTEN
	// connection). Defaults to slog.Default().
	Logger *slog.Logger
}

// Defaults, as documented on Config's fields.
const (
	DefaultSchema      = "plumb"
	DefaultNotifyEvery = 10 * time.Millisecond
	DefaultWriters     = 1
	DefaultMaxBatch    = 256
	// DefaultConnectTimeout bounds each connection attempt of a pool Open
	// makes, when the DSN sets no connect_timeout.
	DefaultConnectTimeout = 10 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if c.Clock == nil {
		c.Clock = retry.SystemClock
	}
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Channel == "" {
		c.Channel = c.Schema + "_wake"
	}
	if c.EndChannel == "" {
		c.EndChannel = c.Schema + "_ended"
	}
	if len(c.Schema) > 63 || len(c.Channel) > 63 || len(c.EndChannel) > 63 {
		return c, fmt.Errorf("pgstore: schema %q, channel %q or end channel %q is longer than PostgreSQL's 63-byte limit on names", c.Schema, c.Channel, c.EndChannel)
	}
	if c.EndChannel == c.Channel {
		return c, fmt.Errorf("pgstore: the channel and the end channel are both %q: they carry different notifications", c.Channel)
	}
	if c.NotifyEvery == 0 {
		c.NotifyEvery = DefaultNotifyEvery
	}
	if c.Writers <= 0 {
		c.Writers = DefaultWriters
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Store is a store.Store in a PostgreSQL database, shared by workers on
// many hosts.
type Store struct {
	cfg     Config
	clock   retry.Clock
	log     *slog.Logger
	pool    *pgxpool.Pool
	ownPool bool
	q       *queries
	where   string // the server and schema, for messages; never the password

	// life guards closing: every call holds it shared while it runs, so
	// Close waits for calls in flight and later calls see closed.
	life   sync.RWMutex
	closed bool

	tokenPrefix string
	tokenSeq    atomic.Uint64
	notes       *notifier
	wake        *listener
	writer      *writer

	claims, claimed, claimSeq atomic.Uint64
	// branchLeases are the leases of branch runs this store's claims
	// handed out (see Finish).
	goLeases leaseHints
	// dicts are the inputs of the attempts this store's claims hold, that
	// their records and outputs are packed against (codec.go).
	dicts storekit.Dicts
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Waker = (*Store)(nil)
)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string, pool settings such as pool_max_conns included), checks that it
// can, and migrates the schema unless cfg says not to. The store owns the
// pool and closes it on Close. A wrong DSN, an unreachable server, a
// refused password or a missing database give an error that names the
// server (never the password) and says what to check.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: the DSN does not parse; want postgres://user:password@host:5432/database or key=value pairs: %w", err)
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open %s: %w", describe(pc), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connectError("open", pc, err)
	}
	s, err := newStore(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New makes a store on a pool the caller owns (Close leaves it open) and
// migrates the schema unless cfg says not to; the migration waits for one
// another process may be running. To bound that wait, set SkipMigrate and
// call Migrate with a context. The pool must use READ COMMITTED,
// PostgreSQL's default: a claim reads the checkpoints of the runs it took
// in a statement of its own, which must see every checkpoint committed
// before the claim.
func New(pool *pgxpool.Pool, cfg Config) (*Store, error) {
	return newStore(context.Background(), pool, cfg)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pc := pool.Config()
	s := &Store{cfg: c, clock: c.Clock, log: c.Logger, pool: pool,
		q: buildQueries(c.Schema), where: describe(pc) + " schema " + c.Schema}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.tokenPrefix = hex.EncodeToString(b[:])
	s.notes = newNotifier(s)
	s.wake = newListener(s)
	if c.SkipMigrate {
		err = s.checkVersion(ctx)
	} else {
		err = s.Migrate(ctx)
	}
	if err != nil {
		return nil, err
	}
	s.writer = startWriter(s)
	return s, nil
}

// describe names the server and database of a pool's config, without the
// password: postgres://user@host:port/database.
func describe(pc *pgxpool.Config) string {
	cc := pc.ConnConfig
	return fmt.Sprintf("postgres://%s@%s/%s", cc.User, hostPort(cc.Host, cc.Port), cc.Database)
}

func hostPort(host string, port uint16) string {
	if strings.HasPrefix(host, "/") {
		return host // a Unix socket directory
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

// Pool returns the store's connection pool, for applications that want
// to write their own rows in the same database.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.cfg.Schema }

// enter marks a call in flight; it fails once the store is closed.
func (s *Store) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return fmt.Errorf("pgstore: %s: %w", s.where, store.ErrClosed)
	}
	return nil
}

func (s *Store) leave() { s.life.RUnlock() }

// Close waits for calls in flight, stops the LISTEN connection and the
// pending notifications, and closes the pool if Open made it. Later calls
// fail with store.ErrClosed; Close itself may be called again.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return nil
	}
	s.closed = true
	s.life.Unlock()
	s.wake.stop()
	s.writer.stop()
	s.notes.stop()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// now reads the clock at the precision PostgreSQL keeps (microseconds), so
// that what a call returns equals what a later read finds.
func (s *Store) now() time.Time { return s.clock.Now().Truncate(time.Microsecond).UTC() }

// newToken returns a lease token prefix unique across processes: the
// worker, a random prefix per store and a counter. A claim appends each
// run's id.
func (s *Store) newToken(worker string) string {
	return worker + "#" + s.tokenPrefix + strconv.FormatUint(s.tokenSeq.Add(1), 36) + "."
}

// tx runs fn in a transaction, committed when fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// wrap adds what failed to an error, leaving the store's sentinels and
// pgx's errors matchable with errors.Is and errors.As.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) ||
		errors.Is(err, store.ErrNeedsInput) || errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrFinal) ||
		errors.Is(err, store.ErrCancelled) {
		if strings.HasPrefix(err.Error(), "pgstore:") {
			return err
		}
		return fmt.Errorf("pgstore: %s: %w", op, err)
	}
	return fmt.Errorf("pgstore: %s on %s: %w", op, s.where, err)
}
