package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/internal/attempt"
	"github.com/plumb-dev/plumb/pipeline"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
)

// Start is the time the kit's clock starts at.
var Start = time.Date(2026, 11, 27, 2, 17, 0, 0, time.UTC)

// Kit runs pipelines in a test: a runtime on an in-memory store, a clock
// that moves only when told, a memory dead-letter sink, and faults injected
// into any step. Make one with New; it is safe for concurrent use.
type Kit struct {
	T       testing.TB
	Clock   *retrytest.Clock
	Store   *memstore.Store
	Letters *deadletter.Memory
	// Runtime is the kit's runtime, on its store, clock and sink: give it
	// to the code that builds your pipelines, as production gives it a
	// runtime on a real store.
	Runtime *pipeline.Runtime

	mu       sync.Mutex
	runtimes []*pipeline.Runtime
	faults   map[string][]*fault
	attempts map[string]int
	done     bool
}

type fault struct {
	times int // remaining; <0 forever
	err   error
	panic bool
	delay time.Duration
}

// New returns a kit for t.
func New(t testing.TB) *Kit {
	clock := retrytest.NewClock(Start)
	k := &Kit{T: t, Clock: clock, Store: memstore.New(memstore.Config{Clock: clock}), Letters: deadletter.NewMemory(),
		faults: map[string][]*fault{}, attempts: map[string]int{}}
	t.Cleanup(func() {
		k.mu.Lock()
		k.done = true
		k.mu.Unlock()
		_ = k.Store.Close()
	})
	k.Runtime = k.NewRuntime(pipeline.RuntimeConfig{})
	return k
}

