package sqlitestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// write runs fn in the writer's next batch and waits for its commit.
func (s *Store) write(ctx context.Context, fn func(tx *writer) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	return s.w.do(ctx, fn)
}

// RegisterPipeline records (or updates) a pipeline's definition.
func (s *Store) RegisterPipeline(ctx context.Context, def store.PipelineDef) error {
	return s.write(ctx, func(tx *writer) error {
		def.UpdatedAt = s.clock.Now()
		b, err := jsonBlob(def)
		if err != nil {
			return err
		}
		_, err = tx.exec(`INSERT INTO pipelines (name, def, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET def = excluded.def, updated_at = excluded.updated_at`,
			def.Name, b, nanos(def.UpdatedAt))
		return err
	})
}

// Enqueue adds a run, or returns the run of the same pipeline with the
// same idempotency key.
func (s *Store) Enqueue(ctx context.Context, nr store.NewRun) (store.Run, bool, error) {
	run, created, _, err := s.enqueue(ctx, nr, nil)
	return run, created, err
}

// EnqueueHandoff is Enqueue, with the run leased to the idle worker to in
// the same transaction when nothing it could claim waits (store.Handoff).
func (s *Store) EnqueueHandoff(ctx context.Context, nr store.NewRun, to store.HandoffTo) (store.Run, bool, *store.Claimed, error) {
	if nr.ClaimFor != "" || nr.Parent != nil || to.Worker == "" {
		return store.Run{}, false, nil, fmt.Errorf("sqlitestore: hand-off of run %q: a claimed or branch run, or no worker: %w", nr.ID, store.ErrConflict)
	}
	return s.enqueue(ctx, nr, &to)
}

func (s *Store) enqueue(ctx context.Context, nr store.NewRun, to *store.HandoffTo) (store.Run, bool, *store.Claimed, error) {
	if err := s.enter(); err != nil {
		return store.Run{}, false, nil, err
	}
	s.leave()
	if !store.ValidID(nr.ID) || nr.Pipeline == "" {
		return store.Run{}, false, nil, fmt.Errorf("sqlitestore: enqueue: run id %q or pipeline %q invalid: %w", nr.ID, nr.Pipeline, store.ErrConflict)
	}
	var run store.Run
	var created, handed bool
	err := s.write(ctx, func(tx *writer) error {
		run, created, handed = store.Run{}, false, false
		if nr.IdempotencyKey != "" {
			r, err := scanRun(tx.row(selectRun+" WHERE r.pipeline = ? AND r.idem_key = ?", nr.Pipeline, nr.IdempotencyKey))
			if err == nil {
				run = r
				return nil
			}
			if !isNoRows(err) {
				return err
			}
		}
		now := s.clock.Now()
		r := store.Run{
			ID: nr.ID, Pipeline: nr.Pipeline, Status: store.Queued, Attempt: 1,
			Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
			Input: nr.Input, InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
			InputReplaced: nr.InputReplaced, NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads,
			TraceID: nr.TraceID, SpanID: nr.SpanID, CreatedAt: now, UpdatedAt: now,
			Budget: nr.Budget, Version: nr.Version,
		}
		if nr.Parent != nil {
			p := *nr.Parent
			r.Parent = &p
		}
		if nr.ClaimFor != "" {
			s.lease(&r, nr.ClaimFor, nr.Lease, now)
		} else if to != nil {
			ok, err := tx.handoffFree(nr, to, now)
			if err != nil {
				return err
			}
			if ok {
				s.lease(&r, to.Worker, to.Lease, now)
				handed = true
			}
		}
		if err := tx.insertRun(&r); err != nil {
			return err
		}
		if err := tx.insertAttempt(r.ID, store.RunAttempt{Attempt: 1, Reason: "submitted", Input: nr.Input, Status: r.Status,
			Version: nr.Version, StartedAt: now}); err != nil {
			return err
		}
		run, created = r, true
		return nil
	})
	if err != nil {
		return store.Run{}, false, nil, err
	}
	if handed {
		return run, true, &store.Claimed{Run: run, Lease: run.Lease()}, nil
	}
	if created {
		s.signal.Notify()
	}
	return run, created, nil, nil
}

