package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// A Finish whose rules are in Go (finishTx: a branch run's end, which
// changes its fork's join; a scrub; a cancellation) is an op of the
// group-commit writer too (opFinishTx). A batch that carries any runs in
// a transaction opened from Go instead of one pipelined statement list:
//
//  1. one pipeline: the lock of every run the batch writes, in id order;
//     the enqueues and the held writes as ever (heldSQL); then the locks
//     of the joins the Go finishes change, in (parent, index) order, with
//     those of the runs they cancel;
//  2. each Go finish in turn (finishTx), under those locks: the join's
//     rules exactly as for a finish alone (storekit.JoinChange, Releases,
//     Settle, the cancel hook), a settled parent's row locked last;
//  3. the claims, then the notifications, then one COMMIT.
//
// So the ends of many children of one fork, and of many forks, share one
// commit and wait for the join's lock once per batch rather than once per
// child. The lock order is the one every write keeps: runs, then their
// joins, then parents; the joins of a batch are all taken at once, in
// order, so that two batches never take two joins in opposite orders.
// The claims come last so that a batch waits for no join while holding a
// run it claimed (the cancel hook locks a parent's joins, then its queued
// children). A finish whose lease is not held fails alone; any failure of
// the server rolls the batch back and each op is written again alone
// (writer.commit), as for the other ops.

// lockJoinsSQL locks, in order, the joins of the forks the runs $1 belong
// to and those of the forks of the runs $2, and of the runs $3 marked
// cancelled (the batch holds their rows locked, so the mark stands).
const lockJoinsSQL = `SELECT j.parent_id, j.idx FROM {s}.joins j
	WHERE (j.parent_id, j.idx) IN (SELECT r.parent_id, r.parent_index FROM {s}.runs r WHERE r.id = ANY($1::text[]))
		OR j.parent_id = ANY($2::text[])
		OR j.parent_id IN (SELECT r.id FROM {s}.runs r WHERE r.id = ANY($3::text[]) AND r.cancel_at IS NOT NULL)
	ORDER BY j.parent_id, j.idx FOR NO KEY UPDATE`

// refused is a write that fails alone, leaving the rest of its batch to
// commit: its lease is not held (nothing was written for it), or its run
// was marked cancelled (it ended cancelled instead, which commits).
type refused struct{ err error }

func (e *refused) Error() string { return e.err.Error() }
func (e *refused) Unwrap() error { return e.err }

// errMarked: a batch's Go finishes include a run marked cancelled, which
// finishMany leaves to finishTx, having written nothing.
var errMarked = errors.New("pgstore: a run of the batch is marked cancelled")

