package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/plumb-dev/plumb/store"
)

// RegisterPipeline records (or updates) a pipeline's definition.
func (s *Store) RegisterPipeline(ctx context.Context, def store.PipelineDef) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	def.UpdatedAt = s.now()
	b, err := jsonBlob(def)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO "+s.q.schema+`.pipelines (name, def, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET def = excluded.def, updated_at = excluded.updated_at`, def.Name, b, def.UpdatedAt)
	return s.wrap("register pipeline "+def.Name, err)
}

// Enqueue adds a run, or returns the run of the same pipeline with the
// same idempotency key. It is one row of a group-commit batch (enqueueSQL):
// the run, its first attempt and the wake-up notification commit together.
func (s *Store) Enqueue(ctx context.Context, nr store.NewRun) (store.Run, bool, error) {
	run, created, _, err := s.enqueue(ctx, nr, nil)
	return run, created, err
}

// EnqueueHandoff is Enqueue, with the run leased to the idle worker to in
// the same transaction when nothing it could claim waits (store.Handoff,
// handoffSQL).
func (s *Store) EnqueueHandoff(ctx context.Context, nr store.NewRun, to store.HandoffTo) (store.Run, bool, *store.Claimed, error) {
	if nr.ClaimFor != "" || nr.Parent != nil || to.Worker == "" {
		return store.Run{}, false, nil, fmt.Errorf("pgstore: hand-off of run %q: a claimed or branch run, or no worker: %w", nr.ID, store.ErrConflict)
	}
	return s.enqueue(ctx, nr, &to)
}

func (s *Store) enqueue(ctx context.Context, nr store.NewRun, to *store.HandoffTo) (store.Run, bool, *store.Claimed, error) {
	if err := s.enter(); err != nil {
		return store.Run{}, false, nil, err
	}
	defer s.leave()
	if !store.ValidID(nr.ID) || nr.Pipeline == "" {
		return store.Run{}, false, nil, fmt.Errorf("pgstore: enqueue: run id %q or pipeline %q invalid: %w", nr.ID, nr.Pipeline, store.ErrConflict)
	}
	now := s.now()
	r := store.Run{
		ID: nr.ID, Pipeline: nr.Pipeline, Status: store.Queued, Attempt: 1,
		Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
		Input: nr.Input, InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
		InputReplaced: nr.InputReplaced, NotBefore: micros(nr.NotBefore), KeepPayloads: nr.KeepPayloads,
		TraceID: nr.TraceID, SpanID: nr.SpanID, CreatedAt: now, UpdatedAt: now, Budget: nr.Budget,
		Version: nr.Version,
	}
	if nr.Parent != nil {
		p := *nr.Parent
		r.Parent = &p
	}
	r.Trigger.ReceivedAt = micros(r.Trigger.ReceivedAt)
	if nr.ClaimFor != "" {
		r.Status = store.Running
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = nr.ClaimFor, s.newToken(nr.ClaimFor)+r.ID, micros(now.Add(nr.Lease))
	}
	wake := r.Status == store.Queued && !r.NotBefore.After(now)
	inTx := wake && s.notes.inTx()
	o := &op{kind: opEnqueue, key: r.ID, run: &r, notify: inTx}
	if to != nil {
		// Leased only if the statement finds the worker free to take it
		// (handoffSQL); the lease is written with the row, or dropped.
		o.kind, o.pipes = opHandoff, to.Pipelines
		if len(o.pipes) == 0 {
			o.pipes = []string{nr.Pipeline}
		}
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = to.Worker, s.newToken(to.Worker)+r.ID, micros(now.Add(to.Lease))
		r.Status = store.Running
	}
	if err := s.writer.do(ctx, o); err != nil {
		return store.Run{}, false, nil, s.wrap("enqueue run "+nr.ID, err)
	}
	if o.ok && o.kind == opHandoff {
		if o.handed {
			s.goLeases.add([]store.Claimed{{Run: r, Lease: r.Lease()}})
			return r, true, &store.Claimed{Run: r, Lease: r.Lease()}, nil
		}
		r.Status, r.LeaseOwner, r.LeaseToken, r.LeaseExpires = store.Queued, "", "", time.Time{}
		if wake && !inTx {
			s.notes.committed(r.Pipeline)
		}
		return r, true, nil, nil
	}
	if o.ok {
		if wake && !inTx {
			s.notes.committed(r.Pipeline)
		}
		return r, true, nil, nil
	}
	// Nothing inserted: the key names an existing run, or the id is taken.
	if nr.IdempotencyKey != "" {
		got, err := scanRun(s.pool.QueryRow(ctx, s.q.runByIdem, nr.Pipeline, nr.IdempotencyKey))
		if err == nil {
			return got, false, nil, nil
		}
		if !isNoRows(err) {
			return store.Run{}, false, nil, s.wrap("enqueue run "+nr.ID, err)
		}
	}
	return store.Run{}, false, nil, fmt.Errorf("pgstore: enqueue: run %s exists: %w", nr.ID, store.ErrConflict)
}

