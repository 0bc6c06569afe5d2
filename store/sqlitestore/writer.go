package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// The writer is the store's only writing connection. Every write of every
// goroutine is an op sent to it; it runs the ops that queued up in one
// IMMEDIATE transaction and commits them together: group commit. An op
// that fails gets its own error and leaves no trace; the others in the
// batch commit (see transact). With Synchronous FULL the ops are
// acknowledged only once the syncer has fsynced the WAL past their commit
// (see syncer).

// op is one write: fn runs inside the transaction and leaves its results
// in variables the caller reads once done is closed. fn may run more than
// once (the batch is run again when an op fails after writing), so it sets
// its results afresh each time.
type op struct {
	ctx  context.Context
	fn   func(tx *writer) error
	err  error
	done chan struct{}
	// ended lists the runs fn left in an end state (see WaitRun), for do
	// to tell this process's waiters once the op is acknowledged.
	ended []string
}

type writer struct {
	s        *Store
	conn     *sql.Conn
	ops      chan *op
	finished chan struct{}
	maxBatch int
	maxWait  time.Duration
	// stmts caches the writer's prepared statements; only the writer's
	// goroutine touches it.
	stmts map[string]*sql.Stmt
	// wrote tells whether the op running has changed the database, dirty
	// whether the transaction has.
	wrote, dirty bool
	// cur is the op running.
	cur *op
	// sync, with Synchronous FULL, makes commits durable before their ops
	// are acknowledged; nil with NORMAL.
	sync *syncer

	commits, nops, failed, aborted, busy atomic.Uint64
}

// maxCachedStmts bounds the statement cache; rarer shapes of dynamic SQL
// are prepared each time.
const maxCachedStmts = 256

var bg = context.Background()

func startWriter(s *Store, conn *sql.Conn) *writer {
	w := &writer{
		s: s, conn: conn,
		ops:      make(chan *op, 2*s.cfg.MaxBatch),
		finished: make(chan struct{}),
		maxBatch: s.cfg.MaxBatch,
		maxWait:  s.cfg.MaxWait,
		stmts:    map[string]*sql.Stmt{},
	}
	if s.cfg.Synchronous == "FULL" {
		w.sync = startSyncer(s)
	}
	go w.run()
	return w
}

// do runs fn in the writer and waits for its batch to commit. Once the op
// is queued, do waits for it even if ctx ends (the writer skips an op whose
// ctx ended before it ran), so that an error means the op did not happen;
// only when the COMMIT or the fsync after it fails may it have happened.
func (w *writer) do(ctx context.Context, fn func(tx *writer) error) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case w.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-o.done
	if o.err == nil && len(o.ended) > 0 {
		w.s.waits.wake(o.ended)
	}
	return o.err
}

// stop commits what is queued and releases the connection. The caller
// guarantees that nothing is sent any more.
func (w *writer) stop() error {
	close(w.ops)
	<-w.finished
	if w.sync != nil {
		w.sync.stop()
	}
	for _, st := range w.stmts {
		_ = st.Close()
	}
	return w.conn.Close()
}

func (w *writer) stats() WriteStats {
	st := WriteStats{Commits: w.commits.Load(), Ops: w.nops.Load(), Failed: w.failed.Load(),
		Aborted: w.aborted.Load(), BusyRetries: w.busy.Load()}
	if w.sync != nil {
		st.Syncs = w.sync.syncs.Load()
		st.SyncTime = time.Duration(w.sync.syncTime.Load())
	}
	return st
}

func (w *writer) run() {
	defer close(w.finished)
	batch := make([]*op, 0, w.maxBatch)
	for {
		o, ok := <-w.ops
		if !ok {
			return
		}
		batch = w.fill(append(batch[:0], o))
		w.commit(batch)
		clear(batch)
	}
}

// fill adds the ops already queued, and with MaxWait those that arrive
// within it, up to MaxBatch.
func (w *writer) fill(batch []*op) []*op {
	var timeout <-chan time.Time
	if w.maxWait > 0 {
		t := time.NewTimer(w.maxWait)
		defer t.Stop()
		timeout = t.C
	}
	for len(batch) < w.maxBatch {
		select {
		case o, ok := <-w.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
			continue
		default:
		}
		if timeout == nil {
			return batch
		}
		select {
		case o, ok := <-w.ops:
			if !ok {
				return batch
			}
			batch = append(batch, o)
		case <-timeout:
			return batch
		}
	}
	return batch
}

func (w *writer) commit(batch []*op) {
	live := w.skipCancelled(make([]*op, 0, len(batch)), batch)
	if len(live) == 0 {
		return
	}
	live, err := w.transact(live, false)
	if errors.Is(err, errPartial) {
		// An op failed after it had written: start over with a savepoint
		// around each op, so that its writes are undone alone.
		live, err = w.transact(live, true)
	}
	if err != nil {
		w.aborted.Add(1)
		w.s.log.Warn("sqlitestore: write batch failed", "path", w.s.path, "ops", len(live), "error", err)
		for _, o := range live {
			o.err = err
			close(o.done)
		}
		return
	}
	w.commits.Add(1)
	w.nops.Add(uint64(len(live)))
	for _, o := range live {
		if o.err != nil {
			w.failed.Add(1)
		}
	}
	if w.sync != nil {
		w.sync.add(live, w.dirty)
		return
	}
	for _, o := range live {
		close(o.done)
	}
}

