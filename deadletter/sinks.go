package deadletter

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// Memory is a sink that keeps letters in memory, for tests and examples.
type Memory struct {
	mu      sync.Mutex
	letters []*Letter
}

var _ Sink = (*Memory)(nil)

// NewMemory returns an empty memory sink.
func NewMemory() *Memory { return &Memory{} }

// Send keeps a copy of l.
func (m *Memory) Send(_ context.Context, l *Letter) error {
	c := *l
	m.mu.Lock()
	m.letters = append(m.letters, &c)
	m.mu.Unlock()
	return nil
}

// Letters returns the letters received so far, in order.
func (m *Memory) Letters() []*Letter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Letter(nil), m.letters...)
}

// Len returns how many letters were received.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.letters)
}

// Name returns "memory".
func (m *Memory) Name() string { return "memory" }

// slogSink logs each letter at Error level.
type slogSink struct{ logger *slog.Logger }

// NewSlog returns a sink that logs each letter to logger at Error level
// (slog.Default() at the time of each letter when logger is nil). It does
// not keep letters anywhere else: pair it with a durable sink.
func NewSlog(logger *slog.Logger) Sink { return slogSink{logger: logger} }

var _ Named = slogSink{}

// Send logs l.
func (s slogSink) Send(ctx context.Context, l *Letter) error {
	lg := s.logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.LogAttrs(ctx, slog.LevelError, "plumb: dead letter",
		slog.String("pipeline", l.Pipeline),
		slog.String("run_id", l.RunID),
		slog.String("step", l.Step),
		slog.String("class", l.Class.String()),
		slog.Int("attempts", len(l.Attempts)),
		slog.Bool("needs_human", l.NeedsHuman),
		slog.String("trace_id", l.TraceID),
		slog.String("error", l.Error),
	)
	return nil
}

// Name returns "slog".
func (slogSink) Name() string { return "slog" }

// Multi returns a sink that sends each letter to every one of sinks, in
// order. A failing sink does not stop the others; Send returns every
// failure, each a *SinkError naming its sink. Nil sinks are skipped. Its
// name (SinkName) lists the sinks.
func Multi(sinks ...Sink) Sink {
	m := make(multi, 0, len(sinks))
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	return m
}

type multi []Sink

var _ Named = multi(nil)

// Send sends l to every sink.
func (m multi) Send(ctx context.Context, l *Letter) error {
	var errs []error
	for _, s := range m {
		if err := s.Send(ctx, l); err != nil {
			errs = append(errs, &SinkError{Sink: SinkName(s), RunID: l.RunID, Err: err})
		}
	}
	return errors.Join(errs...)
}

// Name lists the sinks.
func (m multi) Name() string {
	s := "multi("
	for i, k := range m {
		if i > 0 {
			s += ", "
		}
		s += SinkName(k)
	}
	return s + ")"
}