// Claim leases runnable runs, oldest first, in one statement of a
// group-commit batch (see claimSQL): SELECT ... FOR NO KEY UPDATE SKIP
// LOCKED, the probe of a paused pipeline, then UPDATE. Runs that have step records (resumed,
// replayed, approved) cost one more query, for all of them at once, to
// read their checkpoints; fresh runs none. An expired run marked
// cancelled is ended instead of returned (endMarkedClaims).
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) ([]store.Claimed, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	limit := max(req.Limit, 1)
	now := s.now()
	pipelines := req.Pipelines
	if pipelines == nil {
		pipelines = []string{}
	}
	out, resumed, err := s.claim(ctx, now, pipelines, limit, req)
	if err != nil {
		return nil, s.wrap("claim", err)
	}
	out, resumed = s.endMarkedClaims(ctx, out, resumed)
	s.claims.Add(1)
	s.claimed.Add(uint64(len(out)))
	s.goLeases.add(out)
	for _, c := range out {
		s.dicts.Put(c.Run.ID, c.Run.Attempt, c.Run.Input)
	}
	if err := s.fetchCheckpoints(ctx, out, resumed); err != nil {
		s.releaseClaims(out) // claimed, but useless without their checkpoints
		return nil, s.wrap("claim", err)
	}
	return out, nil
}

// claim runs the claim statement: for named pipelines, in a batch of the
// group-commit writer, so that it shares a commit with the writes queued
// meanwhile (those that finished the runs it replaces, typically).
func (s *Store) claim(ctx context.Context, now time.Time, pipelines []string, limit int, req store.ClaimRequest) ([]store.Claimed, []int, error) {
	args := []any{now, pipelines, limit, req.Worker, s.newToken(req.Worker), now.Add(req.Lease)}
	if len(pipelines) == 0 {
		rows, err := s.pool.Query(ctx, s.q.claimAll, args...)
		if err != nil {
			return nil, nil, err
		}
		return scanClaims(rows)
	}
	o := &op{kind: opClaim, key: "\x00claim" + strconv.FormatUint(s.claimSeq.Add(1), 36), args: args}
	if err := s.writer.do(ctx, o); err != nil {
		return nil, nil, err
	}
	return o.claimed, o.resumed, nil
}

// endMarkedClaims ends cancelled the runs a claim took whose expired
// leases were of runs marked cancelled (their workers died), and returns
// the others, with the positions of those resumed. A run whose end fails
// here is left leased to this claim, and its lease expires again.
func (s *Store) endMarkedClaims(ctx context.Context, out []store.Claimed, resumed []int) ([]store.Claimed, []int) {
	n := 0
	for _, c := range out {
		if c.Run.Cancel != nil {
			n++
		}
	}
	if n == 0 {
		return out, resumed
	}
	var keep []store.Claimed // nil when none is left, as a claim of nothing returns
	var kept []int
	at := map[int]int{} // old position -> new
	for i, c := range out {
		if c.Run.Cancel == nil {
			at[i] = len(keep)
			keep = append(keep, c)
			continue
		}
		if err := s.endMarked(ctx, c.Lease, "claim"); err != nil && !errors.Is(err, store.ErrCancelled) {
			s.log.Warn("pgstore: could not end a claimed run marked cancelled; its lease will expire",
				slog.String("run", c.Run.ID), slog.String("error", err.Error()))
		}
	}
	for _, j := range resumed {
		if k, ok := at[j]; ok {
			kept = append(kept, k)
		}
	}
	return keep, kept
}

// releaseClaims gives back runs a failed Claim leased, so that they need
// not wait for their leases to expire.
func (s *Store) releaseClaims(claimed []store.Claimed) {
	if len(claimed) == 0 {
		return
	}
	leases := make([]store.Lease, len(claimed))
	for i, c := range claimed {
		leases[i] = c.Lease
	}
	ids, tokens := leaseArrays(leases)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.pool.Exec(ctx, s.q.release, ids, tokens, s.now(), s.cfg.Channel, true); err != nil {
		s.log.Warn("pgstore: could not release the runs of a failed claim; their leases will expire",
			slog.Int("runs", len(claimed)), slog.String("error", err.Error()))
	}
}

