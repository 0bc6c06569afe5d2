package sqlitestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
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
	if err := s.enter(); err != nil {
		return store.Run{}, false, err
	}
	s.leave()
	if !store.ValidID(nr.ID) || nr.Pipeline == "" {
		return store.Run{}, false, fmt.Errorf("sqlitestore: enqueue: run id %q or pipeline %q invalid: %w", nr.ID, nr.Pipeline, store.ErrConflict)
	}
	var run store.Run
	var created bool
	err := s.write(ctx, func(tx *writer) error {
		run, created = store.Run{}, false
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
			NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads, TraceID: nr.TraceID,
			CreatedAt: now, UpdatedAt: now,
		}
		if nr.ClaimFor != "" {
			s.lease(&r, nr.ClaimFor, nr.Lease, now)
		}
		if err := tx.insertRun(&r); err != nil {
			return err
		}
		if err := tx.insertAttempt(r.ID, store.RunAttempt{Attempt: 1, Reason: "submitted", Input: nr.Input, Status: r.Status, StartedAt: now}); err != nil {
			return err
		}
		run, created = r, true
		return nil
	})
	if err != nil {
		return store.Run{}, false, err
	}
	return run, created, nil
}

func (s *Store) lease(r *store.Run, worker string, d time.Duration, now time.Time) {
	r.Status = store.Running
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = worker, s.newToken(worker), now.Add(d)
	r.UpdatedAt = now
}