// sendTx writes a batch that carries Go finishes (inGo) in one
// transaction.
func (w *writer) sendTx(enq, hand, claims, held, inGo []*op) error {
	ctx := context.Background()
	s := w.s
	q := s.q
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	b := &pgx.Batch{}
	replan := w.replanDue(conn.Conn())
	if replan {
		b.Queue("DISCARD PLANS")
	}
	b.Queue(planSettings)
	keys := append(keysOf(held), keysOf(inGo)...)
	slices.Sort(keys)
	b.Queue(q.lockRuns, keys)
	if len(enq) > 0 {
		b.Queue(q.enqueue, enqueueArgs(enq, s.cfg.Channel)...)
	}
	queueHandoffs(b, q, hand, s.cfg.Channel)
	if len(held) > 0 {
		b.Queue(q.held, heldArgs(held, s.cfg.Channel, s.cfg.EndChannel)...)
	}
	var ending, cancelling []string
	for _, o := range inGo {
		if o.out.Status != store.Queued {
			ending = append(ending, o.key)
		}
		if o.out.Status == store.Cancelled {
			cancelling = append(cancelling, o.key)
		}
	}
	// A run marked cancelled ends cancelled whatever its outcome: its
	// forks' joins are locked as a cancellation's are.
	b.Queue(q.lockJoins, ending, cancelling, keysOf(inGo))
	br := tx.SendBatch(ctx, b)
	err = readBatch(br, replan, true, enq, hand, nil, held)
	if err == nil {
		_, err = br.Exec() // lockJoins
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	all := newWakes()
	err = errMarked
	if len(cancelling) == 0 {
		err = s.finishMany(ctx, tx, inGo, all)
	}
	if errors.Is(err, errMarked) {
		// A cancellation's hook changes joins as it goes: each finish in
		// turn, as alone.
		all.reset()
		for _, o := range inGo {
			err = s.finishTx(ctx, tx, o.lease, *o.out, o.rv, o.now, o.cancelOnly, all)
			var ref *refused
			if errors.As(err, &ref) {
				o.fail, err = ref.err, nil
				continue
			}
			if err != nil {
				break
			}
			o.ok = true
		}
	}
	if err != nil {
		return err
	}
	// The batch's wake-ups go out in its transaction if any of its Go
	// finishes was to notify in its own, after its commit otherwise.
	inTx := false
	for _, o := range inGo {
		inTx = inTx || o.notify
	}
	for _, o := range inGo {
		o.notify, o.wakes = inTx, all
	}
	b = &pgx.Batch{}
	for _, o := range claims {
		b.Queue(q.claim, o.args...)
	}
	s.queueNotify(b, all, inTx)
	if b.Len() > 0 {
		br := tx.SendBatch(ctx, b)
		err := readClaims(br, claims)
		for i := len(claims); err == nil && i < b.Len(); i++ {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// readClaims reads the claims' results.
func readClaims(br pgx.BatchResults, claims []*op) error {
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
	return nil
}

// leaseHints remembers the leases that this store's claims gave out on
// runs whose end is written in Go (a branch run, whose end changes its
// fork's join; a run that keeps no payloads, scrubbed when it ends), so
// that such a Finish goes to the Go path at once instead of first trying
// heldSQL, which refuses it. It is a hint: a lease it does not know
// (claimed by another store, or forgotten) takes the longer way, with the
// same result. A lease never finished nor released stays until the hints
// reach maxLeaseHints; then they are dropped.
type leaseHints struct {
	mu     sync.Mutex
	tokens map[string]hint
}

// hint is what a lease's run is: a branch run, one that keeps no
// payloads, or both.
type hint uint8

const (
	hintBranch hint = 1 << iota
	hintScrub
)

const maxLeaseHints = 1 << 16

func (h *leaseHints) add(claimed []store.Claimed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range claimed {
		var k hint
		if c.Run.Parent != nil {
			k |= hintBranch
		}
		if !c.Run.KeepPayloads {
			k |= hintScrub
		}
		if k == 0 {
			continue
		}
		if h.tokens == nil || len(h.tokens) >= maxLeaseHints {
			h.tokens = map[string]hint{}
		}
		h.tokens[c.Lease.Token] = k
	}
}

// take forgets the lease token, and reports whether its run's outcome
// out is written in Go (finishTx) for certain.
func (h *leaseHints) take(token string, out store.Status) bool {
	h.mu.Lock()
	k, ok := h.tokens[token]
	delete(h.tokens, token)
	h.mu.Unlock()
	if !ok {
		return false
	}
	final := out.Final()
	return k&hintBranch != 0 && (final || out.Parked()) || k&hintScrub != 0 && final
}

// Statements of finishMany.
const (
	// lockJoinStateSQL is lockJoinsSQL for finishMany: the joins of the
	// forks the runs $1 belong to, locked in order, with their counts.
	lockJoinStateSQL = `SELECT j.parent_id, j.idx, j.step, j.live, j.active, j.branches FROM {s}.joins j
	WHERE (j.parent_id, j.idx) IN (SELECT r.parent_id, r.parent_index FROM {s}.runs r WHERE r.id = ANY($1::text[]))
	ORDER BY j.parent_id, j.idx FOR NO KEY UPDATE`
	// runsForUpdateSQL reads the runs $1, locked (the batch holds their
	// locks already), with the counts of their current attempts' records.
	runsForUpdateSQL = `SELECT {cols}, r.records FROM {s}.runs r WHERE r.id = ANY($1::text[]) ORDER BY r.id FOR NO KEY UPDATE`
	// scrubStepsSQL reads the records of the runs $1 that keep no
	// payloads, to scrub.
	scrubStepsSQL = `SELECT ` + stepCols + ` FROM {s}.steps WHERE run_id IN (
		SELECT id FROM {s}.runs WHERE id = ANY($1::text[]) AND NOT keep_payloads) ORDER BY run_id, seq`
)

// joinState is a fork's join as a batch finds it (locked) and changes it.
type joinState struct {
	parent   string
	index    int
	step     string
	live     int
	active   int
	branches []int32
	changed  bool
	release  bool
	// settler is the run whose end brought live to 0.
	settler *store.Run
}

// finishMany is finishTx for many finishes at once, none a cancellation,
// under the locks of their runs and joins: the same rules, with their
// reads and writes pipelined, each join read once and written once
// (storekit.JoinChange applied in turn to its counts, in run id order),
// its waiting children released once for the batch (storekit.Releases:
// as the ends of a batch only free slots, one release after them all
// leaves what one release after each would), and its parent settled once,
// by the end that brought live to 0.
func (s *Store) finishMany(ctx context.Context, tx pgx.Tx, ops []*op, w *wakes) error {
	q := s.q
	ids, finals := keysOf(ops), []string{}
	for _, o := range ops {
		if o.out.Status.Final() {
			finals = append(finals, o.key)
		}
	}
	b := &pgx.Batch{}
	b.Queue(q.runsForUpdate, ids)
	b.Queue(q.scrubSteps, finals)
	b.Queue(q.lockJoinState, ids)
	br := tx.SendBatch(ctx, b)
	runs := map[string]*store.Run{}
	records := map[string]int{}
	err := func() error {
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var n int
			r, err := scanRun(rows, &n)
			if err != nil {
				rows.Close()
				return err
			}
			runs[r.ID], records[r.ID] = &r, n
		}
		return rows.Err()
	}()
	var recs map[string][]store.StepRecord
	var seqs map[string][]int64
	if err == nil {
		recs, seqs = map[string][]store.StepRecord{}, map[string][]int64{}
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			var all []store.StepRecord
			var allSeqs []int64
			if all, allSeqs, err = scanSteps(rows); err == nil {
				for i, rec := range all {
					recs[rec.RunID] = append(recs[rec.RunID], rec)
					seqs[rec.RunID] = append(seqs[rec.RunID], allSeqs[i])
				}
			}
		}
	}
	type joinKey struct {
		parent string
		index  int
	}
	joins := map[joinKey]*joinState{}
	var order []*joinState
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			for rows.Next() {
				j := &joinState{}
				if err = rows.Scan(&j.parent, &j.index, &j.step, &j.live, &j.active, &j.branches); err != nil {
					break
				}
				joins[joinKey{j.parent, j.index}] = j
				order = append(order, j)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Cancel != nil && r.Status == store.Running {
			return errMarked
		}
	}
	b = &pgx.Batch{}
	for _, o := range ops {
		r, ok := runs[o.key]
		if !ok {
			o.fail = fmt.Errorf("pgstore: run %s: %w", o.key, store.ErrNotFound)
			continue
		}
		if r.Status != store.Running || r.LeaseToken != o.lease.Token {
			o.fail = fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", o.key, o.lease.Token, r.Status, store.ErrLeaseLost)
			continue
		}
		from, n := r.Status, records[r.ID]
		rec := s.applyOutcome(r, *o.out, o.rv, o.now, w)
		if rec != nil {
			n++
		}
		if r.Status.Final() && !r.KeepPayloads {
			rs, sq := recs[r.ID], seqs[r.ID]
			if rec != nil {
				rs = append(rs, *rec)
			}
			storekit.Scrub(r, rs)
			for i, seq := range sq {
				att, err := attemptsBlob(&rs[i])
				if err != nil {
					return err
				}
				b.Queue(q.scrubStep, r.ID, seq, blob(rs[i].Input), blob(rs[i].Output), rs[i].OutputHash, rs[i].OutputSize, att)
			}
			if rec != nil {
				rec = &rs[len(rs)-1]
			}
		}
		if rec != nil {
			if err := s.queueInsertStep(b, r.Pipeline, rec); err != nil {
				return err
			}
		}
		if err := s.queueSaveRun(b, r, n); err != nil {
			return err
		}
		if r.Status != store.Queued {
			s.queueEndAttempt(b, r, o.now)
		}
		o.ok = true
		p := r.Parent
		if p == nil {
			continue
		}
		j := joins[joinKey{p.RunID, p.Index}]
		if j == nil || !slices.Contains(j.branches, int32(p.Branch)) {
			// No join, or not of it (as joinAddSQL finds).
			continue
		}
		live, release := storekit.JoinChange(from, r.Status)
		act := active(r.Status) - active(from)
		if live == 0 && act == 0 && !release {
			continue
		}
		j.live, j.active, j.changed, j.release = j.live+live, j.active+act, true, j.release || release
		if live < 0 && j.live == 0 {
			j.settler = r
		}
	}
	now := ops[0].now
	for _, o := range ops[1:] {
		if o.now.After(now) {
			now = o.now
		}
	}
	var released []*joinState
	for _, j := range order {
		if j.changed {
			b.Queue(q.joinSet, j.parent, j.index, j.live, j.active)
		}
	}
	// The releases come last in the batch, after their joins' updates.
	for _, j := range order {
		if j.changed && j.release {
			b.Queue(q.releaseWaiting, j.parent, j.index, now)
			released = append(released, j)
		}
	}
	br = tx.SendBatch(ctx, b)
	err = func() error {
		for range b.Len() - len(released) {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	}()
	for range released {
		if err != nil {
			break
		}
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			var pipeline string
			_, err = pgx.ForEachRow(rows, []any{&pipeline}, func() error { w.add(pipeline); return nil })
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	// Settle, the parents' rows locked last, in id order (order is).
	for _, j := range order {
		if j.settler == nil {
			continue
		}
		if err := s.settle(ctx, tx, j.parent, j.step, j.settler, now, w); err != nil {
			return err
		}
	}
	return nil
}
