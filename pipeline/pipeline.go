package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Policy is what a pipeline decides for itself, beside the deployment its
// runtime describes: how long its transient failures wait, when its intake
// shuts, what each run may spend, how often runs are expected, and where
// its notifications point. Its zero value is the default.
type Policy struct {
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
	// Breaker pauses the intake when a step keeps failing. Defaults to off.
	Breaker BreakerConfig
	// RunBudget bounds each run's model spending (tokens, cost). Defaults
	// to none.
	RunBudget llm.Budget
	// ExpectEvery declares how often runs are expected: when none arrives
	// in that long, workers send a silent event (the webhook that quietly
	// stopped firing at 2:17 a.m. is noticed by morning). Defaults to no
	// expectation.
	ExpectEvery time.Duration
	// Link makes the link a notification carries for a run: the review
	// inbox's URL, say. Defaults to the CLI command that shows the run.
	Link func(runID string) string
	// Notifier, when set, hears this pipeline's outcomes instead of the
	// runtime's Notifier: one client's pipeline speaking to that client's
	// channel. Defaults to the runtime's.
	Notifier notify.Notifier
	// DeadLetters, when set, receive this pipeline's dead letters instead
	// of the runtime's DeadLetters. Defaults to the runtime's.
	DeadLetters []deadletter.Sink
	// Version is the author's label for this definition ("2026-12",
	// "v2"), recorded with every run it starts so that people can tell
	// which deploy a run began under (plumb runs show, plumb versions
	// check). It is for people only: the definition's fingerprint, which
	// the store records beside it, changes by itself whenever a step, its
	// place or one of its contracts changes, and it alone decides whether
	// a run of an older definition is checked when a worker picks it up
	// (see "Versions" in the package documentation). Defaults to none.
	Version string
}

// settings is what a definition runs with: its runtime's deployment and
// its own policy, with every default applied.
type settings struct {
	Store        store.Store
	Telemetry    *observe.Telemetry
	Clock        retry.Clock
	Logger       *slog.Logger
	HashPayloads bool
	LongWait     time.Duration
	DeadLetters  []deadletter.Sink
	Notifier     notify.Notifier

	Outage      []time.Duration
	Breaker     BreakerConfig
	RunBudget   llm.Budget
	ExpectEvery time.Duration
	Link        func(runID string) string
}

func newSettings(rt *Runtime, pol Policy) settings {
	c := rt.cfg
	s := settings{Store: c.Store, Telemetry: c.Telemetry, Clock: c.Clock, Logger: c.Logger,
		HashPayloads: c.HashPayloads, LongWait: c.LongWait, DeadLetters: c.DeadLetters, Notifier: c.Notifier,
		Outage: pol.Outage, Breaker: pol.Breaker, RunBudget: pol.RunBudget, ExpectEvery: pol.ExpectEvery, Link: pol.Link}
	if pol.Notifier != nil {
		s.Notifier = pol.Notifier
	}
	if pol.DeadLetters != nil {
		s.DeadLetters = pol.DeadLetters
	}
	if s.Outage == nil {
		s.Outage = DefaultOutage
	}
	return s
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
	rt     *Runtime
	pol    Policy
	cfg    settings
	stages []stage
	err    error
	// registered is set once the definition is in the store.
	registered atomic.Bool
	// unbound says the runtime refused the definition's name: the
	// pipelines grown from it are refused too, with that one error.
	unbound    bool
	breaker    *breaker
	pauseCache *pauses
	// spec is the definition as the store records it, version included:
	// made once at build (seal), as a run's version is compared on every
	// pickup.
	spec store.PipelineDef
	// check compares an older run's records with spec; made on the first
	// pickup of such a run.
	check checkOnce
	// local holds the runs this process's workers execute, for the
	// waiters of this process (local.go).
	local localRuns
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

// New starts a pipeline named name with its first step, on the runtime rt
// (nil: in memory, see Runtime) and with its own policy. Step names and
// pipeline names are checked as the pipeline is built: a problem makes the
// pipeline invalid, which Err, Run and Submit report.
func New[In, Out any](rt *Runtime, name string, first *step.Step[In, Out], pol Policy) *Pipeline[In, Out] {
	if rt == nil {
		rt = memoryRuntime
	}
	d := &definition{name: name, rt: rt, pol: pol, cfg: newSettings(rt, pol), breaker: newBreaker(), pauseCache: &pauses{}}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("a pipeline needs a name"))
	}
	p := &Pipeline[In, Out]{def: d}
	if first == nil {
		errs = append(errs, errors.New("the first step is nil"))
	} else {
		d.stages = []stage{newStage(first, false)}
		errs = append(errs, first.Err())
		p.lastOut = first.OutputContract()
	}
	if err := rt.bind(d, nil); err != nil {
		d.unbound = true
		errs = append(errs, err)
	}
	d.err = joinBuild(name, errs)
	d.seal()
	return p
}

// bindAfter binds d, grown from parent, in parent's place.
func (d *definition) bindAfter(parent *definition) error {
	if parent.unbound {
		d.unbound = true
		return nil // parent's error, which d's carries, says it
	}
	err := d.rt.bind(d, parent)
	d.unbound = err != nil
	return err
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
	if next == nil {
		return grow[In, Out](p.def, nil, nil, []error{fmt.Errorf("step %d is nil", len(p.def.stages)+1)})
	}
	// The previous step checked its output against this very contract (one
	// per type), so checking it again as this step's input is wasted work.
	checked := p.lastOut != nil && next.InputContract() == p.lastOut
	return grow[In, Out](p.def, []stage{newStage(next, checked)}, next.OutputContract(), []error{next.Err()})
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

// Runtime returns the runtime the pipeline is bound to.
func (p *Pipeline[In, Out]) Runtime() *Runtime { return p.def.rt }

// Register records the pipeline's definition in its runtime's store, as
// Submit and workers do on first use; later calls cost nothing. Call it
// before writing runs of the pipeline other than through Submit (a
// webhook intake importing the dead letter of a refused delivery), so
// that `plumb replay` and `plumb versions` know the definition those runs
// name. It returns the pipeline's build error when it is invalid, and
// ErrNoStore without a store: there is nowhere to record it, and a run
// written elsewhere would name a definition no store knows.
func (p *Pipeline[In, Out]) Register(ctx context.Context) error { return p.def.ready(ctx) }