func (tx *writer) insertRun(r *store.Run) error {
	var idem any
	if r.IdempotencyKey != "" {
		idem = r.IdempotencyKey
	}
	review, err := reviewBlob(r.Review)
	if err != nil {
		return err
	}
	_, err = tx.exec(`INSERT INTO runs (id, pipeline, status, attempt, idem_key, trigger_source, trigger_ext_id,
		trigger_at, input_hash, input_size, output, step, error, class, not_before, deferrals, lease_owner,
		lease_token, lease_expires, keep_payloads, trace_id, created_at, updated_at, finished_at, review)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Pipeline, string(r.Status), r.Attempt, idem, r.Trigger.Source, r.Trigger.ExternalID,
		nanos(r.Trigger.ReceivedAt), r.InputHash, r.InputSize, blob(r.Output), r.Step, r.Error, int64(r.Class),
		nanos(r.NotBefore), r.Deferrals, r.LeaseOwner, r.LeaseToken, nanos(r.LeaseExpires), boolInt(r.KeepPayloads),
		r.TraceID, nanos(r.CreatedAt), nanos(r.UpdatedAt), nanos(r.FinishedAt), review)
	if isConstraint(err) {
		return fmt.Errorf("sqlitestore: enqueue: run %s exists: %w", r.ID, store.ErrConflict)
	}
	return err
}

func reviewBlob(rv *store.Review) (any, error) {
	if rv == nil {
		return nil, nil
	}
	return jsonBlob(rv)
}

func (tx *writer) insertAttempt(runID string, a store.RunAttempt) error {
	_, err := tx.exec(`INSERT INTO attempts (run_id, attempt, reason, input, status, step, error, class, started_at, finished_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, runID, a.Attempt, a.Reason, blob(a.Input), string(a.Status),
		a.Step, a.Error, int64(a.Class), nanos(a.StartedAt), nanos(a.FinishedAt))
	return err
}

// saveRun writes back what a write may change in a run (its input lives
// in attempts).
func (tx *writer) saveRun(r *store.Run) error {
	review, err := reviewBlob(r.Review)
	if err != nil {
		return err
	}
	_, err = tx.exec(`UPDATE runs SET status = ?, attempt = ?, input_hash = ?, input_size = ?, output = ?,
		step = ?, error = ?, class = ?, not_before = ?, deferrals = ?, lease_owner = ?, lease_token = ?,
		lease_expires = ?, updated_at = ?, finished_at = ?, review = ? WHERE id = ?`,
		string(r.Status), r.Attempt, r.InputHash, r.InputSize, blob(r.Output), r.Step, r.Error, int64(r.Class),
		nanos(r.NotBefore), r.Deferrals, r.LeaseOwner, r.LeaseToken, nanos(r.LeaseExpires),
		nanos(r.UpdatedAt), nanos(r.FinishedAt), review, r.ID)
	return err
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
	err := s.write(ctx, func(tx *writer) error {
		out = nil
		now := s.clock.Now()
		pauses, err := tx.pauses()
		if err != nil {
			return err
		}
		var paused, probes []string
		for name, p := range pauses {
			if len(req.Pipelines) > 0 && !slices.Contains(req.Pipelines, name) {
				continue
			}
			paused = append(paused, name)
			if !p.ProbeAfter.IsZero() && !now.Before(p.ProbeAfter) && p.ProbeRun == "" {
				probes = append(probes, name)
			}
		}
		cands, err := tx.candidates(req.Pipelines, paused, nanos(now), limit)
		if err != nil {
			return err
		}
		for _, name := range probes {
			c, err := tx.candidates([]string{name}, nil, nanos(now), 1)
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
	return out, nil
}

// candidates returns up to limit queued runs due by now and running runs
// whose lease expired before now, of pipelines (all when empty) but not of
// skip, oldest first per kind.
func (tx *writer) candidates(pipelines, skip []string, now int64, limit int) ([]candidate, error) {
	var filter strings.Builder
	args := []any{now}
	switch len(pipelines) {
	case 0:
	case 1:
		filter.WriteString(" AND pipeline = ?")
		args = append(args, pipelines[0])
	default:
		filter.WriteString(" AND pipeline IN (" + placeholders(len(pipelines)) + ")")
		for _, p := range pipelines {
			args = append(args, p)
		}
	}
	if len(skip) > 0 {
		filter.WriteString(" AND pipeline NOT IN (" + placeholders(len(skip)) + ")")
		for _, p := range skip {
			args = append(args, p)
		}
	}
	// One statement for both kinds: each half walks its own partial index
	// in order and stops at limit.
	args = append(args, limit)
	args = append(args, args...)
	q := "SELECT * FROM (SELECT id, pipeline, created_at FROM runs WHERE status = 'queued' AND not_before <= ?" + filter.String() + " ORDER BY created_at, id LIMIT ?)" +
		" UNION ALL SELECT * FROM (SELECT id, pipeline, created_at FROM runs WHERE status = 'running' AND lease_expires < ?" + filter.String() + " ORDER BY created_at, id LIMIT ?)"
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

// claim leases one run and reads its input and current checkpoints.
func (tx *writer) claim(id, worker, token string, now time.Time, lease time.Duration) (store.Claimed, error) {
	r, err := scanRun(tx.row("UPDATE runs SET status = 'running', lease_owner = ?, lease_token = ?, lease_expires = ?, updated_at = ? WHERE id = ?"+returningRunInput,
		worker, token, nanos(now.Add(lease)), nanos(now), id))
	if err != nil {
		return store.Claimed{}, err
	}
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

// held returns the run (without its input) if l is its current lease.
func (tx *writer) held(l store.Lease) (store.Run, error) {
	r, err := scanRun(tx.row(selectRunLite+" WHERE r.id = ?", l.RunID))
	if isNoRows(err) {
		return r, fmt.Errorf("sqlitestore: run %s: %w", l.RunID, store.ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	if r.Status != store.Running || r.LeaseToken != l.Token {
		return r, fmt.Errorf("sqlitestore: run %s (lease %s): %w", l.RunID, l.Token, store.ErrLeaseLost)
	}
	return r, nil
}

// Heartbeat extends leases and reports the runs no longer held under them.
func (s *Store) Heartbeat(ctx context.Context, leases []store.Lease, d time.Duration) ([]string, error) {
	var lost []string
	err := s.write(ctx, func(tx *writer) error {
		lost = nil
		exp := nanos(s.clock.Now().Add(d))
		for _, l := range leases {
			n, err := affected(tx.exec("UPDATE runs SET lease_expires = ? WHERE id = ? AND status = 'running' AND lease_token = ?", exp, l.RunID, l.Token))
			if err != nil {
				return err
			}
			if n == 0 {
				lost = append(lost, l.RunID)
			}
		}
		return nil
	})
	return lost, err
}

// Checkpoint records a step of a held run.
func (s *Store) Checkpoint(ctx context.Context, l store.Lease, rec store.StepRecord) error {
	return s.write(ctx, func(tx *writer) error {
		var pipeline string
		err := tx.row("UPDATE runs SET updated_at = ? WHERE id = ? AND status = 'running' AND lease_token = ? RETURNING pipeline, attempt",
			nanos(s.clock.Now()), l.RunID, l.Token).Scan(&pipeline, &rec.RunAttempt)
		if isNoRows(err) {
			_, err = tx.held(l) // says why: not found, or lease lost
		}
		if err != nil {
			return err
		}
		rec.RunID = l.RunID
		return tx.insertStep(pipeline, &rec)
	})
}

// Finish ends or defers the current attempt of a held run.
func (s *Store) Finish(ctx context.Context, l store.Lease, o store.Outcome) error {
	return s.write(ctx, func(tx *writer) error {
		r, err := tx.held(l)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		var rec *store.StepRecord
		if o.Record != nil {
			c := *o.Record
			c.RunID, c.RunAttempt = r.ID, r.Attempt
			rec = &c
		}
		r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
		r.UpdatedAt = now
		r.Step, r.Error, r.Class = o.Step, o.Error, o.Class
		switch o.Status {
		case store.Queued:
			r.Status, r.NotBefore = store.Queued, o.NotBefore
			r.Deferrals++
		case store.AwaitingReview:
			r.Status = store.AwaitingReview
			if o.Review != nil {
				rv := *o.Review
				rv.CreatedAt = now
				r.Review = &rv
			}
		case store.Succeeded, store.DeadLettered, store.Cancelled:
			r.Status, r.FinishedAt = o.Status, now
			r.Output = o.Output
		default:
			return fmt.Errorf("sqlitestore: finish run %s with status %q: %w", r.ID, o.Status, store.ErrConflict)
		}
		if err := tx.record(&r, rec); err != nil {
			return err
		}
		if err := tx.saveRun(&r); err != nil {
			return err
		}
		if o.Status == store.Queued {
			return nil // a deferral does not end the attempt
		}
		return tx.endAttempt(&r, now)
	})
}

// record appends rec (when not nil) to the run's records and, once a run
// that keeps no payloads has ended, scrubs the run and all its records
// with store.Scrub.
func (tx *writer) record(r *store.Run, rec *store.StepRecord) error {
	if !r.Status.Final() || r.KeepPayloads {
		if rec == nil {
			return nil
		}
		return tx.insertStep(r.Pipeline, rec)
	}
	recs, seqs, err := tx.runSteps(r.ID)
	if err != nil {
		return err
	}
	if rec != nil {
		recs = append(recs, *rec)
	}
	var input []byte
	if err := tx.row("SELECT input FROM attempts WHERE run_id = ? AND attempt = ?", r.ID, r.Attempt).Scan(&input); err != nil && !isNoRows(err) {
		return err
	}
	r.Input = raw(input)
	store.Scrub(r, recs)
	for i, seq := range seqs {
		att, err := attemptsBlob(&recs[i])
		if err != nil {
			return err
		}
		if _, err := tx.exec("UPDATE steps SET input = ?, output = ?, output_hash = ?, output_size = ?, attempts = ? WHERE seq = ?",
			blob(recs[i].Input), blob(recs[i].Output), recs[i].OutputHash, recs[i].OutputSize, att, seq); err != nil {
			return err
		}
	}
	if rec != nil {
		return tx.insertStep(r.Pipeline, &recs[len(recs)-1])
	}
	return nil
}

func (tx *writer) runSteps(id string) ([]store.StepRecord, []int64, error) {
	rows, err := tx.query("SELECT "+stepColumns+" FROM steps WHERE run_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, nil, err
	}
	return scanSteps(rows)
}

// endAttempt copies the run's outcome to its current attempt, as memstore
// does: a final outcome also stamps the end and, without payloads, drops
// the attempt's input.
func (tx *writer) endAttempt(r *store.Run, now time.Time) error {
	if !r.Status.Final() {
		_, err := tx.exec("UPDATE attempts SET status = ?, step = ?, error = ?, class = ? WHERE run_id = ? AND attempt = ?",
			string(r.Status), r.Step, r.Error, int64(r.Class), r.ID, r.Attempt)
		return err
	}
	_, err := tx.exec(`UPDATE attempts SET status = ?, step = ?, error = ?, class = ?, finished_at = ?,
		input = CASE WHEN ? THEN input END WHERE run_id = ? AND attempt = ?`,
		string(r.Status), r.Step, r.Error, int64(r.Class), nanos(now), boolInt(r.KeepPayloads), r.ID, r.Attempt)
	return err
}

// Release gives back held runs for another worker to take at once.
func (s *Store) Release(ctx context.Context, leases []store.Lease) error {
	return s.write(ctx, func(tx *writer) error {
		now := nanos(s.clock.Now())
		for _, l := range leases {
			if _, err := tx.exec(`UPDATE runs SET status = 'queued', lease_owner = '', lease_token = '', lease_expires = 0,
				updated_at = ? WHERE id = ? AND status = 'running' AND lease_token = ?`, now, l.RunID, l.Token); err != nil {
				return err
			}
		}
		return nil
	})
}

// Send records a dead letter as a dead-lettered run (Import of the
// letter's record), unless the run is already in the store: then the
// store's own record is the canonical one.
func (s *Store) Send(ctx context.Context, l *deadletter.Letter) error {
	_, err := s.Import(ctx, l.Record())
	return err
}

// Import records a run executed elsewhere as it is, unless its id exists.
// The store keeps a run's input as its current attempt's input, so that
// attempt takes the run's input, and is added (reason "imported") when
// the detail lacks it.
func (s *Store) Import(ctx context.Context, d store.RunDetail) (bool, error) {
	var created bool
	err := s.write(ctx, func(tx *writer) error {
		created = false
		r := d.Run
		var one int
		err := tx.row("SELECT 1 FROM runs WHERE id = ?", r.ID).Scan(&one)
		if err == nil || !isNoRows(err) {
			return err
		}
		if !store.ValidID(r.ID) {
			return fmt.Errorf("sqlitestore: import run %q: invalid id: %w", r.ID, store.ErrConflict)
		}
		if err := tx.insertRun(&r); err != nil {
			return err
		}
		current := false
		for _, a := range d.Attempts {
			if a.Attempt == r.Attempt {
				a.Input, current = r.Input, true
			}
			if err := tx.insertAttempt(r.ID, a); err != nil {
				return err
			}
		}
		if !current {
			if err := tx.insertAttempt(r.ID, store.RunAttempt{Attempt: r.Attempt, Reason: "imported", Input: r.Input,
				Status: r.Status, Step: r.Step, Error: r.Error, Class: r.Class, StartedAt: r.CreatedAt, FinishedAt: r.FinishedAt}); err != nil {
				return err
			}
		}
		for _, rec := range d.Steps {
			rec.RunID = r.ID
			if err := tx.insertStep(r.Pipeline, &rec); err != nil {
				return err
			}
		}
		created = true
		return nil
	})
	return created, err
}

// pauses reads every pause; there are few.
func (tx *writer) pauses() (map[string]store.Pause, error) {
	rows, err := tx.query("SELECT " + pauseColumns + " FROM pauses")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]store.Pause{}
	for rows.Next() {
		p, err := scanPause(rows)
		if err != nil {
			return nil, err
		}
		out[p.Pipeline] = p
	}
	return out, rows.Err()
}

const pauseColumns = "pipeline, reason, by_name, since, probe_after, probe_run"

func scanPause(sc rowScanner) (store.Pause, error) {
	var p store.Pause
	var since, probe int64
	err := sc.Scan(&p.Pipeline, &p.Reason, &p.By, &since, &probe, &p.ProbeRun)
	p.Since, p.ProbeAfter = fromNanos(since), fromNanos(probe)
	return p, err
}

// SetPause shuts a pipeline's intake, or updates the pause.
func (s *Store) SetPause(ctx context.Context, p store.Pause) error {
	return s.write(ctx, func(tx *writer) error {
		if p.Since.IsZero() {
			p.Since = s.clock.Now()
		}
		_, err := tx.exec(`INSERT OR REPLACE INTO pauses (`+pauseColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.Pipeline, p.Reason, p.By, nanos(p.Since), nanos(p.ProbeAfter), p.ProbeRun)
		return err
	})
}

// ClearPause opens a pipeline's intake again.
func (s *Store) ClearPause(ctx context.Context, pipeline string) (bool, error) {
	var was bool
	err := s.write(ctx, func(tx *writer) error {
		n, err := affected(tx.exec("DELETE FROM pauses WHERE pipeline = ?", pipeline))
		was = n > 0
		return err
	})
	return was, err
}

// GetPause returns the pipeline's pause, or nil.
func (s *Store) GetPause(ctx context.Context, pipeline string) (*store.Pause, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	st, err := s.readStmt(ctx, "SELECT "+pauseColumns+" FROM pauses WHERE pipeline = ?")
	if err != nil {
		return nil, err
	}
	p, err := scanPause(st.QueryRowContext(ctx, pipeline))
	if isNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: get pause of %s: %w", pipeline, err)
	}
	return &p, nil
}
