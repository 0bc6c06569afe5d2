package memstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/storekit"
)

// Config configures a Store. The zero value is ready to use.
type Config struct {
	// Clock stamps records and decides lease expiry. Defaults to
	// retry.SystemClock; tests pass a retrytest.Clock.
	Clock retry.Clock
}

// Store is an in-memory store.Store.
type Store struct {
	mu        sync.Mutex
	clock     retry.Clock
	runs      map[string]*entry
	idem      map[string]string
	pipelines map[string]store.PipelineDef
	pauses    map[string]store.Pause
	pauseLog  []store.PauseEntry        // oldest first
	schedules map[string]store.Schedule // by name (schedule.go)
	// joins are the forks' joins, by parent id and step index.
	joins map[joinKey]*join
	// kids are the branch runs of each parent, every one it ever forked.
	kids   map[string][]string
	seq    uint64
	closed bool
	signal storekit.Signal
	// ends wakes WaitRun when a run's status changes.
	ends storekit.Broadcast
	// ev holds the events and the waits for them (event.go).
	ev events
}

type entry struct {
	run      store.Run
	attempts []store.RunAttempt
	steps    []store.StepRecord
	// unclassified says the Finish that dead-lettered the run gave up on
	// an unclassified error (storekit.Unclassified), as the SQL stores
	// keep it.
	unclassified bool
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Waker = (*Store)(nil)
)

// Subscribe wakes idle workers when runs may have become claimable.
func (s *Store) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	return s.signal.Subscribe(ctx)
}

// New returns an empty store. The zero Config is the default.
func New(cfg Config) *Store {
	s := &Store{
		clock:     retry.SystemClock,
		runs:      map[string]*entry{},
		idem:      map[string]string{},
		pipelines: map[string]store.PipelineDef{},
		pauses:    map[string]store.Pause{},
		joins:     map[joinKey]*join{},
		kids:      map[string][]string{},
	}
	if cfg.Clock != nil {
		s.clock = cfg.Clock
	}
	return s
}

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

// Close closes the store; later calls fail with store.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// RegisterPipeline records a pipeline's definition.
func (s *Store) RegisterPipeline(_ context.Context, def store.PipelineDef) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	def.UpdatedAt = s.clock.Now()
	s.pipelines[def.Name] = cloneDef(def)
	return nil
}

// Enqueue adds a run, or returns the run with the same idempotency key.
func (s *Store) Enqueue(_ context.Context, nr store.NewRun) (store.Run, bool, error) {
	if err := s.lock(); err != nil {
		return store.Run{}, false, err
	}
	defer s.mu.Unlock()
	if !store.ValidID(nr.ID) || nr.Pipeline == "" {
		return store.Run{}, false, fmt.Errorf("memstore: enqueue: run id %q or pipeline %q invalid: %w", nr.ID, nr.Pipeline, store.ErrConflict)
	}
	if nr.IdempotencyKey != "" {
		if id, ok := s.idem[nr.Pipeline+"\x00"+nr.IdempotencyKey]; ok {
			return cloneRun(s.runs[id].run), false, nil
		}
	}
	if _, ok := s.runs[nr.ID]; ok {
		return store.Run{}, false, fmt.Errorf("memstore: enqueue: run %s exists: %w", nr.ID, store.ErrConflict)
	}
	now := s.clock.Now()
	r := store.Run{
		ID: nr.ID, Pipeline: nr.Pipeline, Status: store.Queued, Attempt: 1,
		Trigger: nr.Trigger, IdempotencyKey: nr.IdempotencyKey,
		Input: clone(nr.Input), InputHash: store.Hash(nr.Input), InputSize: len(nr.Input),
		InputReplaced: nr.InputReplaced, NotBefore: nr.NotBefore, KeepPayloads: nr.KeepPayloads,
		TraceID: nr.TraceID, SpanID: nr.SpanID, CreatedAt: now, UpdatedAt: now,
		Parent: nr.Parent, Budget: nr.Budget, Version: nr.Version,
	}
	if r.Parent != nil {
		p := *r.Parent
		r.Parent = &p
	}
	if nr.ClaimFor != "" {
		s.claim(&r, nr.ClaimFor, nr.Lease, now)
	}
	e := &entry{run: r, attempts: []store.RunAttempt{{
		Attempt: 1, Reason: "submitted", Version: nr.Version, Input: clone(nr.Input), Status: r.Status, StartedAt: now,
	}}}
	s.runs[r.ID] = e
	if nr.IdempotencyKey != "" {
		s.idem[nr.Pipeline+"\x00"+nr.IdempotencyKey] = r.ID
	}
	s.signal.Notify()
	return cloneRun(r), true, nil
}

func (s *Store) claim(r *store.Run, worker string, lease time.Duration, now time.Time) {
	s.seq++
	r.Status = store.Running
	r.LeaseOwner = worker
	r.LeaseToken = worker + "#" + strconv.FormatUint(s.seq, 10)
	r.LeaseExpires = now.Add(lease)
	r.UpdatedAt = now
}

