package pgstore

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/plumb-dev/plumb/store"
)

// The writer commits the hot writes of many goroutines together: group
// commit. Enqueue, Claim, Checkpoint and Finish each send an op; the
// writer takes the ops that queued up while it was busy and sends them as
// one pipelined batch, which the server runs as one transaction: one round
// trip and one WAL flush for the lot. The enqueues are one statement and
// the checkpoints and finishes another, each taking its ops' values as
// arrays (see writes.go); each claim is its own statement. Every caller is
// answered after the COMMIT.
//
// Each row keeps its own checks (the lease token on the run's row, as the
// statement for one op has), so fencing is exactly what it is for a write
// alone: a write under a lost lease changes nothing and is reported to its
// caller alone. A statement the server refuses aborts the whole
// transaction; then each op of the batch is written again alone, so the
// failure stays with the op that caused it.
//
// A batch holds at most one op per run. Before writing, it locks the runs
// it writes in id order, the order in which heartbeats and releases lock
// them too, so that concurrent batches and heartbeats never deadlock.

type opKind uint8

const (
	opEnqueue opKind = iota
	opCheckpoint
	opFinish
	opClaim
	// opFinishTx is a Finish whose rules are in Go (finishTx): a branch
	// run's end, which changes its fork's join, a scrub, a cancellation.
	// A batch that carries any runs in a transaction opened from Go, so
	// that all of them, and the batch's other writes, share one commit.
	opFinishTx
	// opHandoff is an enqueue that leases the run to an idle worker when
	// nothing it could claim waits (handoffSQL): its own statement.
	opHandoff
)

// op is one write. Its results are set afresh each time it is written (a
// batch that fails is written again op by op).
type op struct {
	kind opKind
	key  string // the run id

	run    *store.Run        // enqueue: the run to insert
	lease  store.Lease       // checkpoint, finish
	now    time.Time         // checkpoint, finish: the run's update time
	rec    *store.StepRecord // checkpoint, finish: the step record, or nil
	att    []byte            // rec's attempts as JSON
	dict   []byte            // checkpoint, finish: the attempt's input, that rec and the output are packed against
	out    *store.Outcome    // finish
	review []byte            // finish: the review to open, as JSON
	notify bool              // enqueue, finish: notify the channel in the transaction
	args   []any             // claim: claimSQL's arguments
	pipes  []string          // hand-off: the worker's pipelines
	handed bool              // hand-off: the run was inserted leased
	rv     *store.Review     // finish in Go: the review to open
	// cancelOnly makes a finish in Go end its run cancelled if it is
	// marked so (Run.Cancel), and write nothing otherwise: the end of a
	// marked run that a checkpoint, a release or a claim (cancelOnly
	// names it) found.
	cancelOnly string

	// ok is set when the write took effect: the run was inserted, the
	// checkpoint recorded under a held lease, the run finished.
	ok bool
	// pipeline is the finished run's pipeline.
	pipeline string
	// claimed are a claim's runs, oldest first; resumed the positions of
	// those that have step records.
	claimed []store.Claimed
	resumed []int
	// fail is a finish in Go's own failure (its lease not held), which
	// leaves the rest of its batch alone; wakes are the pipelines it made
	// claimable.
	fail  error
	wakes *wakes

	ctx  context.Context
	err  error
	done chan struct{}
}

type writer struct {
	s        *Store
	ops      chan *op
	maxBatch int
	wg       sync.WaitGroup
	// busy holds, for each writer, when its batch in flight was sent (unix
	// nanoseconds), or 0.
	busy []atomic.Int64
	quit chan struct{}
	// spare wakes the spare writer: the queue is deep.
	spare chan struct{}
	// planned holds when each connection last made its plans.
	plansMu sync.Mutex
	planned map[*pgx.Conn]time.Time

	batches, nops, retried atomic.Uint64
}

