package pipeline

import (
	"context"
	"log/slog"

	"github.com/plumb-dev/plumb/notify"
)

// notify tells the configured notifier about e, filling in the time and
// the link. A notifier's failure is logged, never fatal to the run.
func (d *definition) notify(ctx context.Context, e notify.Event) {
	if d.cfg.Notifier == nil {
		return
	}
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
	if err := d.cfg.Notifier.Notify(context.WithoutCancel(ctx), e); err != nil {
		d.cfg.Logger.Warn("plumb: notifier failed", slog.String("event", string(e.Kind)),
			slog.String("pipeline", d.name), slog.String("error", err.Error()))
	}
}
