package attempt

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// Env is what a pipeline tells the steps of a run beyond what step
// functions may read (step.RunInfo).
type Env struct {
	// Spend counts the run's model spending against its budget (which
	// may bound nothing); nil for a step run outside a pipeline.
	Spend *Spend
	// Logger receives what a step must say outside its record: a call
	// abandoned at its timeout. Nil means slog.Default().
	Logger *slog.Logger
	// LongWait is the longest retry wait taken in memory; a longer one
	// defers the run to the queue. Zero, for runs that are not durable,
	// means every wait is taken in memory.
	LongWait time.Duration
	// Clock is the runtime's clock, which paces the retry waits of a
	// step whose policy names no clock of its own. Nil means
	// retry.SystemClock.
	Clock retry.Clock
}

// Retry is a step's retry policy ready to run: its own clock when it
// names one, else the clock of the run the context carries, else the
// system clock. A step's retry waits so follow the one clock of the
// runtime its pipeline runs on. The policy with the system clock is made
// once, so that the common path copies and allocates nothing.
type Retry struct {
	own, sys retry.Policy
}

// NewRetry prepares p.
func NewRetry(p retry.Policy) Retry {
	r := Retry{own: p, sys: p}
	if r.sys.Clock == nil {
		r.sys.Clock = retry.SystemClock
	}
	return r
}

// For returns the policy to run under ctx. The result must not be kept
// past the run.
func (r *Retry) For(ctx context.Context) *retry.Policy {
	if r.own.Clock != nil {
		return &r.own
	}
	// An interface comparison: a clock of another dynamic type is simply
	// unequal, and the system clock's type is comparable.
	if e := EnvFrom(ctx); e != nil && e.Clock != nil && e.Clock != retry.SystemClock {
		p := r.own
		p.Clock = e.Clock
		return &p
	}
	return &r.sys
}

// Run is what a run's context carries: Info, the description step
// functions read (a step.RunInfo), and the Env of the machinery. One
// context value holds both.
type Run[I any] struct {
	Info I
	Env
}

func (r *Run[I]) env() *Env { return &r.Env }

type runKey struct{}

// WithRun returns a context carrying r.
func WithRun[I any](ctx context.Context, r *Run[I]) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// RunFrom returns the run ctx carries, or nil.
func RunFrom[I any](ctx context.Context) *Run[I] {
	r, _ := ctx.Value(runKey{}).(*Run[I])
	return r
}

// EnvFrom returns the Env of the run ctx carries, or nil.
func EnvFrom(ctx context.Context) *Env {
	r, _ := ctx.Value(runKey{}).(interface{ env() *Env })
	if r == nil {
		return nil
	}
	return r.env()
}

// Interceptor sees every attempt of every step run under a context, before
// the step's function: it may fail the attempt with an error of any class,
// delay it, or panic (which the step turns into a *step.PanicError).
// pipelinetest injects its faults with one.
type Interceptor func(ctx context.Context, step string, attempt int) error

type icKey struct{}

// WithInterceptor returns a context whose steps' attempts pass through ic.
func WithInterceptor(ctx context.Context, ic Interceptor) context.Context {
	return context.WithValue(ctx, icKey{}, ic)
}

// InterceptorFrom returns the interceptor of ctx, or nil.
func InterceptorFrom(ctx context.Context) Interceptor {
	ic, _ := ctx.Value(icKey{}).(Interceptor)
	return ic
}

// Log collects the attempts a self-recording step function makes, as
// records of type R (step.Attempt).
type Log[R any] struct {
	mu      sync.Mutex
	records []R
}

type logKey struct{}

// WithLog returns a context whose Record calls add to l.
func WithLog[R any](ctx context.Context, l *Log[R]) context.Context {
	return context.WithValue(ctx, logKey{}, l)
}

// Record adds a to the log of the step running in ctx. It does nothing
// outside a self-recording step.
func Record[R any](ctx context.Context, a R) {
	l, ok := ctx.Value(logKey{}).(*Log[R])
	if !ok {
		return
	}
	l.mu.Lock()
	l.records = append(l.records, a)
	l.mu.Unlock()
}

// Take returns the records and empties the log.
func (l *Log[R]) Take() []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.records
	l.records = nil
	return r
}

// Same reports whether a and b are the same error value: identity, never
// their text. Errors whose dynamic type cannot be compared are the same
// only if both are nil.
func Same(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}
