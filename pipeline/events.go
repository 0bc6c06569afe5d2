package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/plumb-dev/plumb/notify"
)

// ErrNoNotifier is returned by Notify for a pipeline whose Policy and
// runtime name no notifier: the event was heard by nobody.
var ErrNoNotifier = errors.New("pipeline: no notifier: set Policy.Notifier or RuntimeConfig.Notifier to hear this pipeline's events")

// Notify sends e through the pipeline's notifier (its Policy's, else its
// runtime's): the path the pipeline's own events take, so that a digest
// wrapping the notifier groups e with them. Like them, e gets the
// pipeline's name when it names none, the runtime clock's time when it
// has none, and the pipeline's Link for its run. It returns the
// notifier's error, a panic in the notifier as a
// *notify.NotifierPanicError, or ErrNoNotifier when there is none, so
// that a caller who must be heard (a silence watch) can try again; the
// pipeline's own events only log a failure.
func (p *Pipeline[In, Out]) Notify(ctx context.Context, e notify.Event) error {
	if e.Pipeline == "" {
		e.Pipeline = p.def.name
	}
	return p.def.send(ctx, e)
}

// notify tells the configured notifier about e, filling in the time and
// the link. A notifier's failure is logged, never fatal to the run.
func (d *definition) notify(ctx context.Context, e notify.Event) {
	if d.cfg.Notifier == nil {
		return
	}
	if err := d.send(ctx, e); err != nil {
		d.cfg.Logger.Warn("plumb: notifier failed", slog.String("event", string(e.Kind)),
			slog.String("pipeline", d.name), slog.String("error", err.Error()))
	}
}

// send fills in e's time and link and gives it to the notifier, turning
// a panic in it (or in Policy.Link) into an error: a bad notifier must
// not end a run.
func (d *definition) send(ctx context.Context, e notify.Event) (err error) {
	n := d.cfg.Notifier
	if n == nil {
		return ErrNoNotifier
	}
	defer func() {
		if v := recover(); v != nil {
			err = &notify.NotifierPanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	if e.At.IsZero() {
		e.At = d.cfg.Clock.Now()
	}
	if e.Link == "" && e.RunID != "" {
		if d.cfg.Link != nil {
			e.Link = d.cfg.Link(e.RunID)
		} else {
			e.Link = "plumb runs show " + e.RunID
		}
	}
	return n.Notify(context.WithoutCancel(ctx), e)
}