// Claim leases runnable runs, oldest first.
func (s *Store) Claim(_ context.Context, req store.ClaimRequest) ([]store.Claimed, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.clock.Now()
	// A marked run whose worker died ends cancelled instead of being
	// claimed again.
	for _, e := range s.runs {
		r := &e.run
		if (len(req.Pipelines) == 0 || slices.Contains(req.Pipelines, r.Pipeline)) &&
			r.Status == store.Running && r.LeaseExpires.Before(now) && r.Cancel != nil {
			s.endCancelled(e, *r.Cancel, now)
		}
	}
	var cands []*entry
	for _, e := range s.runs {
		r := &e.run
		if len(req.Pipelines) > 0 && !slices.Contains(req.Pipelines, r.Pipeline) {
			continue
		}
		if r.Status == store.Queued && !r.NotBefore.After(now) ||
			r.Status == store.Running && r.LeaseExpires.Before(now) {
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		if c := a.run.CreatedAt.Compare(b.run.CreatedAt); c != 0 {
			return c
		}
		return compareStrings(a.run.ID, b.run.ID)
	})
	limit := req.Limit
	if limit <= 0 {
		limit = 1
	}
	var out []store.Claimed
	for _, e := range cands {
		if len(out) == limit {
			break
		}
		if p, ok := s.pauses[e.run.Pipeline]; ok {
			if p.ProbeAfter.IsZero() || now.Before(p.ProbeAfter) || p.ProbeRun != "" {
				continue
			}
			p.ProbeRun = e.run.ID
			s.pauses[e.run.Pipeline] = p
		}
		s.claim(&e.run, req.Worker, req.Lease, now)
		out = append(out, store.Claimed{
			Run:         cloneRun(e.run),
			Lease:       e.run.Lease(),
			Checkpoints: cloneRecs(store.Checkpoints(e.steps, e.run.Attempt)),
		})
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// held returns the run if l is its current lease.
func (s *Store) held(l store.Lease) (*entry, error) {
	e, ok := s.runs[l.RunID]
	if !ok {
		return nil, fmt.Errorf("memstore: run %s: %w", l.RunID, store.ErrNotFound)
	}
	if e.run.Status != store.Running || e.run.LeaseToken != l.Token {
		return nil, fmt.Errorf("memstore: run %s (lease %s): %w", l.RunID, l.Token, store.ErrLeaseLost)
	}
	return e, nil
}

// Heartbeat extends leases, and reports those lost and those of runs
// marked cancelled.
func (s *Store) Heartbeat(_ context.Context, leases []store.Lease, d time.Duration) ([]string, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := s.clock.Now()
	var lost []string
	for _, l := range leases {
		e, err := s.held(l)
		if err != nil {
			lost = append(lost, l.RunID)
			continue
		}
		e.run.LeaseExpires = now.Add(d)
		if e.run.Cancel != nil {
			lost = append(lost, l.RunID)
		}
	}
	return lost, nil
}

// Checkpoint records a step of a held run.
func (s *Store) Checkpoint(_ context.Context, l store.Lease, rec store.StepRecord) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	e, err := s.held(l)
	if err != nil {
		return err
	}
	if err := s.refuseCancelled(e, "checkpoint"); err != nil {
		return err
	}
	rec.RunID, rec.RunAttempt = e.run.ID, e.run.Attempt
	e.steps = append(e.steps, cloneRec(rec))
	storekit.NoteTrace(&e.run, &rec)
	e.run.UpdatedAt = s.clock.Now()
	return nil
}

// Finish ends or defers the current attempt of a held run.
func (s *Store) Finish(_ context.Context, l store.Lease, o store.Outcome) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	switch o.Status {
	case store.Queued, store.AwaitingReview, store.Held, store.Succeeded, store.DeadLettered, store.Cancelled:
	default:
		return fmt.Errorf("memstore: finish run %s with status %q: %w", l.RunID, o.Status, store.ErrConflict)
	}
	e, err := s.held(l)
	if err != nil {
		return err
	}
	if err := s.refuseCancelled(e, "finish"); err != nil {
		return err
	}
	now := s.clock.Now()
	if o.Record != nil {
		rec := cloneRec(*o.Record)
		rec.RunID, rec.RunAttempt = e.run.ID, e.run.Attempt
		e.steps = append(e.steps, rec)
		storekit.NoteTrace(&e.run, &rec)
	}
	r := &e.run
	r.LeaseOwner, r.LeaseToken, r.LeaseExpires = "", "", time.Time{}
	r.UpdatedAt = now
	r.Step, r.Error, r.Class = o.Step, o.Error, o.Class
	r.Spent = o.Spent
	e.unclassified = storekit.Unclassified(o)
	defer s.changed(e, store.Running)
	switch o.Status {
	case store.Queued:
		r.Status, r.NotBefore = store.Queued, o.NotBefore
		r.Deferrals++
		return nil
	case store.AwaitingReview:
		r.Status, r.FinishedAt = store.AwaitingReview, now
		if o.Review != nil {
			rv := cloneReview(*o.Review)
			rv.CreatedAt = now
			r.Review = &rv
		}
	case store.Held:
		// Parked like a review, with no review to decide: the payloads
		// stay, for the replay that moves the run on.
		r.Status, r.FinishedAt = store.Held, now
	case store.Succeeded, store.DeadLettered, store.Cancelled:
		r.Status, r.FinishedAt = o.Status, now
		r.Output = clone(o.Output)
		storekit.Scrub(r, e.steps)
	}
	s.endAttempt(e)
	return nil
}