// The spare writer steps in when the batches in flight have taken longer
// than stallAfter (one waiting for a row another session holds locked
// would otherwise hold up every write of the process; batches take
// milliseconds), and when spareAt ops or more are queued behind them, so
// that under heavy load two transactions run at once, on two server
// processes, while each still carries many writes.
const (
	stallAfter = 100 * time.Millisecond
	spareAt    = 32
)

func startWriter(s *Store) *writer {
	w := &writer{s: s, ops: make(chan *op, 4*s.cfg.MaxBatch), maxBatch: s.cfg.MaxBatch,
		busy: make([]atomic.Int64, s.cfg.Writers), quit: make(chan struct{}), spare: make(chan struct{}, 1),
		planned: map[*pgx.Conn]time.Time{}}
	for i := range s.cfg.Writers {
		w.wg.Add(1)
		go w.run(&w.busy[i], nil)
	}
	w.wg.Add(1)
	go w.run(new(atomic.Int64), w.needSpare)
	return w
}

// needSpare waits until the queue is deep or every writer's batch in
// flight has taken longer than stallAfter, and reports false when the
// writers stop.
func (w *writer) needSpare() bool {
	t := time.NewTicker(stallAfter)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return false
		case <-w.spare:
			return true
		case <-t.C:
		}
		stuck := len(w.ops) > 0
		for i := range w.busy {
			since := w.busy[i].Load()
			stuck = stuck && since != 0 && time.Since(time.Unix(0, since)) > stallAfter
		}
		if stuck {
			return true
		}
	}
}

// do queues o and waits for its batch to commit. Once queued, o is waited
// for even if ctx ends (a writer skips an op whose ctx ended before its
// batch was sent), so that an error means the op did not happen; only a
// connection lost while the batch was in flight leaves that unknown, as it
// does for a statement sent alone.
func (w *writer) do(ctx context.Context, o *op) error {
	o.ctx, o.done = ctx, make(chan struct{})
	select {
	case w.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	}
	if len(w.ops) >= spareAt {
		select {
		case w.spare <- struct{}{}:
		default:
		}
	}
	<-o.done
	return o.err
}

// stop lets the writers commit what is queued and waits for them. The
// caller guarantees that nothing is sent any more.
func (w *writer) stop() {
	close(w.quit)
	close(w.ops)
	w.wg.Wait()
}

// run takes batches of ops and commits them until the ops channel closes.
// The spare writer (gate set) takes a batch only when gate says it is
// needed; it then takes only ops already queued.
func (w *writer) run(busy *atomic.Int64, gate func() bool) {
	defer w.wg.Done()
	var carry []*op // ops of runs that had an op in the batch already, in arrival order
	open := true
	batch := make([]*op, 0, w.maxBatch)
	keys := make(map[string]struct{}, w.maxBatch)
	for open || len(carry) > 0 {
		if gate != nil && len(carry) == 0 && !gate() {
			return // stopping: the other writers commit what is queued
		}
		batch = batch[:0]
		clear(keys)
		add := func(o *op) bool {
			if _, dup := keys[o.key]; dup || len(batch) >= w.maxBatch {
				return false
			}
			keys[o.key] = struct{}{}
			batch = append(batch, o)
			return true
		}
		var next []*op
		for _, o := range carry {
			if !add(o) {
				next = append(next, o)
			}
		}
		if len(batch) == 0 && open && gate == nil {
			o, ok := <-w.ops
			if !ok {
				open = false
				continue
			}
			add(o)
		}
	fill:
		for open && len(batch) < w.maxBatch {
			select {
			case o, ok := <-w.ops:
				if !ok {
					open = false
				} else if !add(o) {
					next = append(next, o)
				}
			default:
				break fill
			}
		}
		carry = next
		if len(batch) > 0 {
			busy.Store(time.Now().UnixNano())
			w.commit(batch)
			busy.Store(0)
		}
	}
}

