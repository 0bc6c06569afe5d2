package sqlitestore

import (
	"context"
	"fmt"

	"github.com/plumb-dev/plumb/store"
)

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
		if _, err := tx.exec(`INSERT OR REPLACE INTO pauses (`+pauseColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.Pipeline, p.Reason, p.By, nanos(p.Since), nanos(p.ProbeAfter), p.ProbeRun); err != nil {
			return err
		}
		return tx.logPause(store.PauseEntry{Pipeline: p.Pipeline, Action: store.Paused, By: p.By, Reason: p.Reason,
			At: p.Since, ProbeAfter: p.ProbeAfter})
	})
}

// ClearPause opens a pipeline's intake again, and logs who resumed it.
func (s *Store) ClearPause(ctx context.Context, r store.Resume) (bool, error) {
	var was bool
	err := s.write(ctx, func(tx *writer) error {
		n, err := affected(tx.exec("DELETE FROM pauses WHERE pipeline = ?", r.Pipeline))
		was = n > 0
		if err != nil || !was {
			return err
		}
		return tx.logPause(store.PauseEntry{Pipeline: r.Pipeline, Action: store.Resumed, By: r.By, Reason: r.Reason,
			At: s.clock.Now()})
	})
	if was {
		s.signal.Notify()
	}
	return was, err
}

const pauseLogColumns = "pipeline, action, by_name, reason, at, probe_after"

// logPause adds an entry to a pipeline's log (migration 0011).
func (tx *writer) logPause(e store.PauseEntry) error {
	_, err := tx.exec("INSERT INTO pause_log ("+pauseLogColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		e.Pipeline, string(e.Action), e.By, e.Reason, nanos(e.At), nanos(e.ProbeAfter))
	return err
}

// PipelineLog returns a pipeline's pauses and resumes, newest first.
func (s *Store) PipelineLog(ctx context.Context, pipeline string, limit int) ([]store.PauseEntry, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	st, err := s.readStmt(ctx, "SELECT "+pauseLogColumns+" FROM pause_log WHERE pipeline = ? ORDER BY id DESC LIMIT ?")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, pipeline, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: the pause log of %s: %w", pipeline, classify(err))
	}
	defer rows.Close()
	out := []store.PauseEntry{}
	for rows.Next() {
		var e store.PauseEntry
		var action string
		var at, probe int64
		if err := rows.Scan(&e.Pipeline, &action, &e.By, &e.Reason, &at, &probe); err != nil {
			return nil, fmt.Errorf("sqlitestore: the pause log of %s: %w", pipeline, err)
		}
		e.Action, e.At, e.ProbeAfter = store.PauseAction(action), fromNanos(at), fromNanos(probe)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: the pause log of %s: %w", pipeline, err)
	}
	return out, nil
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

// Import records a run executed elsewhere as it is, unless its id exists.
// The store keeps a run's input and version as its current attempt's, so
// that attempt takes the run's input and version, and is added (reason
// "imported") when the detail lacks it; the other attempts keep theirs.
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
		// A waiting run waits for a join of this store: one imported from
		// elsewhere has none.
		if !store.ValidID(r.ID) || r.Pipeline == "" || !r.Status.Valid() || r.Status == store.Waiting {
			return fmt.Errorf("sqlitestore: import run %q of pipeline %q with status %q: invalid: %w", r.ID, r.Pipeline, r.Status, store.ErrConflict)
		}
		if err := tx.insertRun(&r); err != nil {
			return err
		}
		current := false
		for _, a := range d.Attempts {
			if a.Attempt == r.Attempt {
				a.Input, a.Version, current = r.Input, r.Version, true
			}
			if err := tx.insertAttempt(r.ID, a); err != nil {
				return err
			}
		}
		if !current {
			if err := tx.insertAttempt(r.ID, store.RunAttempt{Attempt: r.Attempt, Reason: "imported", Input: r.Input,
				Status: r.Status, Step: r.Step, Error: r.Error, Class: r.Class, Version: r.Version,
				StartedAt: r.CreatedAt, FinishedAt: r.FinishedAt}); err != nil {
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
