package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// WaitRun is woken, not polling its run. A write of this process that
// leaves a run in an end state notes it (saveRun), and once the write is
// acknowledged the waiters of that run read it again (writer.do). Writes
// of other processes on the same file are seen by a watcher: while anyone
// waits, one connection asks SQLite every watchEvery whether the file has
// changed since it last looked (PRAGMA data_version, answered from the
// WAL's shared memory without reading the database), and only when it has
// reads which of the waited runs have ended, in one query, and wakes their
// waiters. Nobody waiting costs the hot path one atomic load per write that
// ends a run.

// watchEvery is how often the watcher checks the file for other
// processes' commits.
const watchEvery = 20 * time.Millisecond

// waits holds this process's waiters, by run.
type waits struct {
	s *Store
	// every is how often the watcher looks (watchEvery).
	every time.Duration
	// checks counts the watcher's reads of the waited runs.
	checks atomic.Int64
	// n counts the waiters, so that a write nobody waits for takes no lock.
	n      atomic.Int64
	mu     sync.Mutex
	runs   map[string]map[chan struct{}]struct{}
	watch  *watcher
	closed bool
	// db holds the watcher's connection, apart from the store's pool so
	// that a wait never takes a connection reads need (a pool given to
	// New may have two); opened for the first waiter, closed with the
	// store.
	db *sql.DB
}

// watcher is the one connection that checks the file while anyone waits.
type watcher struct {
	ready chan struct{} // closed once the first version was read (or failed)
	err   error
	conn  *sql.Conn
	stop  chan struct{}
	done  chan struct{} // closed once the connection is given back
}

// add registers a waiter of run id. It returns once the watcher has read
// the file's version, so that a commit after the waiter's first read of
// its run is a change the watcher sees.
func (ws *waits) add(id string) (chan struct{}, error) {
	c := make(chan struct{}, 1)
	ws.mu.Lock()
	if ws.closed {
		ws.mu.Unlock()
		return nil, fmt.Errorf("sqlitestore: %s: %w", ws.s.path, store.ErrClosed)
	}
	if ws.runs == nil {
		ws.runs = map[string]map[chan struct{}]struct{}{}
	}
	if ws.runs[id] == nil {
		ws.runs[id] = map[chan struct{}]struct{}{}
	}
	ws.runs[id][c] = struct{}{}
	ws.n.Add(1)
	w, start := ws.watch, ws.watch == nil
	if start {
		w = &watcher{ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
		ws.watch = w
	}
	ws.mu.Unlock()
	if start {
		w.err = ws.start(w)
		close(w.ready)
	}
	<-w.ready
	if w.err != nil {
		ws.remove(id, c)
		return nil, w.err
	}
	return c, nil
}

// remove unregisters a waiter; the last one stops the watcher.
func (ws *waits) remove(id string, c chan struct{}) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if _, ok := ws.runs[id][c]; !ok {
		return
	}
	delete(ws.runs[id], c)
	if len(ws.runs[id]) == 0 {
		delete(ws.runs, id)
	}
	if ws.n.Add(-1) == 0 && ws.watch != nil {
		close(ws.watch.stop)
		ws.watch = nil
	}
}

// wake tells the waiters of the given runs to read them again.
func (ws *waits) wake(ids []string) {
	if ws.n.Load() == 0 {
		return
	}
	ws.mu.Lock()
	for _, id := range ids {
		for c := range ws.runs[id] {
			notify(c)
		}
	}
	ws.mu.Unlock()
}