// commit writes the batch and answers its ops.
func (w *writer) commit(batch []*op) {
	live := make([]*op, 0, len(batch))
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			close(o.done)
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	slices.SortFunc(live, func(a, b *op) int { return cmp.Compare(a.key, b.key) })
	w.batches.Add(1)
	w.nops.Add(uint64(len(live)))
	err := w.send(live)
	var pe *pgconn.PgError
	var pre pgx.ErrPreprocessingBatch
	switch {
	case err == nil:
	case len(live) > 1 && (errors.As(err, &pe) || errors.As(err, &pre)):
		// The server refused a statement and rolled the batch back (or
		// nothing was sent): write each op alone, so that only the one at
		// fault fails.
		w.retried.Add(1)
		for _, o := range live {
			o.err = w.send([]*op{o})
		}
	default:
		for _, o := range live {
			o.err = err
		}
	}
	for _, o := range live {
		if o.err == nil {
			o.err = o.fail
		}
		if o.err == nil && (o.kind == opFinish || o.kind == opFinishTx) {
			// This process's waiters of the run read it again now that
			// the finish has committed, without waiting for the end
			// channel's notification to come back from the server.
			w.s.wake.ended(o.key, false)
		}
		close(o.done)
	}
}

// send writes the ops in one transaction, retrying once on a fresh
// connection when the first failed before anything was sent, and once
// when the server aborted it to break a deadlock (rolled back: nothing
// was written), which a cancellation marking the running children of a
// parent whose children are ending can cause (see retryDeadlock).
func (w *writer) send(ops []*op) error {
	err := w.sendOnce(ops)
	if err != nil && (pgconn.SafeToRetry(err) || pgCode(err) == codeDeadlock) {
		err = w.sendOnce(ops)
	}
	return err
}

