package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// RuntimeConfig describes what a deployment has once, whatever pipelines
// it runs: the store, the telemetry, the clock, the logger, how long
// succeeded runs are kept, and where dead letters and notifications go by
// default. Its zero value is an in-memory runtime: no store, dead letters
// logged, telemetry on the global OpenTelemetry providers.
type RuntimeConfig struct {
	// Store makes runs durable: Submit enqueues them, workers claim them
	// with a lease, every step's output is checkpointed, and the store is
	// the canonical record (its dead-lettered runs are the dead letters;
	// DeadLetters receive copies). Defaults to none: Run executes in
	// memory, and Submit and Work answer ErrNoStore.
	Store store.Store
	// Telemetry records spans and metrics. Defaults to observe.Default(),
	// on the global providers.
	Telemetry *observe.Telemetry
	// Clock is the one clock of the runtime: it stamps runs, times the
	// outage schedule and the breaker, and paces the retry waits of every
	// step run by its pipelines (unless a step's retry.Policy names a clock
	// of its own). Defaults to retry.SystemClock; tests use
	// retrytest.Clock (pipelinetest hands one out with its store).
	Clock retry.Clock
	// Logger receives what must not be lost when everything else fails (a
	// dead letter no sink accepted), and the workers' warnings. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// Retention bounds how long succeeded runs are kept; workers prune
	// periodically. Defaults to store.Retention's defaults (14 days,
	// 100,000 runs).
	Retention store.Retention
	// DeadLetters receive the letter of every run that gives up, in order,
	// unless a pipeline's Policy names its own. With a Store they receive
	// copies (the store's dead-lettered run is the canonical record) and
	// default to none; without one they default to a slog sink on Logger:
	// loud, but not durable — give a durable sink (deadletter.OpenJSONL)
	// for production.
	DeadLetters []deadletter.Sink
	// Notifier hears about the outcomes a person may need to act on: dead
	// letters, reviews opened and overdue, pauses and resumptions, spent
	// budgets, sink failures, silence. Only final outcomes speak: nothing
	// is sent while retries are still handling a failure. Wrap it in
	// notify.NewDigest so that a burst becomes one message. A pipeline's
	// Policy may name its own. Defaults to none.
	Notifier notify.Notifier
	// HashPayloads keeps only hashes and sizes of inputs and outputs once a
	// run ends, for sensitive data. Payloads are stored while a run is live
	// (a crashed run needs them to resume); a replay of such a run needs a
	// new input. Defaults to keeping payloads.
	HashPayloads bool
	// LongWait is the longest retry wait a worker sleeps through; a longer
	// one (a Retry-After of minutes) puts the run back in the queue with a
	// not-before time and frees the worker. Defaults to 30 s.
	LongWait time.Duration
}

// Runtime is a deployment: one store, one clock, one telemetry and one
// logger that every pipeline built on it shares. Pipelines are bound to it
// when they are built (New, Then); Work runs every one of them, so a
// pipeline cannot be left without a worker by forgetting to list it. A
// Runtime is safe for concurrent use.
//
// A nil *Runtime given to New is the in-memory runtime: Run executes at
// once, without a store, and dead letters are logged.
type Runtime struct {
	cfg RuntimeConfig

	mu   sync.Mutex
	defs map[string]*definition // by name: the last definition built under it
	// schedules are the schedules declared on the runtime, by name
	// (schedule.go).
	schedules map[string]*schedule
	// workers are the workers running on the runtime (Worker.Run), to
	// which Submit may hand a run (handoff.go).
	workers []*Worker
}

// memoryRuntime is the runtime of pipelines built with a nil one.
var memoryRuntime = NewRuntime(RuntimeConfig{})

// NewRuntime returns a runtime for cfg, its defaults applied.
func NewRuntime(cfg RuntimeConfig) *Runtime {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.DeadLetters) == 0 && cfg.Store == nil {
		cfg.DeadLetters = []deadletter.Sink{deadletter.NewSlog(cfg.Logger)}
	}
	if cfg.Telemetry == nil {
		cfg.Telemetry = observe.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = retry.SystemClock
	}
	if cfg.LongWait <= 0 {
		cfg.LongWait = DefaultLongWait
	}
	return &Runtime{cfg: cfg, defs: map[string]*definition{}}
}

// Store returns the runtime's store, or nil for an in-memory runtime.
func (rt *Runtime) Store() store.Store { return rt.cfg.Store }

// Config returns the runtime's configuration with its defaults applied:
// the clock, telemetry and logger its pipelines use, for code beside them
// (a webhook intake, a scheduler) that must stamp, count and log as they
// do. Retention is as given: its zero fields are the store's defaults,
// applied when a worker prunes. It is a copy: changing it changes nothing
// in the runtime.
func (rt *Runtime) Config() RuntimeConfig {
	cfg := rt.cfg
	cfg.DeadLetters = slices.Clone(cfg.DeadLetters)
	return cfg
}

// Pipelines returns the names of the pipelines bound to the runtime, in
// order.
func (rt *Runtime) Pipelines() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	names := make([]string, 0, len(rt.defs))
	for n := range rt.defs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// bind records d as the runtime's pipeline of its name. A pipeline grown
// from parent by Then takes parent's place; any other pipeline of the same
// name is refused, since the name is what identifies a pipeline's runs in
// the store. An in-memory runtime keeps no pipelines: nothing works them.
func (rt *Runtime) bind(d, parent *definition) error {
	if rt.cfg.Store == nil {
		return nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	cur := rt.defs[d.name]
	if cur == nil || cur == parent {
		rt.defs[d.name] = d
		return nil
	}
	return fmt.Errorf("the runtime already has a pipeline named %q: a name identifies a pipeline's runs in the store, so give this one another name (grow one pipeline with Then, or build the other on a runtime of its own)", d.name)
}

// bound returns the runtime's pipelines, sorted by name.
func (rt *Runtime) bound() []*definition {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	defs := make([]*definition, 0, len(rt.defs))
	for _, d := range rt.defs {
		defs = append(defs, d)
	}
	slices.SortFunc(defs, func(a, b *definition) int { return strings.Compare(a.name, b.name) })
	return defs
}

// Work runs a worker for every pipeline bound to the runtime until ctx
// ends (see Worker.Run).
func (rt *Runtime) Work(ctx context.Context, cfg WorkerConfig) error {
	w, err := rt.NewWorker(cfg)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