// scanClaims reads the claimed runs, oldest first, and the positions of
// those that have step records.
func scanClaims(rows pgx.Rows) (out []store.Claimed, resumed []int, err error) {
	defer rows.Close()
	var records []int
	for rows.Next() {
		var n int
		r, err := scanRun(rows, &n)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, store.Claimed{Run: r, Lease: r.Lease()})
		records = append(records, n)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	// RETURNING gives no order: oldest first, as claimed.
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(out[a].Run.CreatedAt.Compare(out[b].Run.CreatedAt), strings.Compare(out[a].Run.ID, out[b].Run.ID))
	})
	sorted := make([]store.Claimed, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
		if records[j] > 0 {
			resumed = append(resumed, i)
		}
	}
	return sorted, resumed, nil
}

// fetchCheckpoints gives the claimed runs at the positions resumed the
// checkpoints of their current attempt, by the rule every store shares
// (store.Checkpoints). A fresh run has none, and costs no query.
func (s *Store) fetchCheckpoints(ctx context.Context, out []store.Claimed, resumed []int) error {
	if len(resumed) == 0 {
		return nil
	}
	ids, attempts := make([]string, len(resumed)), make([]int32, len(resumed))
	for i, j := range resumed {
		ids[i], attempts[i] = out[j].Run.ID, int32(out[j].Run.Attempt)
	}
	rows, err := s.pool.Query(ctx, s.q.claimSteps, ids, attempts)
	if err != nil {
		return err
	}
	recs, _, err := scanSteps(rows)
	if err != nil {
		return err
	}
	byRun := map[string][]store.StepRecord{}
	for _, rec := range recs {
		byRun[rec.RunID] = append(byRun[rec.RunID], rec)
	}
	for _, j := range resumed {
		out[j].Checkpoints = store.Checkpoints(byRun[out[j].Run.ID], out[j].Run.Attempt)
	}
	return nil
}

// Heartbeat extends leases and reports the runs no longer held under
// them, and those marked cancelled, in one statement.
func (s *Store) Heartbeat(ctx context.Context, leases []store.Lease, d time.Duration) ([]string, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if len(leases) == 0 {
		return nil, nil
	}
	ids, tokens := leaseArrays(leases)
	rows, err := s.pool.Query(ctx, s.q.heartbeat, ids, tokens, s.now().Add(d))
	if err != nil {
		return nil, s.wrap("heartbeat", err)
	}
	// A run marked cancelled is reported lost, so that its worker cancels
	// the step, though its lease is extended, so that the worker can give
	// it back.
	held := make(map[string]bool, len(leases))
	var id string
	var marked bool
	if _, err := pgx.ForEachRow(rows, []any{&id, &marked}, func() error { held[id] = !marked; return nil }); err != nil {
		return nil, s.wrap("heartbeat", err)
	}
	var lost []string
	for _, l := range leases {
		if !held[l.RunID] {
			lost = append(lost, l.RunID)
		}
	}
	return lost, nil
}

func leaseArrays(leases []store.Lease) (ids, tokens []string) {
	ids, tokens = make([]string, len(leases)), make([]string, len(leases))
	for i, l := range leases {
		ids[i], tokens[i] = l.RunID, l.Token
	}
	return ids, tokens
}

// Checkpoint records a step of a held run: one row of a group-commit
// batch (heldSQL) that checks the lease and appends the record together.
func (s *Store) Checkpoint(ctx context.Context, l store.Lease, rec store.StepRecord) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	rec.RunID = l.RunID
	att, err := attemptsJSON(&rec)
	if err != nil {
		return err
	}
	o := &op{kind: opCheckpoint, key: l.RunID, lease: l, now: s.now(), rec: &rec, att: att, dict: s.dicts.Get(l.RunID, l.Attempt)}
	err = s.writer.do(ctx, o)
	if err == nil && !o.ok {
		err = s.whyNotHeld(ctx, l, "checkpoint")
	}
	return s.wrap(fmt.Sprintf("checkpoint run %s step %s", l.RunID, rec.Step), err)
}

// whyNotHeld explains a write (op) refused under l: the run does not
// exist, or l is not its current lease, or the run is marked cancelled,
// which ends it cancelled now (endMarked) and refuses the write with
// store.ErrCancelled.
func (s *Store) whyNotHeld(ctx context.Context, l store.Lease, op string) error {
	var status, token string
	var marked bool
	err := s.pool.QueryRow(ctx, s.q.leaseState, l.RunID).Scan(&status, &token, &marked)
	switch {
	case isNoRows(err):
		return fmt.Errorf("pgstore: run %s: %w", l.RunID, store.ErrNotFound)
	case err != nil:
		return err
	case marked && status == string(store.Running) && token == l.Token:
		return s.endMarked(ctx, l, op)
	}
	return fmt.Errorf("pgstore: run %s (lease %s; the run is %s): %w", l.RunID, l.Token, status, store.ErrLeaseLost)
}

