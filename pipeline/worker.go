package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// WorkerConfig configures a worker. The zero value is a sensible default.
type WorkerConfig struct {
	// ID names the worker in leases and logs. Defaults to
	// "<hostname>-<pid>-<random>".
	ID string
	// Concurrency is how many runs the worker executes at once. Defaults
	// to 8.
	Concurrency int
	// Lease is how long a claim holds without a heartbeat: a worker that
	// dies loses its runs to others this long after its last heartbeat.
	// Defaults to 30 s.
	Lease time.Duration
	// Heartbeat is how often leases are extended. Defaults to Lease / 3.
	Heartbeat time.Duration
	// Poll is how often an idle worker looks for work when nothing wakes it
	// (a run submitted in this process, or by any process on a store that
	// implements store.Waker, wakes it at once). Defaults to 1 s.
	Poll time.Duration
	// ShutdownGrace is how long runs in flight may go on once the worker's
	// context ends; those still running then are released to the queue,
	// unfinished, for another worker. Defaults to 10 s.
	ShutdownGrace time.Duration
	// PruneEvery is how often the worker prunes succeeded runs past the
	// retention limits. Defaults to 10 minutes; negative means never.
	PruneEvery time.Duration
	// StopWhenDrained makes Run return once no run is left for it: nothing
	// it could claim now, and nothing in flight (a batch job, a cron
	// worker, a test). Runs deferred to later, waiting for branches or
	// for a review, and runs other workers hold, are left in the store:
	// Runtime.Backlog says what is left and when the next one is due.
	// Defaults to working until the context ends.
	StopWhenDrained bool
}

const (
	defaultLease       = 30 * time.Second
	defaultConcurrency = 8
	defaultPoll        = time.Second
	defaultGrace       = 10 * time.Second
	defaultPruneEvery  = 10 * time.Minute
)

// processWorker names this process in the leases of runs it executes
// inline (Run with a store).
var processWorker = newWorkerID()

func newWorkerID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func (c *WorkerConfig) defaults() {
	if c.ID == "" {
		c.ID = newWorkerID()
	}
	if c.Concurrency <= 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.Lease <= 0 {
		c.Lease = defaultLease
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = c.Lease / 3
	}
	if c.Poll <= 0 {
		c.Poll = defaultPoll
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = defaultGrace
	}
	if c.PruneEvery == 0 {
		c.PruneEvery = defaultPruneEvery
	}
}

// Worker claims runs of its runtime's pipelines from the runtime's store
// and executes them, Concurrency at a time, holding each with a lease it
// renews.
type Worker struct {
	cfg   WorkerConfig
	rt    *Runtime
	st    store.Store
	defs  map[string]*definition
	names []string
	log   *slog.Logger

	mu       sync.Mutex
	inflight map[string]*flight
	// The hand-off state (handoff.go), under mu: live while Run's claim
	// loop accepts runs handed to it at Submit; idle when its last claim
	// took fewer runs than it asked for (nobody older waits); reserved
	// counts the slots Submits in progress hold for a hand-off.
	live     bool
	idle     bool
	reserved int
	// runCtx, runs and done are Run's: the context runs execute under,
	// the runs in flight, and the channel each run signals when it ends.
	runCtx context.Context
	runs   *sync.WaitGroup
	done   chan struct{}

	gaugeState gaugeState
}

type flight struct {
	lease store.Lease
	ctx   context.Context
	// cancel ends the run's context with its cause: a *CancelledError
	// when an operator cancelled the run, errLeaseLost otherwise.
	cancel context.CancelCauseFunc
}

// NewWorker returns a worker for every pipeline bound to the runtime. It
// refuses a runtime without a store or pipelines, and a pipeline whose
// definition is invalid.
func (rt *Runtime) NewWorker(cfg WorkerConfig) (*Worker, error) {
	cfg.defaults()
	if rt.cfg.Store == nil {
		return nil, ErrNoStore
	}
	defs := rt.bound()
	if len(defs) == 0 {
		return nil, errors.New("pipeline: the runtime has no pipelines to work: build them with pipeline.New(rt, ...) first")
	}
	w := &Worker{cfg: cfg, rt: rt, st: rt.cfg.Store, log: rt.cfg.Logger, defs: map[string]*definition{}, inflight: map[string]*flight{}}
	for _, d := range defs {
		if d.err != nil {
			return nil, d.err
		}
		w.defs[d.name] = d
		w.names = append(w.names, d.name)
	}
	if err := rt.scheduleErr(w.defs); err != nil {
		return nil, err
	}
	return w, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.cfg.ID }

