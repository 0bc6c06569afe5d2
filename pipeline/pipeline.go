package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/plumb-dev/plumb/contract"
	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/notify"
	"github.com/plumb-dev/plumb/observe"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// Config holds a pipeline's wiring. Its zero value is usable: dead letters
// are logged, telemetry goes to the global OpenTelemetry providers.
type Config struct {
	// DeadLetters receive the letter of every run that gives up, in order.
	// With a Store they receive copies (the store's dead-lettered run is
	// the canonical record) and default to none; without one they default
	// to a slog sink on Logger: loud, but not durable — give a durable sink
	// (deadletter.OpenJSONL) for production.
	DeadLetters []deadletter.Sink
	// Telemetry records spans and metrics. Defaults to observe.Default(),
	// on the global providers.
	Telemetry *observe.Telemetry
	// Clock stamps runs. Defaults to retry.SystemClock.
	Clock retry.Clock
	// Logger receives what must not be lost when everything else fails (a
	// dead letter no sink accepted). Defaults to slog.Default().
	Logger *slog.Logger

	// Store makes runs durable: Submit enqueues them, workers claim them
	// with a lease, every step's output is checkpointed, and the store is
	// the canonical record (its dead-lettered runs are the dead letters;
	// DeadLetters receive copies). Defaults to none: Run executes in
	// memory.
	Store store.Store
	// HashPayloads keeps only hashes and sizes of inputs and outputs once a
	// run ends, for sensitive data. Payloads are stored while a run is live
	// (a crashed run needs them to resume); a replay of such a run needs a
	// new input. Defaults to keeping payloads.
	HashPayloads bool
	// LongWait is the longest retry wait a worker sleeps through; a longer
	// one (a Retry-After of minutes) puts the run back in the queue with a
	// not-before time and frees the worker. Defaults to 30 s.
	LongWait time.Duration
	// Outage is the schedule of durable waits for a step whose transient
	// failures outlast its retry policy: the run goes back to the queue
	// after each wait in turn and is dead-lettered only when the schedule is
	// spent, so an outage of hours heals by itself. Only failures known to
	// be transient (retry.Known: retry.Transient, network timeouts and
	// resets, an unexpected EOF, the model adapters' 429 and 5xx) wait it
	// out; an unclassified error is dead-lettered as permanent once the
	// step's retry policy is spent. Defaults to DefaultOutage; NoOutage
	// dead-letters at once.
	Outage []time.Duration
	// RunBudget bounds each run's model spending (tokens, cost). Defaults
	// to none.
	RunBudget llm.Budget
	// Retention bounds how long succeeded runs are kept; workers prune
	// periodically. Defaults to store.Retention's defaults (14 days,
	// 100,000 runs).
	Retention store.Retention

	// Notifier hears about the outcomes a person may need to act on: dead
	// letters, reviews opened and overdue, pauses and resumptions, spent
	// budgets, sink failures, silence. Only final outcomes speak: nothing
	// is sent while retries are still handling a failure. Wrap it in
	// notify.NewDigest so that a burst becomes one message. Defaults to
	// none.
	Notifier notify.Notifier
	// Link makes the link a notification carries for a run: the review
	// inbox's URL, say. Defaults to the CLI command that shows the run.
	Link func(runID string) string
	// Breaker pauses the intake when a step keeps failing. Defaults to off.
	Breaker BreakerConfig
	// ExpectEvery declares how often runs are expected: when none arrives
	// in that long, workers send a silent event (the webhook that quietly
	// stopped firing at 2:17 a.m. is noticed by morning). Defaults to no
	// expectation.
	ExpectEvery time.Duration
}

// DefaultOutage is the default outage schedule: 1 minute, 10 minutes, 30
// minutes, then 3 hours, before a run is dead-lettered.
var DefaultOutage = []time.Duration{time.Minute, 10 * time.Minute, 30 * time.Minute, 3 * time.Hour}

// NoOutage is an empty outage schedule: transient failures are
// dead-lettered as soon as the step's retry policy gives up.
var NoOutage = []time.Duration{}

// DefaultLongWait is the default threshold above which a wait is durable.
const DefaultLongWait = 30 * time.Second

// Pipeline is a typed chain of steps: In goes in, Out comes out. Build one
// with New and Then; the compiler checks that each step's input is the
// previous step's output. A Pipeline is immutable and safe for concurrent
// use; Then returns a new one.
type Pipeline[In, Out any] struct {
	def *definition
	// lastOut is the contract the last step checks its output against, so
	// that Then can tell whether the next step's input needs checking again.
	lastOut *contract.Contract[Out]
}