// handoffFree reports whether a new run of nr.Pipeline may be handed to
// the worker to: it is due now, its pipeline is not paused, and nothing
// a Claim of to.Pipelines would take waits (the same selection, limit 1).
func (tx *writer) handoffFree(nr store.NewRun, to *store.HandoffTo, now time.Time) (bool, error) {
	if nr.NotBefore.After(now) {
		return false, nil
	}
	pauses, err := tx.pauses()
	if err != nil {
		return false, err
	}
	if _, paused := pauses[nr.Pipeline]; paused {
		return false, nil
	}
	pipelines := to.Pipelines
	if len(pipelines) == 0 {
		pipelines = []string{nr.Pipeline}
	}
	var claimable []string
	for _, name := range pipelines {
		if p, ok := pauses[name]; ok && (p.ProbeAfter.IsZero() || now.Before(p.ProbeAfter) || p.ProbeRun != "") {
			continue // paused, no probe due: a claim takes nothing of it
		}
		if !slices.Contains(claimable, name) {
			claimable = append(claimable, name)
		}
	}
	if len(claimable) == 0 {
		return true, nil
	}
	q, args := candidatesQuery(claimable, nil, nanos(now), 1)
	cands, err := tx.candidates(q, args)
	return len(cands) == 0, err
}

func (s *Store) lease(r *store.Run, worker string, d time.Duration, now time.Time) {
	r.Status = store.Running
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = worker, s.newToken(worker), now.Add(d)
	r.UpdatedAt = now
}

// candidate is a run Claim may take.
type candidate struct {
	id, pipeline string
	created      int64
}