// Run claims and executes runs until ctx ends (or, with StopWhenDrained,
// until no run is left for it), then shuts down gracefully: it stops
// claiming, lets the runs in flight finish for up to ShutdownGrace, and
// releases the rest to the queue. It returns nil after a graceful
// shutdown.
func (w *Worker) Run(ctx context.Context) error {
	for _, d := range w.defs {
		if err := d.register(ctx); err != nil {
			if ctx.Err() != nil {
				// Stopped before it started: nothing was claimed, and a
				// stop is no failure.
				return nil
			}
			return err
		}
	}
	// Schedules are declared, and those due fired, before the first
	// claim: a drained worker has enqueued its ticks (schedulework.go).
	sched := w.newScheduler()
	var nextTick time.Time
	if sched != nil {
		if err := sched.declare(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pipeline: declare the schedules: %w", err)
		}
		nextTick, _ = sched.fire(ctx)
	}
	// Runs outlive ctx by the grace period, so they get their own context.
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	var wg sync.WaitGroup
	done := make(chan struct{}, w.cfg.Concurrency)
	wakeC := subscribe(ctx, w.st)

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var bgWG sync.WaitGroup
	bgWG.Add(3)
	go func() { defer bgWG.Done(); w.heartbeats(bg) }()
	go func() { defer bgWG.Done(); w.prune(bg) }()
	go func() { defer bgWG.Done(); w.maintain(bg) }()
	if sched != nil {
		bgWG.Add(1)
		go func() { defer bgWG.Done(); sched.loop(bg, nextTick) }()
	}

	w.mu.Lock()
	w.runCtx, w.runs, w.done, w.live, w.idle = runCtx, &wg, done, true, false
	w.mu.Unlock()
	w.rt.addWorker(w)

	failures := 0
	for ctx.Err() == nil {
		w.mu.Lock()
		busy := len(w.inflight) + w.reserved
		w.mu.Unlock()
		free := w.cfg.Concurrency - busy
		if free <= 0 {
			select {
			case <-done:
			case <-ctx.Done():
			}
			continue
		}
		claimed, err := w.st.Claim(ctx, store.ClaimRequest{Worker: w.cfg.ID, Pipelines: w.names, Limit: free, Lease: w.cfg.Lease})
		if err != nil {
			w.setIdle(false)
			if ctx.Err() != nil {
				break
			}
			failures++
			w.log.Error("plumb: worker cannot claim runs; retrying", slog.String("worker", w.cfg.ID),
				slog.Int("failures", failures), slog.String("error", err.Error()))
			sleep(ctx, min(time.Duration(failures)*w.cfg.Poll/4, 4*w.cfg.Poll))
			continue
		}
		failures = 0
		if w.cfg.StopWhenDrained && len(claimed) == 0 && busy == 0 {
			// Only this loop starts runs: none is in flight, and the
			// store has none to give.
			break
		}
		probes := w.markProbes(ctx, claimed)
		w.mu.Lock()
		for _, c := range claimed {
			w.startLocked(c, probes[c.Run.ID], nil)
		}
		// Fewer than asked for: the queue is drained, and a run submitted
		// in this process from now on may be handed to this worker.
		w.idle = len(claimed) < free
		w.mu.Unlock()
		if len(claimed) < free {
			// The queue is drained: wait for news. Work that arrives is
			// announced (Submit here, the store's Waker for the rest: a
			// run released, a join settled, an event delivered), or found
			// at the next poll; a run ending is news only to a worker
			// that must stop once drained.
			var ended chan struct{}
			if w.cfg.StopWhenDrained {
				ended = done
			}
			t := time.NewTimer(w.cfg.Poll)
			select {
			case <-wakeC:
			case <-t.C:
			case <-ended:
			case <-ctx.Done():
			}
			t.Stop()
		}
		drain(done)
	}
	// No run is handed to the worker any more; those handed meanwhile are
	// in flight already (startLocked) or released (handed).
	w.mu.Lock()
	w.live, w.idle = false, false
	w.mu.Unlock()
	w.rt.removeWorker(w)

	// Graceful shutdown.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	grace := time.NewTimer(w.cfg.ShutdownGrace)
	select {
	case <-finished:
	case <-grace.C:
		stopRuns() // the runs see a cancelled context and release their leases
		<-finished
	}
	grace.Stop()
	stopBG()
	bgWG.Wait()
	return nil
}

func (w *Worker) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inflight)
}

