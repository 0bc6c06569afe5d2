package console

import (
	"context"
	"strings"

	"github.com/plumb-dev/plumb/store"
)

// pauseLogShown is how many of a pipeline's pauses and resumes the
// overview lists.
const pauseLogShown = 5

// pauseEntryView is one pause or resume as the overview lists it.
type pauseEntryView struct {
	Action, By, Reason, At string
	// Breaker is set when the breaker took it (By "breaker:<step>").
	Breaker bool
}

// pauseLogOf reads a pipeline's recent pauses and resumes (store.Ops.PipelineLog).
func (h *handler) pauseLogOf(ctx context.Context, pipeline string) ([]pauseEntryView, error) {
	log, err := h.cfg.Store.PipelineLog(ctx, pipeline, pauseLogShown)
	if err != nil {
		return nil, err
	}
	out := make([]pauseEntryView, 0, len(log))
	for _, e := range log {
		v := pauseEntryView{Action: string(e.Action), By: e.By, Reason: e.Reason, At: fmtTime(e.At),
			Breaker: strings.HasPrefix(e.By, "breaker:")}
		if e.Action == store.Paused && !e.ProbeAfter.IsZero() {
			v.Reason += " (one probe run from " + fmtTime(e.ProbeAfter) + ")"
		}
		out = append(out, v)
	}
	return out, nil
}