// definition is the type-erased form a pipeline runs from.
type definition struct {
	name   string
	cfg    Config
	stages []stage
	err    error
	// registered is set once the definition is in the store.
	registered atomic.Bool
	breaker    *breaker
	pauseCache *pauses
}

// BuildError says what is wrong with a pipeline's definition: a duplicate
// step name, a step with a bad definition. Run returns it until the
// definition is fixed.
type BuildError struct {
	Pipeline string
	Err      error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("pipeline %q is not valid: %v", e.Pipeline, e.Err)
}

// Unwrap returns the cause.
func (e *BuildError) Unwrap() error { return e.Err }

// Is matches retry.ErrPermanent: no retry fixes a definition.
func (e *BuildError) Is(target error) bool { return target == retry.ErrPermanent }

// New starts a pipeline named name with its first step. cfg is optional;
// pass at most one.
func New[In, Out any](name string, first *step.Step[In, Out], cfg ...Config) *Pipeline[In, Out] {
	d := &definition{name: name, breaker: newBreaker(), pauseCache: &pauses{}}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("a pipeline needs a name"))
	}
	switch len(cfg) {
	case 0:
	case 1:
		d.cfg = cfg[0]
	default:
		errs = append(errs, fmt.Errorf("pass at most one Config, got %d", len(cfg)))
	}
	d.cfg.defaults()
	p := &Pipeline[In, Out]{def: d}
	if first == nil {
		errs = append(errs, errors.New("the first step is nil"))
	} else {
		d.stages = []stage{newStage(first, false)}
		errs = append(errs, first.Err())
		p.lastOut = first.OutputContract()
	}
	d.err = joinBuild(name, errs)
	return p
}

func (c *Config) defaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(c.DeadLetters) == 0 && c.Store == nil {
		c.DeadLetters = []deadletter.Sink{deadletter.NewSlog(c.Logger)}
	}
	if c.Telemetry == nil {
		c.Telemetry = observe.Default()
	}
	if c.Clock == nil {
		c.Clock = retry.SystemClock
	}
	if c.LongWait <= 0 {
		c.LongWait = DefaultLongWait
	}
	if c.Outage == nil {
		c.Outage = DefaultOutage
	}
}

func joinBuild(name string, errs []error) error {
	if err := errors.Join(errs...); err != nil {
		return &BuildError{Pipeline: name, Err: err}
	}
	return nil
}

// Then returns p with next appended. Step names must be unique within a
// pipeline: a duplicate makes the pipeline invalid, which Err and Run report.
func Then[In, Mid, Out any](p *Pipeline[In, Mid], next *step.Step[Mid, Out]) *Pipeline[In, Out] {
	d := &definition{name: p.def.name, cfg: p.def.cfg, stages: slices.Clip(p.def.stages), breaker: newBreaker(), pauseCache: &pauses{}}
	np := &Pipeline[In, Out]{def: d}
	var errs []error
	if p.def.err != nil {
		var be *BuildError
		if errors.As(p.def.err, &be) {
			errs = append(errs, be.Err)
		}
	}
	if next == nil {
		errs = append(errs, fmt.Errorf("step %d is nil", len(d.stages)+1))
		d.err = joinBuild(d.name, errs)
		return np
	}
	errs = append(errs, next.Err())
	for _, st := range d.stages {
		if st.name() == next.Name() {
			errs = append(errs, fmt.Errorf("duplicate step name %q: step names identify checkpoints and must be unique", next.Name()))
		}
	}
	// The previous step checked its output against this very contract (one
	// per type), so checking it again as this step's input is wasted work.
	checked := p.lastOut != nil && next.InputContract() == p.lastOut
	d.stages = append(d.stages, newStage(next, checked))
	np.lastOut = next.OutputContract()
	d.err = joinBuild(d.name, errs)
	return np
}

// Name returns the pipeline's name.
func (p *Pipeline[In, Out]) Name() string { return p.def.name }

// Err reports what is wrong with the pipeline's definition, or nil.
func (p *Pipeline[In, Out]) Err() error { return p.def.err }

// Steps returns the names of the steps, in order.
func (p *Pipeline[In, Out]) Steps() []string {
	names := make([]string, len(p.def.stages))
	for i, st := range p.def.stages {
		names[i] = st.name()
	}
	return names
}
