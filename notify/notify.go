package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Kind says what happened. The values are stable: they are the "event" field
// of a webhook body, inside its signature, so receivers switch on them.
type Kind string

// The kinds of event Plumb tells people about. Each one is something a person
// may need to act on; routine success is never notified.
const (
	// DeadLettered: a run gave up and was kept whole for diagnosis and replay.
	DeadLettered Kind = "dead_lettered"
	// ReviewNeeded: a run waits for a human decision.
	ReviewNeeded Kind = "review_needed"
	// ReviewOverdue: a review passed its deadline (escalation).
	ReviewOverdue Kind = "review_overdue"
	// Paused: a pipeline stopped taking runs, by hand or because its failure
	// rate said something upstream is broken.
	Paused Kind = "paused"
	// Resumed: a paused pipeline takes runs again.
	Resumed Kind = "resumed"
	// BudgetExceeded: a token, cost or attempt budget is spent.
	BudgetExceeded Kind = "budget_exceeded"
	// SinkFailed: a dead-letter sink refused a letter (the store still has it).
	SinkFailed Kind = "sink_failed"
	// Silent: a pipeline received no runs in its expected window.
	Silent Kind = "silent"
	// Cancelled: a person or a program cancelled a run before it ended
	// (Reason says who and why); it can be replayed.
	Cancelled Kind = "cancelled"
	// Held: a worker of a changed definition picked up a run its records
	// break (its input or a checkpoint no longer meets a step's contract)
	// and held it instead of failing it. Step names the step, Reason what
	// broke and the command to replay it; it waits for a person (plumb
	// versions check lists such runs before a deploy).
	Held Kind = "held"
)

// Event is one thing a person may need to know. Its JSON form is the default
// webhook body.
type Event struct {
	Kind     Kind   `json:"event"`
	Pipeline string `json:"pipeline"`
	RunID    string `json:"run_id,omitempty"`
	Step     string `json:"step,omitempty"`
	// Class is the error class's name, e.g. "contract" (see retry.Class).
	Class  string `json:"class,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Link is where a person can look: a review inbox URL or a CLI command.
	Link string    `json:"link,omitempty"`
	At   time.Time `json:"at"`
	// Count is more than 1 on a digest: how many events it stands for.
	Count int `json:"count,omitempty"`
	// Samples are a few run ids of a digest's events.
	Samples []string `json:"samples,omitempty"`
}

// Notifier tells someone about an event. Implementations must be safe for
// concurrent use and should not block for long: the pipeline calls Notify on
// its own path. Webhook never blocks; wrap slow notifiers of your own likewise.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Func adapts a function to a Notifier.
type Func func(ctx context.Context, e Event) error

// Notify calls f.
func (f Func) Notify(ctx context.Context, e Event) error { return f(ctx, e) }

// Multi returns a Notifier that tells every one of ns, in order. A failure or a
// panic in one does not stop the others; their errors are joined. Nil
// notifiers are skipped.
func Multi(ns ...Notifier) Notifier {
	m := make(multi, 0, len(ns))
	for _, n := range ns {
		if n != nil {
			m = append(m, n)
		}
	}
	return m
}

type multi []Notifier

func (m multi) Notify(ctx context.Context, e Event) error {
	var errs []error
	for _, n := range m {
		if err := safeNotify(ctx, n, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type slogNotifier struct {
	logger *slog.Logger
}

// NewSlog returns a Notifier that logs each event to logger: at Error for
// dead_lettered, sink_failed and silent (something is lost or broken), at
// Warn for the rest. The message names the kind ("run dead-lettered"); the
// event's non-empty fields follow as attributes named as in its JSON form. A
// nil logger means slog.Default() at the time of each event.
func NewSlog(logger *slog.Logger) Notifier { return slogNotifier{logger: logger} }

// Notify logs e. It never fails.
func (s slogNotifier) Notify(ctx context.Context, e Event) error {
	l := s.logger
	if l == nil {
		l = slog.Default()
	}
	l.LogAttrs(ctx, level(e.Kind), title(e.Kind), attrs(e)...)
	return nil
}

func level(k Kind) slog.Level {
	switch k {
	case DeadLettered, SinkFailed, Silent:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// attrs lists e's non-empty fields, keyed as in its JSON form so that a log
// search and a webhook receiver use the same names.
func attrs(e Event) []slog.Attr {
	a := make([]slog.Attr, 0, 10)
	a = append(a, slog.String("event", string(e.Kind)), slog.String("pipeline", e.Pipeline))
	add := func(k, v string) {
		if v != "" {
			a = append(a, slog.String(k, v))
		}
	}
	add("run_id", e.RunID)
	add("step", e.Step)
	add("class", e.Class)
	add("reason", e.Reason)
	add("link", e.Link)
	if !e.At.IsZero() {
		a = append(a, slog.Time("at", e.At))
	}
	if e.Count != 0 {
		a = append(a, slog.Int("count", e.Count))
	}
	if len(e.Samples) > 0 {
		a = append(a, slog.Any("samples", e.Samples))
	}
	return a
}

// ErrNotifierPanic is matched by every *NotifierPanicError.
var ErrNotifierPanic = errors.New("notify: panic in user code")

// NotifierPanicError is a panic in user code a notifier runs (a Func, a
// webhook's Format, an OnDrop or OnError hook) turned into an error, so that
// one bad notifier cannot take the pipeline down. It is not a step's
// *step.PanicError: the run it was telling about did not fail because of it.
type NotifierPanicError struct {
	Value any
	Stack []byte
}

func (e *NotifierPanicError) Error() string { return fmt.Sprintf("notify: panic: %v", e.Value) }

// Is reports whether target is ErrNotifierPanic.
func (e *NotifierPanicError) Is(target error) bool { return target == ErrNotifierPanic }

// Unwrap returns the panic value when it was an error.
func (e *NotifierPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// protect runs fn, turning a panic into a *NotifierPanicError.
func protect(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &NotifierPanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return fn()
}

func safeNotify(ctx context.Context, n Notifier, e Event) error {
	return protect(func() error { return n.Notify(ctx, e) })
}

// callHook runs a caller's OnDrop or OnError hook; a panic in it is logged,
// not propagated, because hooks run on paths that must not fail.
func callHook(hook func(Event, error), e Event, err error, logger *slog.Logger) {
	if hook == nil {
		return
	}
	if perr := protect(func() error { hook(e, err); return nil }); perr != nil {
		logger.Error("notify: hook panicked", slog.Any("error", perr), slog.String("event", string(e.Kind)))
	}
}

func loggerOrDefault(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}