// Claim leases runnable runs, oldest first. The selection is SQL on the
// queue's partial indexes; the pause and probe rule is memstore's.
func (s *Store) Claim(ctx context.Context, req store.ClaimRequest) ([]store.Claimed, error) {
	limit := max(req.Limit, 1)
	var out []store.Claimed
	var wake bool
	err := s.write(ctx, func(tx *writer) error {
		out, wake = nil, false
		now := s.clock.Now()
		// A marked run whose worker died ends cancelled, paused or not,
		// instead of being claimed again.
		var err error
		if wake, err = tx.cancelExpired(req.Pipelines, now); err != nil {
			return err
		}
		pauses, err := tx.pauses()
		if err != nil {
			return err
		}
		// Paused pipelines are left out of the selection; each one due a
		// probe offers its oldest runnable run.
		var eligible, paused, probes []string
		for name, p := range pauses {
			if len(req.Pipelines) > 0 && !slices.Contains(req.Pipelines, name) {
				continue
			}
			paused = append(paused, name)
			if !p.ProbeAfter.IsZero() && !now.Before(p.ProbeAfter) && p.ProbeRun == "" {
				probes = append(probes, name)
			}
		}
		for _, name := range req.Pipelines {
			if _, ok := pauses[name]; !ok && !slices.Contains(eligible, name) {
				eligible = append(eligible, name)
			}
		}
		var cands []candidate
		if len(req.Pipelines) == 0 || len(eligible) > 0 {
			q, args := candidatesQuery(eligible, paused, nanos(now), limit)
			if cands, err = tx.candidates(q, args); err != nil {
				return err
			}
		}
		for _, name := range probes {
			q, args := candidatesQuery([]string{name}, nil, nanos(now), 1)
			c, err := tx.candidates(q, args)
			if err != nil {
				return err
			}
			cands = append(cands, c...)
		}
		slices.SortFunc(cands, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(a.created, b.created), strings.Compare(a.id, b.id))
		})
		for _, c := range cands {
			if len(out) == limit {
				break
			}
			if p, ok := pauses[c.pipeline]; ok {
				if p.ProbeAfter.IsZero() || now.Before(p.ProbeAfter) || p.ProbeRun != "" {
					continue
				}
				p.ProbeRun = c.id
				pauses[c.pipeline] = p
				if _, err := tx.exec("UPDATE pauses SET probe_run = ? WHERE pipeline = ?", c.id, c.pipeline); err != nil {
					return err
				}
			}
			cl, err := tx.claim(c.id, req.Worker, s.newToken(req.Worker), now, req.Lease)
			if err != nil {
				return err
			}
			out = append(out, cl)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if wake {
		s.signal.Notify()
	}
	return out, nil
}

// candidatesQuery selects up to limit queued runs due by now and up to
// limit running runs whose lease expired before now, of the given
// pipelines (of all but skip when none are given), oldest first within
// each part. INDEXED BY pins the plans that stay fast with a deep queue:
// the queued parts walk a partial index in claim order and stop at limit.
func candidatesQuery(pipelines, skip []string, now int64, limit int) (string, []any) {
	var parts []string
	var args []any
	const cols = "SELECT * FROM (SELECT id, pipeline, created_at FROM runs "
	if len(pipelines) == 0 {
		not := ""
		if len(skip) > 0 {
			not = " AND pipeline NOT IN (" + placeholders(len(skip)) + ")"
		}
		parts = append(parts,
			cols+"INDEXED BY runs_queued WHERE status = 'queued' AND not_before <= ?"+not+" ORDER BY created_at, id LIMIT ?)",
			cols+"INDEXED BY runs_leased WHERE status = 'running' AND lease_expires < ?"+not+" ORDER BY created_at, id LIMIT ?)")
		for range 2 {
			args = append(args, now)
			for _, p := range skip {
				args = append(args, p)
			}
			args = append(args, limit)
		}
		return strings.Join(parts, " UNION ALL "), args
	}
	for _, p := range pipelines {
		parts = append(parts, cols+"INDEXED BY runs_queued_pipeline WHERE status = 'queued' AND pipeline = ? AND not_before <= ? ORDER BY created_at, id LIMIT ?)")
		args = append(args, p, now, limit)
	}
	parts = append(parts, cols+"INDEXED BY runs_leased WHERE status = 'running' AND lease_expires < ? AND pipeline IN ("+placeholders(len(pipelines))+") ORDER BY created_at, id LIMIT ?)")
	args = append(args, now)
	for _, p := range pipelines {
		args = append(args, p)
	}
	args = append(args, limit)
	return strings.Join(parts, " UNION ALL "), args
}

func (tx *writer) candidates(q string, args []any) ([]candidate, error) {
	rows, err := tx.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.pipeline, &c.created); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// claimQuery leases a run and returns it with its input and version.
var claimQuery = "UPDATE runs SET status = 'running', lease_owner = ?, lease_token = ?, lease_expires = ?, updated_at = ? WHERE id = ?" + returningRunInput

// claim leases one run and reads its input and current checkpoints.
func (tx *writer) claim(id, worker, token string, now time.Time, lease time.Duration) (store.Claimed, error) {
	r, err := scanRun(tx.row(claimQuery, worker, token, nanos(now.Add(lease)), nanos(now), id))
	if err != nil {
		return store.Claimed{}, err
	}
	tx.s.dicts.Put(r.ID, r.Attempt, r.Input)
	rows, err := tx.query("SELECT "+stepColumns+" FROM steps WHERE run_id = ? AND run_attempt = ? ORDER BY seq", id, r.Attempt)
	if err != nil {
		return store.Claimed{}, err
	}
	recs, _, err := scanSteps(rows)
	if err != nil {
		return store.Claimed{}, err
	}
	return store.Claimed{Run: r, Lease: r.Lease(), Checkpoints: store.Checkpoints(recs, r.Attempt)}, nil
}

// expiredMarkedQuery lists the running runs whose lease expired before
// now and that were asked to cancel: the expired leases are a short range
// of runs_leased (none while every worker lives), so a claim pays one
// index seek for it.
const expiredMarkedQuery = `SELECT id FROM runs INDEXED BY runs_leased
	WHERE status = 'running' AND lease_expires < ? AND cancel IS NOT NULL`

// cancelExpired ends cancelled the marked runs of the pipelines (all
// when none) whose worker died.
func (tx *writer) cancelExpired(pipelines []string, now time.Time) (bool, error) {
	q, args := expiredMarkedQuery, []any{nanos(now)}
	if len(pipelines) > 0 {
		q += " AND pipeline IN (" + placeholders(len(pipelines)) + ")"
		for _, p := range pipelines {
			args = append(args, p)
		}
	}
	ids, err := tx.ids(q, args...)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	wake := false
	for _, id := range ids {
		r, err := tx.loadRun(id, "cancel")
		if err != nil {
			return false, err
		}
		w, err := tx.endCancelled(&r, *r.Cancel, now)
		if err != nil {
			return false, err
		}
		wake = wake || w
	}
	return wake, nil
}