// Release gives back held runs for another worker to take at once; a run
// marked cancelled ends cancelled instead.
func (s *Store) Release(ctx context.Context, leases []store.Lease) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if len(leases) == 0 {
		return nil
	}
	for _, l := range leases {
		s.goLeases.take(l.Token, store.Queued)
	}
	ids, tokens := leaseArrays(leases)
	inTx := s.notes.inTx()
	var pipelines, marked []string
	var notified int
	err := s.pool.QueryRow(ctx, s.q.release, ids, tokens, s.now(), s.cfg.Channel, inTx).Scan(&pipelines, &notified, &marked)
	if err != nil {
		return s.wrap("release", err)
	}
	if !inTx {
		s.notes.committed(pipelines...)
	}
	// The runs marked cancelled end cancelled instead (their leases are
	// still held).
	for _, id := range marked {
		for _, l := range leases {
			if l.RunID != id {
				continue
			}
			if err := s.endMarked(ctx, l, "release"); err != nil && !errors.Is(err, store.ErrCancelled) {
				return s.wrap("release run "+id, err)
			}
		}
	}
	return nil
}

// SetPause shuts a pipeline's intake, or updates the pause.
func (s *Store) SetPause(ctx context.Context, p store.Pause) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if p.Since.IsZero() {
		p.Since = s.now()
	}
	// One statement: the pause and its entry in the log (migration 0012).
	_, err := s.pool.Exec(ctx, "WITH p AS (INSERT INTO "+s.q.schema+".pauses ("+pauseCols+`) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (pipeline) DO UPDATE SET reason = excluded.reason, by_name = excluded.by_name, since = excluded.since,
		probe_after = excluded.probe_after, probe_run = excluded.probe_run RETURNING pipeline)
		INSERT INTO `+s.q.schema+".pause_log ("+pauseLogCols+`) SELECT p.pipeline, 'paused', $3::text, $2::text, $4::timestamptz, $5::timestamptz FROM p`,
		p.Pipeline, p.Reason, p.By, p.Since, ts(p.ProbeAfter), p.ProbeRun)
	return s.wrap("pause "+p.Pipeline, err)
}

// ClearPause opens a pipeline's intake again, logs who resumed it, and
// wakes the workers.
func (s *Store) ClearPause(ctx context.Context, r store.Resume) (bool, error) {
	if err := s.enter(); err != nil {
		return false, err
	}
	defer s.leave()
	var n int
	err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM `+s.q.schema+`.pauses WHERE pipeline = $1 RETURNING pipeline),
		l AS (INSERT INTO `+s.q.schema+`.pause_log (`+pauseLogCols+`) SELECT d.pipeline, 'resumed', $3::text, $4::text, $5::timestamptz, NULL::timestamptz FROM d)
		SELECT count(*) FROM d, pg_notify($2, d.pipeline) AS n`, r.Pipeline, s.cfg.Channel, r.By, r.Reason, s.now()).Scan(&n)
	if err != nil {
		return false, s.wrap("clear the pause of "+r.Pipeline, err)
	}
	return n > 0, nil
}

const pauseLogCols = "pipeline, action, by_name, reason, at, probe_after"

// PipelineLog returns a pipeline's pauses and resumes, newest first.
func (s *Store) PipelineLog(ctx context.Context, pipeline string, limit int) ([]store.PauseEntry, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	rows, err := s.pool.Query(ctx, "SELECT "+pauseLogCols+" FROM "+s.q.schema+".pause_log WHERE pipeline = $1 ORDER BY id DESC LIMIT $2", pipeline, limit)
	if err != nil {
		return nil, s.wrap("read the pause log of "+pipeline, err)
	}
	out, err := collect(rows, func(row pgx.CollectableRow) (store.PauseEntry, error) {
		var e store.PauseEntry
		var action string
		var at, probe pgtype.Timestamptz
		err := row.Scan(&e.Pipeline, &action, &e.By, &e.Reason, &at, &probe)
		e.Action, e.At, e.ProbeAfter = store.PauseAction(action), fromTS(at), fromTS(probe)
		return e, err
	})
	if err != nil {
		return nil, s.wrap("read the pause log of "+pipeline, err)
	}
	if out == nil {
		out = []store.PauseEntry{}
	}
	return out, nil
}

// GetPause returns the pipeline's pause, or nil.
func (s *Store) GetPause(ctx context.Context, pipeline string) (*store.Pause, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	p, err := scanPause(s.pool.QueryRow(ctx, "SELECT "+pauseCols+" FROM "+s.q.schema+".pauses WHERE pipeline = $1", pipeline))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("get the pause of "+pipeline, err)
	}
	return &p, nil
}