func (s *Store) endAttempt(e *entry) {
	storekit.EndAttempt(&e.attempts[len(e.attempts)-1], &e.run)
}

// Release gives back held runs for another worker to take at once; a
// run marked cancelled ends cancelled instead.
func (s *Store) Release(_ context.Context, leases []store.Lease) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	for _, l := range leases {
		e, err := s.held(l)
		if err != nil {
			continue
		}
		if e.run.Cancel != nil {
			s.endCancelled(e, *e.run.Cancel, s.clock.Now())
			continue
		}
		e.run.Status = store.Queued
		e.run.LeaseOwner, e.run.LeaseToken, e.run.LeaseExpires = "", "", time.Time{}
		e.run.UpdatedAt = s.clock.Now()
	}
	s.signal.Notify()
	return nil
}

// SetPause shuts a pipeline's intake.
func (s *Store) SetPause(_ context.Context, p store.Pause) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if p.Since.IsZero() {
		p.Since = s.clock.Now()
	}
	s.pauses[p.Pipeline] = p
	s.pauseLog = append(s.pauseLog, store.PauseEntry{Pipeline: p.Pipeline, Action: store.Paused, By: p.By,
		Reason: p.Reason, At: p.Since, ProbeAfter: p.ProbeAfter})
	return nil
}

// ClearPause opens a pipeline's intake, and logs who resumed it.
func (s *Store) ClearPause(_ context.Context, r store.Resume) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	_, ok := s.pauses[r.Pipeline]
	delete(s.pauses, r.Pipeline)
	if ok {
		s.pauseLog = append(s.pauseLog, store.PauseEntry{Pipeline: r.Pipeline, Action: store.Resumed, By: r.By,
			Reason: r.Reason, At: s.clock.Now()})
	}
	s.signal.Notify()
	return ok, nil
}

// PipelineLog returns a pipeline's pauses and resumes, newest first.
func (s *Store) PipelineLog(_ context.Context, pipeline string, limit int) ([]store.PauseEntry, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if limit <= 0 {
		limit = store.DefaultLogLimit
	}
	out := []store.PauseEntry{}
	for i := len(s.pauseLog) - 1; i >= 0 && len(out) < limit; i-- {
		if e := s.pauseLog[i]; e.Pipeline == pipeline {
			out = append(out, e)
		}
	}
	return out, nil
}

// GetPause returns a pipeline's pause, or nil.
func (s *Store) GetPause(_ context.Context, pipeline string) (*store.Pause, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	p, ok := s.pauses[pipeline]
	if !ok {
		return nil, nil
	}
	return &p, nil
}

// Import records a run executed elsewhere, unless its id exists. Its
// idempotency key is its own from then on: one another run of the
// pipeline holds is ErrConflict, as the SQL stores' unique index makes it.
func (s *Store) Import(_ context.Context, d store.RunDetail) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	if _, ok := s.runs[d.Run.ID]; ok {
		return false, nil
	}
	if !store.ValidID(d.Run.ID) || d.Run.Pipeline == "" || !d.Run.Status.Valid() || d.Run.Status == store.Waiting {
		return false, fmt.Errorf("memstore: import run %q of pipeline %q with status %q: %w", d.Run.ID, d.Run.Pipeline, d.Run.Status, store.ErrConflict)
	}
	// The key is the SQL stores' unique index: one run per key, whichever
	// wrote it first, so that an Enqueue after an Import finds this run.
	key := d.Run.Pipeline + "\x00" + d.Run.IdempotencyKey
	if d.Run.IdempotencyKey != "" {
		if _, taken := s.idem[key]; taken {
			return false, fmt.Errorf("memstore: import run %s: pipeline %s has another run with idempotency key %q: %w", d.Run.ID, d.Run.Pipeline, d.Run.IdempotencyKey, store.ErrConflict)
		}
	}
	e := &entry{run: cloneRun(d.Run), steps: cloneRecs(d.Steps)}
	for _, a := range d.Attempts {
		a.Input = clone(a.Input)
		e.attempts = append(e.attempts, a)
	}
	s.runs[d.Run.ID] = e
	if d.Run.IdempotencyKey != "" {
		s.idem[key] = d.Run.ID
	}
	if p := d.Run.Parent; p != nil {
		s.kids[p.RunID] = append(s.kids[p.RunID], d.Run.ID)
	}
	return true, nil
}