// sendOnce sends the batch's statements in one pipeline, which the server
// runs as one implicit transaction, committed at its end.
func (w *writer) sendOnce(ops []*op) error {
	for _, o := range ops {
		o.ok, o.pipeline, o.claimed, o.resumed, o.fail, o.wakes, o.handed = false, "", nil, nil, nil, nil, false
	}
	var enq, hand, claims, held, inGo []*op
	for _, o := range ops {
		switch o.kind {
		case opClaim:
			claims = append(claims, o)
		case opEnqueue:
			enq = append(enq, o)
		case opHandoff:
			hand = append(hand, o)
		case opCheckpoint, opFinish:
			held = append(held, o)
		case opFinishTx:
			inGo = append(inGo, o)
		}
	}
	if len(inGo) > 0 {
		return w.sendTx(enq, hand, claims, held, inGo)
	}
	ctx := context.Background()
	conn, err := w.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	q := w.s.q
	b := &pgx.Batch{}
	replan := w.replanDue(conn.Conn())
	if replan {
		b.Queue("DISCARD PLANS")
	}
	b.Queue(planSettings)
	if len(held) > 1 {
		// Lock the runs in id order (ops are sorted by run id).
		b.Queue(q.lockRuns, keysOf(held))
	}
	if len(enq) > 0 {
		b.Queue(q.enqueue, enqueueArgs(enq, w.s.cfg.Channel)...)
	}
	queueHandoffs(b, q, hand, w.s.cfg.Channel)
	for _, o := range claims {
		b.Queue(q.claim, o.args...)
	}
	if len(held) > 0 {
		b.Queue(q.held, heldArgs(held, w.s.cfg.Channel, w.s.cfg.EndChannel)...)
	}
	br := conn.SendBatch(ctx, b)
	err = readBatch(br, replan, len(held) > 1, enq, hand, claims, held)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// The batch's statements run with generic plans (planSettings, for the
// batch's transaction only). Left to choose, PostgreSQL plans them afresh
// for each batch, as the arrays' sizes and the claim's limit sway its
// estimates, and planning costs more than running them. A generic plan
// is made once for the sizes of the tables then: one made while they were
// nearly empty reads them whole, which is right for a moment but not once
// they have grown. So every replanEvery each connection discards its
// plans and makes them again. JIT compilation is off: it costs far more
// than these statements take, and a generic plan's estimates on a large
// table may cross jit_above_cost.
const (
	planSettings = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('jit', 'off', true)"
	replanEvery  = 2 * time.Second
)

// replanDue reports whether conn's plans are older than replanEvery,
// and notes that they are made again now.
func (w *writer) replanDue(conn *pgx.Conn) bool {
	w.plansMu.Lock()
	defer w.plansMu.Unlock()
	now := time.Now()
	last, ok := w.planned[conn]
	if ok && now.Sub(last) < replanEvery {
		return false
	}
	if !ok && len(w.planned) >= 64 {
		for c := range w.planned {
			if c.IsClosed() {
				delete(w.planned, c)
			}
		}
	}
	w.planned[conn] = now
	return ok // a new connection has no plans to discard
}

func keysOf(ops []*op) []string {
	ids := make([]string, len(ops))
	for i, o := range ops {
		ids[i] = o.key
	}
	return ids
}

// readBatch reads the statements' results in the order they were queued.
func readBatch(br pgx.BatchResults, replan, locked bool, enq, hand, claims, held []*op) error {
	if replan {
		if _, err := br.Exec(); err != nil { // DISCARD PLANS
			return err
		}
	}
	if _, err := br.Exec(); err != nil { // planSettings
		return err
	}
	if locked {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	if len(enq) > 0 {
		if err := readIDs(br, enq, func(o *op, _ string) { o.ok = true }); err != nil {
			return err
		}
	}
	if err := readHandoffs(br, hand); err != nil {
		return err
	}
	for _, o := range claims {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		if o.claimed, o.resumed, err = scanClaims(rows); err != nil {
			return err
		}
		o.ok = true
	}
	if len(held) > 0 {
		if err := readIDs(br, held, func(o *op, pipeline string) { o.ok, o.pipeline = true, pipeline }); err != nil {
			return err
		}
	}
	return nil
}

// queueHandoffs queues one handoffSQL statement for each hand-off.
func queueHandoffs(b *pgx.Batch, q *queries, hand []*op, channel string) {
	for _, o := range hand {
		b.Queue(q.handoff, append(enqueueArgs([]*op{o}, channel), o.pipes, o.run.CreatedAt)...)
	}
}

// readHandoffs reads the hand-offs' results: the run inserted (ok), and
// whether it is leased (handed).
func readHandoffs(br pgx.BatchResults, hand []*op) error {
	for _, o := range hand {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var id, status string
		for rows.Next() {
			if err := rows.Scan(&id, &status); err != nil {
				rows.Close()
				return err
			}
			o.ok, o.handed = true, status == string(store.Running)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// readIDs reads rows of (run id, pipeline) and marks the ops they name.
func readIDs(br pgx.BatchResults, ops []*op, mark func(o *op, pipeline string)) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	var id, pipeline string
	for rows.Next() {
		if err := rows.Scan(&id, &pipeline); err != nil {
			return err
		}
		if i, found := slices.BinarySearchFunc(ops, id, func(o *op, id string) int { return cmp.Compare(o.key, id) }); found {
			mark(ops[i], pipeline)
		}
	}
	return rows.Err()
}

// WriteStats counts the store's writes since Open, to see how well they
// batch.
type WriteStats struct {
	// Batches is how many transactions the group-commit writers committed
	// (or tried to); Ops how many writes (enqueues, checkpoints, finishes)
	// they carried.
	Batches, Ops uint64
	// Retried counts batches the server refused, written again op by op.
	Retried uint64
	// Claims is how many claims were made, Claimed how many runs they
	// leased.
	Claims, Claimed uint64
}

// WriteStats reports the store's write counts.
func (s *Store) WriteStats() WriteStats {
	return WriteStats{Batches: s.writer.batches.Load(), Ops: s.writer.nops.Load(), Retried: s.writer.retried.Load(),
		Claims: s.claims.Load(), Claimed: s.claimed.Load()}
}