// skipCancelled appends to live the ops whose context is still alive and
// answers the others.
func (w *writer) skipCancelled(live, ops []*op) []*op {
	for _, o := range ops {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	return live
}

// errPartial reports an op that failed after writing, in a transaction
// run without savepoints; the transaction has been rolled back.
var errPartial = errors.New("sqlitestore: an op failed after writing")

// transact runs the ops in one transaction and commits it. Without
// savepoints (the fast path: most ops fail, if at all, on a check before
// they write), an op that fails after writing rolls everything back with
// errPartial. With savepoints, a failing op is rolled back alone. Each
// op's own error is left in o.err; transact's error means nothing of the
// batch was kept.
//
// On the fast path, while the syncer is still fsyncing the previous
// commit, transact takes in the ops that arrive before committing: they
// could not be acknowledged before the next fsync anyway, and one commit
// for them all costs less than several. It returns the ops it ran.
func (w *writer) transact(live []*op, savepoints bool) ([]*op, error) {
	if err := w.begin(); err != nil {
		return live, err
	}
	rollback := func(err error) ([]*op, error) {
		_, _ = w.conn.ExecContext(bg, "ROLLBACK")
		return live, err
	}
	for i := 0; i < len(live); i++ {
		o := live[i]
		if !savepoints {
			w.wrote = false
			if o.err = w.call(o); o.err != nil && w.wrote {
				return rollback(errPartial)
			}
			if i == len(live)-1 && w.sync != nil {
				live = w.more(live)
			}
			continue
		}
		if _, err := w.exec("SAVEPOINT op"); err != nil {
			return rollback(fmt.Errorf("sqlitestore: savepoint: %w", err))
		}
		if o.err = w.call(o); o.err != nil {
			if _, err := w.exec("ROLLBACK TO op"); err != nil {
				return rollback(fmt.Errorf("sqlitestore: roll back a failed write (%v): %w", o.err, err))
			}
		}
		if _, err := w.exec("RELEASE op"); err != nil {
			return rollback(fmt.Errorf("sqlitestore: release savepoint: %w", err))
		}
	}
	if _, err := w.exec("COMMIT"); err != nil {
		return rollback(fmt.Errorf("sqlitestore: commit to %s: %w", w.s.path, err))
	}
	return live, nil
}

// more waits, while the syncer is busy and the batch has room, for ops to
// add to the open transaction.
func (w *writer) more(live []*op) []*op {
	for len(live) < w.maxBatch && w.sync.busy() {
		select {
		case o, ok := <-w.ops:
			if !ok {
				return live // closing: commit what there is
			}
			live = w.skipCancelled(live, []*op{o})
		case <-w.sync.idle:
			return live
		}
	}
	return live
}

// begin takes the write lock, waiting (busy_timeout, then retries) while
// another process holds it.
func (w *writer) begin() error {
	w.dirty = false
	deadline := time.Now().Add(w.s.cfg.BusyRetryFor)
	for {
		_, err := w.exec("BEGIN IMMEDIATE")
		if err == nil {
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("sqlitestore: begin a write to %s: %w", w.s.path, err)
		}
		w.busy.Add(1)
		w.s.log.Info("sqlitestore: database busy, retrying", "path", w.s.path, "error", err)
		time.Sleep(5 * time.Millisecond)
	}
}

// call runs the op's function; a panic in it fails that op only.
func (w *writer) call(o *op) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlitestore: write panicked: %v\n%s", p, debug.Stack())
		}
	}()
	w.cur, o.ended = o, o.ended[:0]
	return o.fn(w)
}

// ended notes that the op running left run id in an end state.
func (w *writer) ended(id string) {
	if w.cur != nil {
		w.cur.ended = append(w.cur.ended, id)
	}
}

// stmt returns the cached statement for q, preparing it on first use; nil
// when the cache is full.
func (w *writer) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := w.conn.PrepareContext(bg, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	return st, nil
}

// exec runs a statement that writes (or a transaction control statement).
func (w *writer) exec(q string, args ...any) (res sql.Result, err error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		res, err = w.conn.ExecContext(bg, q, args...)
	} else {
		res, err = st.ExecContext(bg, args...)
	}
	// A failed statement has been undone by SQLite itself.
	w.wrote = w.wrote || err == nil
	w.dirty = w.dirty || w.wrote
	return res, err
}

// query runs a SELECT.
func (w *writer) query(q string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return w.conn.QueryContext(bg, q, args...)
	}
	return st.QueryContext(bg, args...)
}

// queryWrite runs a write with RETURNING that may return several rows.
func (w *writer) queryWrite(q string, args ...any) (*sql.Rows, error) {
	rows, err := w.query(q, args...)
	// SQLite makes every change before the first row is read.
	w.wrote = w.wrote || err == nil
	w.dirty = w.dirty || w.wrote
	return rows, err
}

// row runs a query expected to return at most one row: a SELECT, or a
// write with RETURNING.
func (w *writer) row(q string, args ...any) rowScanner {
	st, err := w.stmt(q)
	if err != nil {
		return errRow{err}
	}
	var r *sql.Row
	if st == nil {
		r = w.conn.QueryRowContext(bg, q, args...)
	} else {
		r = st.QueryRowContext(bg, args...)
	}
	if strings.HasPrefix(q, "SELECT") {
		return r
	}
	return writeRow{r, w}
}

// writeRow notes a write that returned its row.
type writeRow struct {
	r *sql.Row
	w *writer
}

func (r writeRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	r.w.wrote = r.w.wrote || err == nil
	r.w.dirty = r.w.dirty || r.w.wrote
	return err
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// affected returns the rows a statement changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

var errNoRows = sql.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