// startLocked starts a claimed run (w.mu held), with its typed input when
// it was handed off at Submit (nil otherwise: resume decodes it). The run
// is known to this process's waiters (local.go) before the call returns.
func (w *Worker) startLocked(c store.Claimed, probe bool, typedIn any) {
	d := w.defs[c.Run.Pipeline]
	fctx, cancel := context.WithCancelCause(w.runCtx)
	w.inflight[c.Run.ID] = &flight{lease: c.Lease, ctx: fctx, cancel: cancel}
	w.runs.Add(1)
	d.local.start(c.Run.ID)
	go func() {
		var out any
		var ok bool
		defer w.runs.Done()
		// The slot is given back before the waiters hear: a caller that
		// submits again as soon as its wait returns finds it free, and its
		// run is handed off too.
		defer func() { d.local.end(c.Run.ID, out, ok, d.copyOut) }()
		defer func() {
			cancel(nil)
			w.mu.Lock()
			delete(w.inflight, c.Run.ID)
			w.mu.Unlock()
			select {
			case w.done <- struct{}{}:
			default: // the loop learns of the free slot at its next pass
			}
		}()
		out, ok, _ = d.resume(fctx, c, probe, w.cfg.Lease, typedIn)
	}()
}

func (w *Worker) setIdle(idle bool) {
	w.mu.Lock()
	w.idle = idle
	w.mu.Unlock()
}

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// heartbeats extends the leases of the runs in flight, and stops the runs
// whose lease was lost (taken over after this worker stalled) or whose
// cancellation an operator asked for: the store reports both as lost, and
// the run's record tells them apart.
func (w *Worker) heartbeats(ctx context.Context) {
	t := time.NewTicker(w.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		leases := make([]store.Lease, 0, len(w.inflight))
		for _, f := range w.inflight {
			leases = append(leases, f.lease)
		}
		w.mu.Unlock()
		if len(leases) == 0 {
			continue
		}
		lost, err := w.st.Heartbeat(ctx, leases, w.cfg.Lease)
		if err != nil {
			w.log.Error("plumb: heartbeat failed; leases may expire", slog.String("worker", w.cfg.ID), slog.String("error", err.Error()))
			continue
		}
		for _, id := range lost {
			// The run may just have finished (its lease ends with it); if
			// it had not, its next write reports the lost lease.
			w.mu.Lock()
			f, ok := w.inflight[id]
			w.mu.Unlock()
			if ok && f.ctx.Err() == nil {
				// Told once: a step that ignores its context is not read
				// again at every heartbeat.
				f.cancel(cancelCause(ctx, w.st, f.lease))
			}
		}
	}
}

func (w *Worker) prune(ctx context.Context) {
	if w.cfg.PruneEvery < 0 {
		return
	}
	t := time.NewTicker(w.cfg.PruneEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := w.st.Prune(ctx, w.rt.cfg.Retention); err != nil {
			w.log.Warn("plumb: prune failed", slog.String("error", err.Error()))
		} else if n > 0 {
			w.log.Info("plumb: pruned succeeded runs past retention", slog.Int("deleted", n))
		}
	}
}

// keepAlive heartbeats the lease of a run executed inline until stop,
// and ends the run's context (through cancelRun) when the lease is lost
// or an operator cancels the run.
func (d *definition) keepAlive(ctx context.Context, r *runState, cancelRun context.CancelCauseFunc) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		t := time.NewTicker(defaultLease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lost, err := d.cfg.Store.Heartbeat(ctx, []store.Lease{*r.lease}, defaultLease)
				if err == nil && len(lost) > 0 {
					cancelRun(cancelCause(ctx, d.cfg.Store, *r.lease))
				}
			}
		}
	}()
	return cancel
}

// The wake hub tells the idle workers of this process that a run was
// submitted here, and relays a store's own wake-ups (store.Waker).
var (
	hubsMu sync.Mutex
	hubs   = map[store.Store]*hub{}
)

type hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// wake tells this process's workers on st that work arrived.
func wake(st store.Store) {
	hubsMu.Lock()
	h, ok := hubs[st]
	hubsMu.Unlock()
	if !ok {
		return
	}
	h.mu.Lock()
	for c := range h.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	h.mu.Unlock()
}

// subscribe returns a channel woken by wake and by the store itself.
func subscribe(ctx context.Context, st store.Store) <-chan struct{} {
	c := make(chan struct{}, 1)
	hubsMu.Lock()
	h, ok := hubs[st]
	if !ok {
		h = &hub{subs: map[chan struct{}]struct{}{}}
		hubs[st] = h
	}
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	hubsMu.Unlock()
	context.AfterFunc(ctx, func() {
		hubsMu.Lock()
		h.mu.Lock()
		delete(h.subs, c)
		if len(h.subs) == 0 {
			delete(hubs, st)
		}
		h.mu.Unlock()
		hubsMu.Unlock()
	})
	if wk, ok := st.(store.Waker); ok {
		if sc, err := wk.Subscribe(ctx); err == nil {
			go func() {
				for range sc {
					select {
					case c <- struct{}{}:
					default:
					}
				}
			}()
		}
	}
	return c
}