// wakeAll tells every waiter to read its run again.
func (ws *waits) wakeAll() {
	ws.mu.Lock()
	for _, cs := range ws.runs {
		for c := range cs {
			notify(c)
		}
	}
	ws.mu.Unlock()
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// close wakes every waiter (each then finds the store closed) and stops
// the watcher, waiting for it to give its connection back.
func (ws *waits) close() {
	ws.mu.Lock()
	ws.closed = true
	w := ws.watch
	if w != nil {
		close(w.stop)
		ws.watch = nil
	}
	ws.mu.Unlock()
	ws.wakeAll()
	if w != nil {
		<-w.done
	}
	if ws.db != nil {
		_ = ws.db.Close()
	}
}

// waited lists the runs waited for.
func (ws *waits) waited() []string {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ids := make([]string, 0, len(ws.runs))
	for id := range ws.runs {
		ids = append(ids, id)
	}
	return ids
}

// start takes the watcher's connection, reads the file's version and
// starts the watch. Only one watcher starts at a time (add), and close
// waits for it, so ws.db needs no lock.
func (ws *waits) start(w *watcher) error {
	if ws.db == nil {
		db, err := sql.Open("sqlite", fileDSN(ws.s.path, ws.s.cfg.BusyTimeout))
		if err != nil {
			close(w.done)
			return fmt.Errorf("sqlitestore: wait on %s: %w", ws.s.path, err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(time.Minute)
		ws.db = db
	}
	conn, err := ws.db.Conn(bg)
	if err != nil {
		close(w.done)
		return fmt.Errorf("sqlitestore: wait on %s: %w", ws.s.path, classify(err))
	}
	v, err := dataVersion(conn)
	if err != nil {
		_ = conn.Close()
		close(w.done)
		return fmt.Errorf("sqlitestore: wait on %s: %w", ws.s.path, classify(err))
	}
	w.conn = conn
	go ws.loop(w, v)
	return nil
}

func dataVersion(conn *sql.Conn) (int64, error) {
	var v int64
	err := conn.QueryRowContext(bg, "PRAGMA data_version").Scan(&v)
	return v, err
}

// endedQuery picks, of the waited runs (a JSON list of ids), those that
// are in an end state or gone.
const endedQuery = `SELECT value FROM json_each(?) WHERE NOT EXISTS
	(SELECT 1 FROM runs WHERE id = value AND status IN ('queued', 'running', 'waiting'))`

// loop checks the file every watchEvery until stopped; after a change it
// wakes the waiters of the runs that ended. A failed check wakes every
// waiter, so that a broken watcher delays nobody beyond its next tick.
func (ws *waits) loop(w *watcher, last int64) {
	defer close(w.done)
	defer func() { _ = w.conn.Close() }()
	t := time.NewTicker(ws.every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		v, err := dataVersion(w.conn)
		if err == nil && v == last {
			continue
		}
		var ended []string
		if err == nil {
			ended, err = ws.ended(w.conn)
		}
		if err != nil {
			ws.s.log.Warn("sqlitestore: checking waited runs failed", "path", ws.s.path, "error", err)
			ws.wakeAll()
			continue
		}
		// Only once the runs were read: a failed read looks again.
		last = v
		ws.wake(ended)
	}
}

func (ws *waits) ended(conn *sql.Conn) ([]string, error) {
	ws.checks.Add(1)
	list, err := jsonBlob(ws.waited())
	if err != nil {
		return nil, err
	}
	rows, err := conn.QueryContext(bg, endedQuery, list)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// WaitRun returns the run once it is succeeded, dead-lettered, cancelled,
// awaiting review or held, or ctx's error first. It reads the run when it
// starts and then only when woken: by this process's write that ended it,
// or by the watcher after another process's.
func (s *Store) WaitRun(ctx context.Context, id string) (*store.Run, error) {
	c, err := s.waits.add(id)
	if err != nil {
		return nil, err
	}
	defer s.waits.remove(id, c)
	// c is subscribed before the first read, and keeps a wake-up that
	// comes while the run is read.
	return storekit.WaitRun(ctx, func() <-chan struct{} { return c }, func() (*store.Run, error) {
		r, err := s.readRun(ctx, id)
		return &r, err
	})
}

// readRun reads a run with its input on the read pool.
func (s *Store) readRun(ctx context.Context, id string) (store.Run, error) {
	if err := s.enter(); err != nil {
		return store.Run{}, err
	}
	defer s.leave()
	st, err := s.readStmt(ctx, selectRun+" WHERE r.id = ?")
	if err != nil {
		return store.Run{}, fmt.Errorf("sqlitestore: read run %s: %w", id, err)
	}
	r, err := scanRun(st.QueryRowContext(ctx, id))
	if isNoRows(err) {
		return r, fmt.Errorf("sqlitestore: run %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlitestore: read run %s: %w", id, err)
	}
	return r, nil
}
