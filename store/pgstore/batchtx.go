package pgstore

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/plumb-dev/plumb/store"
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
// to and those of the forks of the runs $2.
const lockJoinsSQL = `SELECT j.parent_id, j.idx FROM {s}.joins j
	WHERE (j.parent_id, j.idx) IN (SELECT r.parent_id, r.parent_index FROM {s}.runs r WHERE r.id = ANY($1::text[]))
		OR j.parent_id = ANY($2::text[])
	ORDER BY j.parent_id, j.idx FOR NO KEY UPDATE`

// notHeld is a finish refused because its lease is not held: nothing was
// written for it.
type notHeld struct{ err error }

func (e *notHeld) Error() string { return e.err.Error() }
func (e *notHeld) Unwrap() error { return e.err }

// sendTx writes a batch that carries Go finishes (inGo) in one
// transaction.
func (w *writer) sendTx(enq, claims, held, inGo []*op) error {
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
	if len(held) > 0 {
		b.Queue(q.held, heldArgs(held, s.cfg.Channel)...)
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
	b.Queue(q.lockJoins, ending, cancelling)
	br := tx.SendBatch(ctx, b)
	err = readBatch(br, replan, true, enq, nil, held)
	if err == nil {
		_, err = br.Exec() // lockJoins
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	notify := wakes{}
	for _, o := range inGo {
		o.wakes = wakes{}
		err := s.finishTx(ctx, tx, o.lease, *o.out, o.rv, o.now, o.wakes)
		var nh *notHeld
		if errors.As(err, &nh) {
			o.fail = nh.err
			continue
		}
		if err != nil {
			return err
		}
		o.ok = true
		if o.notify {
			for p := range o.wakes {
				notify.add(p)
			}
		}
	}
	if len(claims) > 0 || len(notify) > 0 {
		b := &pgx.Batch{}
		for _, o := range claims {
			b.Queue(q.claim, o.args...)
		}
		if len(notify) > 0 {
			b.Queue(q.notify, s.cfg.Channel, notify.list())
		}
		br := tx.SendBatch(ctx, b)
		err := readClaims(br, claims)
		if err == nil && len(notify) > 0 {
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
	return k&hintBranch != 0 && (final || out == store.AwaitingReview) || k&hintScrub != 0 && final
}
