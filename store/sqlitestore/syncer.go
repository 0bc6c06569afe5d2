package sqlitestore

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The syncer gives Synchronous FULL its promise (no acknowledged write is
// lost on power loss) without making the writer wait for the disk. The
// writer's connection runs with synchronous=NORMAL, so a COMMIT appends
// to the WAL without an fsync; the writer hands the committed ops to the
// syncer and goes on with the next batch while the syncer fsyncs the WAL
// file and only then acknowledges them. The WAL is append-only between
// checkpoints (which SQLite syncs itself, before the WAL is reused), so
// one fsync makes every commit before it durable: fsync latency overlaps
// the next batch's work, and one fsync carries every batch that committed
// while the previous one ran.
//
// The price: a reader may see a commit before it is durable (a power loss
// in that window takes it back); nothing is acknowledged before it is.

type syncer struct {
	s       *Store
	wal     string
	f       *os.File
	dirDone bool
	mu      sync.Mutex
	pending []*op
	// dirty says whether a pending commit wrote anything: a batch of
	// reads alone (a claim that found nothing) needs no fsync once the
	// commits before it are durable.
	dirty bool
	wake  chan struct{}
	quit  chan struct{}
	// syncing is set while an fsync runs; idle then gets a token.
	syncing  atomic.Bool
	idle     chan struct{}
	finished chan struct{}
	syncs    atomic.Uint64
	syncTime atomic.Int64
}

func startSyncer(s *Store) *syncer {
	y := &syncer{s: s, wal: s.path + "-wal", wake: make(chan struct{}, 1),
		quit: make(chan struct{}), finished: make(chan struct{}), idle: make(chan struct{}, 1)}
	go y.run()
	return y
}

// add queues committed ops for acknowledgement after the next fsync;
// wrote says whether their commit changed the database. Ops that read
// alone are acknowledged in order too, once every commit queued before
// them is durable, but cost no fsync of their own: what they read is
// then durable.
func (y *syncer) add(ops []*op, wrote bool) {
	y.mu.Lock()
	y.pending = append(y.pending, ops...)
	y.dirty = y.dirty || wrote
	y.mu.Unlock()
	select {
	case y.wake <- struct{}{}:
	default:
	}
}

// busy reports whether an fsync is running, clearing a stale idle token
// first so that the next one on idle means this fsync has ended.
func (y *syncer) busy() bool {
	select {
	case <-y.idle:
	default:
	}
	return y.syncing.Load()
}

// stop syncs what is pending and ends the syncer; the writer has stopped.
func (y *syncer) stop() {
	close(y.quit)
	<-y.finished
	if y.f != nil {
		_ = y.f.Close()
	}
}

func (y *syncer) run() {
	defer close(y.finished)
	for {
		select {
		case <-y.wake:
		case <-y.quit:
			y.flush()
			return
		}
		y.flush()
	}
}

func (y *syncer) flush() {
	y.mu.Lock()
	batch, dirty := y.pending, y.dirty
	y.pending, y.dirty = nil, false
	y.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	var err error
	if dirty {
		y.syncing.Store(true)
		err = y.sync()
		y.syncing.Store(false)
	}
	select {
	case y.idle <- struct{}{}:
	default:
	}
	if err != nil {
		// The commits happened but may not survive a power loss; their
		// callers hear so.
		err = fmt.Errorf("sqlitestore: fsync %s: %w", y.wal, err)
		y.s.log.Error("sqlitestore: fsync of the WAL failed; recent writes may not survive a power loss", "path", y.s.path, "error", err)
	}
	for _, o := range batch {
		if err != nil && o.err == nil {
			o.err = err
		}
		close(o.done)
	}
}

func (y *syncer) sync() error {
	if y.f == nil {
		// The WAL exists from the first commit on and, while the writer's
		// connection is open, SQLite never deletes it.
		f, err := os.Open(y.wal)
		if err != nil {
			return err
		}
		y.f = f
	}
	start := time.Now()
	if err := y.f.Sync(); err != nil {
		return err
	}
	y.syncs.Add(1)
	y.syncTime.Add(int64(time.Since(start)))
	if !y.dirDone {
		// The WAL's directory entry must be durable too, once.
		d, err := os.Open(filepath.Dir(y.wal))
		if err != nil {
			return err
		}
		err = d.Sync()
		_ = d.Close()
		if err != nil {
			return err
		}
		y.dirDone = true
	}
	return nil
}