// NewRuntime returns another runtime on the kit's store, for a test that
// needs a deployment setting of its own (telemetry, a notifier): each of
// Store, Clock, DeadLetters and Logger left zero in cfg is the kit's.
// Drain works the pipelines of every runtime the kit made.
func (k *Kit) NewRuntime(cfg pipeline.RuntimeConfig) *pipeline.Runtime {
	if cfg.Store == nil {
		cfg.Store = k.Store
	}
	if cfg.Clock == nil {
		cfg.Clock = k.Clock
	}
	if cfg.DeadLetters == nil {
		cfg.DeadLetters = []deadletter.Sink{k.Letters}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(&testLog{k: k}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	rt := pipeline.NewRuntime(cfg)
	k.mu.Lock()
	k.runtimes = append(k.runtimes, rt)
	k.mu.Unlock()
	return rt
}

// testLog sends the pipeline's log to the test's log, until the test ends.
type testLog struct{ k *Kit }

func (w *testLog) Write(b []byte) (int, error) {
	w.k.mu.Lock()
	done := w.k.done
	w.k.mu.Unlock()
	if !done {
		w.k.T.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

// Context returns a context under which steps' attempts pass through the
// kit's faults. Run pipelines (and Drain workers) under it.
func (k *Kit) Context() context.Context {
	return attempt.WithInterceptor(context.Background(), k.intercept)
}

func (k *Kit) intercept(ctx context.Context, stepName string, attempt int) error {
	k.mu.Lock()
	k.attempts[stepName]++
	var f *fault
	for _, c := range k.faults[stepName] {
		if c.times != 0 {
			f = c
			if c.times > 0 {
				c.times--
			}
			break
		}
	}
	k.mu.Unlock()
	if f == nil {
		return nil
	}
	if f.delay > 0 {
		k.Clock.Advance(f.delay)
	}
	if f.panic {
		panic(fmt.Sprintf("pipelinetest: injected panic in step %s, attempt %d", stepName, attempt))
	}
	return f.err
}

func (k *Kit) add(stepName string, f *fault) {
	if f.times <= 0 {
		f.times = -1
	}
	k.mu.Lock()
	k.faults[stepName] = append(k.faults[stepName], f)
	k.mu.Unlock()
}

// Fail makes the next times attempts of the step fail with an error of
// class c (times <= 0: every attempt). Faults on one step are used in the
// order they were added.
func (k *Kit) Fail(stepName string, c retry.Class, times int) {
	k.FailWith(stepName, retry.Mark(c, fmt.Errorf("pipelinetest: injected %s failure in step %s", c, stepName)), times)
}

// FailWith makes the next times attempts of the step fail with err.
func (k *Kit) FailWith(stepName string, err error, times int) {
	k.add(stepName, &fault{times: times, err: err})
}

// Panic makes the next times attempts of the step panic.
func (k *Kit) Panic(stepName string, times int) {
	k.add(stepName, &fault{times: times, panic: true})
}

// Delay makes the next times attempts of the step take d longer, on the
// kit's clock.
func (k *Kit) Delay(stepName string, d time.Duration, times int) {
	k.add(stepName, &fault{times: times, delay: d})
}

// Heal removes every fault of the step.
func (k *Kit) Heal(stepName string) {
	k.mu.Lock()
	delete(k.faults, stepName)
	k.mu.Unlock()
}

// Attempts returns how many attempts the step has made.
func (k *Kit) Attempts(stepName string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.attempts[stepName]
}

// Drain works the pipelines of every runtime the kit made until no run is
// claimable at the kit's current time and none is running, and no
// schedule declared on them (pipeline.Schedule) has a tick due, then
// stops: advance the kit's clock past a tick and Drain runs it.
func (k *Kit) Drain() {
	k.T.Helper()
	k.mu.Lock()
	rts := slices.Clone(k.runtimes)
	k.mu.Unlock()
	var workers []*pipeline.Worker
	for _, rt := range rts {
		if len(rt.Pipelines()) == 0 {
			continue
		}
		w, err := rt.NewWorker(pipeline.WorkerConfig{ID: drainWorker, Poll: 2 * time.Millisecond, Concurrency: 4, PruneEvery: -1})
		if err != nil {
			k.T.Fatalf("pipelinetest: %v", err)
		}
		workers = append(workers, w)
	}
	if len(workers) == 0 {
		k.T.Fatalf("pipelinetest: Drain: no pipeline is built on the kit's runtimes: build yours with pipeline.New(nil, k.Runtime, ..., pipeline.Policy{})")
	}
	ctx, cancel := context.WithCancel(k.Context())
	done := make(chan error, len(workers))
	for _, w := range workers {
		go func() { done <- w.Run(ctx) }()
	}
	deadline := time.Now().Add(30 * time.Second)
	for !k.idle() {
		if time.Now().After(deadline) {
			cancel()
			k.T.Fatalf("pipelinetest: Drain: the queue did not drain in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	for range workers {
		if err := <-done; err != nil {
			k.T.Fatalf("pipelinetest: worker: %v", err)
		}
	}
}

// idle reports whether no run is claimable now and the kit's worker holds
// none.
func (k *Kit) idle() bool {
	runsPage, err := k.Store.ListRuns(context.Background(), store.RunFilter{Status: []store.Status{store.Queued, store.Running}, Limit: 1 << 30})
	runs := runsPage.Runs
	if err != nil {
		return false
	}
	now := k.Clock.Now()
	pauses := map[string]*store.Pause{}
	claimable := func(pipeline string) bool {
		p, ok := pauses[pipeline]
		if !ok {
			p, _ = k.Store.GetPause(context.Background(), pipeline)
			pauses[pipeline] = p
		}
		return p == nil || p.ProbeRun == "" && !p.ProbeAfter.IsZero() && !p.ProbeAfter.After(now)
	}
	if k.scheduleDue(now) {
		return false
	}
	for _, r := range runs {
		switch {
		case r.Status == store.Queued && !r.NotBefore.After(now) && claimable(r.Pipeline):
			return false
		case r.Status == store.Running && (r.LeaseOwner == drainWorker || r.LeaseExpires.Before(now)):
			return false
		}
	}
	return true
}

const drainWorker = "pipelinetest"

// scheduleDue reports whether a schedule declared on one of the kit's
// runtimes has a tick due at now, which a worker fires before it claims.
func (k *Kit) scheduleDue(now time.Time) bool {
	k.mu.Lock()
	rts := slices.Clone(k.runtimes)
	k.mu.Unlock()
	declared := map[string]bool{}
	for _, rt := range rts {
		for _, n := range rt.Schedules() {
			declared[n] = true
		}
	}
	if len(declared) == 0 {
		return false
	}
	all, err := k.Store.Schedules(context.Background(), "")
	if err != nil {
		return true
	}
	for _, s := range all {
		if declared[s.Name] && !s.Next.After(now) {
			return true
		}
	}
	return false
}

// Get returns a run with its timeline, failing the test if it is missing.
func (k *Kit) Get(id string) *store.RunDetail {
	k.T.Helper()
	d, err := k.Store.GetRun(context.Background(), id)
	if err != nil {
		k.T.Fatalf("pipelinetest: %v", err)
	}
	return d
}

// AssertSucceeded fails the test unless the run succeeded.
func (k *Kit) AssertSucceeded(id string) *store.RunDetail {
	k.T.Helper()
	d := k.Get(id)
	if d.Run.Status != store.Succeeded {
		k.T.Fatalf("run %s is %s, want succeeded%s", id, d.Run.Status, describe(d))
	}
	return d
}

// AssertDeadLettered fails the test unless the run was dead-lettered at
// the step with an error of class c.
func (k *Kit) AssertDeadLettered(id, stepName string, c retry.Class) *store.RunDetail {
	k.T.Helper()
	d := k.Get(id)
	if d.Run.Status != store.DeadLettered || d.Run.Step != stepName || d.Run.Class != c {
		k.T.Fatalf("run %s is %s at step %q (%s), want dead_lettered at step %q (%s)%s",
			id, d.Run.Status, d.Run.Step, d.Run.Class, stepName, c, describe(d))
	}
	return d
}

// AssertAwaitingReview fails the test unless the run awaits review at the
// step.
func (k *Kit) AssertAwaitingReview(id, stepName string) *store.RunDetail {
	k.T.Helper()
	d := k.Get(id)
	if d.Run.Status != store.AwaitingReview || d.Run.Review == nil || d.Run.Review.Step != stepName {
		k.T.Fatalf("run %s is %s at step %q, want awaiting_review at step %q%s", id, d.Run.Status, d.Run.Step, stepName, describe(d))
	}
	return d
}

// AssertCancelled fails the test unless the run was cancelled by by
// (an operator's name, or "parent <id>" for a branch run).
func (k *Kit) AssertCancelled(id, by string) *store.RunDetail {
	k.T.Helper()
	d := k.Get(id)
	if d.Run.Status != store.Cancelled || d.Run.Cancel == nil || d.Run.Cancel.By != by {
		got := ""
		if d.Run.Cancel != nil {
			got = " by " + d.Run.Cancel.By
		}
		k.T.Fatalf("run %s is %s%s, want cancelled by %s%s", id, d.Run.Status, got, by, describe(d))
	}
	return d
}

// AssertStatus fails the test unless the run has the status.
func (k *Kit) AssertStatus(id string, s store.Status) *store.RunDetail {
	k.T.Helper()
	d := k.Get(id)
	if d.Run.Status != s {
		k.T.Fatalf("run %s is %s, want %s%s", id, d.Run.Status, s, describe(d))
	}
	return d
}

func describe(d *store.RunDetail) string {
	if d.Run.Error == "" {
		return ""
	}
	return ": " + d.Run.Error
}

// RunID returns the run id inside err when err is a run's outcome (a dead
// letter or a pending run), or "".
func RunID(err error) string {
	var dl *deadletter.Error
	if errors.As(err, &dl) {
		return dl.Letter.RunID
	}
	var pe *pipeline.PendingError
	if errors.As(err, &pe) {
		return pe.RunID
	}
	return ""
}
