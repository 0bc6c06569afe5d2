package storekit

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/plumb-dev/plumb/store"
)

// ReplayPlan is what a replay writes: the new attempt's input and the
// checkpoints it starts with.
type ReplayPlan struct {
	From     int
	FromStep string
	RunInput json.RawMessage
	Carry    []store.StepRecord
	Reason   string
	// Version is the definition the new attempt runs under: the
	// registered one, else the run's own.
	Version store.Version
}

// PlanReplay checks that a replay is possible and plans it. recs are the
// run's step records, def its pipeline's definition (nil if unknown).
func PlanReplay(r *store.Run, recs []store.StepRecord, def *store.PipelineDef, req store.ReplayRequest) (*ReplayPlan, error) {
	switch r.Status {
	case store.DeadLettered, store.Cancelled, store.Held:
	case store.Succeeded:
		return nil, &store.FinalError{Op: "replay", RunID: r.ID, Reason: "it succeeded, there is nothing to replay"}
	default:
		return nil, fmt.Errorf("replay run %s: it is %s; only dead-lettered, cancelled or held runs are replayed: %w", r.ID, r.Status, store.ErrConflict)
	}
	cps := store.Checkpoints(recs, r.Attempt)
	from, name := store.ReplayStart(r, recs, def, req.From)
	if from < 0 {
		return nil, fmt.Errorf("replay run %s: pipeline %s has no step %q: %w", r.ID, r.Pipeline, name, store.ErrNotFound)
	}
	p := &ReplayPlan{From: from, FromStep: name, RunInput: r.Input, Reason: req.Reason, Version: r.Version}
	if p.Reason == "" {
		p.Reason = "replay from " + name
		if req.Input != nil {
			p.Reason += " with a patched input"
		}
	}
	if def != nil && !def.Version.IsZero() && def.Version != r.Version {
		p.Version = def.Version
		p.Reason += "; moved from " + r.Version.String() + " to " + def.Version.String()
	}
	for _, c := range cps {
		if c.Index < from {
			c.Status = store.StepReused
			c.Note = fmt.Sprintf("reused from attempt %d", r.Attempt)
			c.Attempts = nil
			// The replay writes the carried record; no execution does.
			c.TraceID, c.SpanID = "", ""
			p.Carry = append(p.Carry, c)
		}
	}
	switch {
	case req.Input != nil && from == 0:
		p.RunInput = req.Input
	case req.Input != nil:
		prev := store.StepRecord{RunID: r.ID, Index: from - 1, Step: stepName(def, recs, from-1)}
		if i := slices.IndexFunc(p.Carry, func(c store.StepRecord) bool { return c.Index == from-1 }); i >= 0 {
			prev = p.Carry[i]
			p.Carry = slices.Delete(p.Carry, i, i+1)
		}
		prev.Status, prev.Output, prev.Note = store.StepPatched, req.Input, "output patched for replay"
		prev.OutputHash, prev.OutputSize = "", 0
		p.Carry = append(p.Carry, prev)
	case from == 0:
		if r.Input == nil {
			return nil, fmt.Errorf("replay run %s: %w", r.ID, store.ErrNeedsInput)
		}
	default:
		i := slices.IndexFunc(p.Carry, func(c store.StepRecord) bool { return c.Index == from-1 })
		if i < 0 {
			return nil, fmt.Errorf("replay run %s from %q: the step before it has no checkpoint; replay from an earlier step: %w", r.ID, name, store.ErrConflict)
		}
		if p.Carry[i].Output == nil {
			return nil, fmt.Errorf("replay run %s from %q: %w", r.ID, name, store.ErrNeedsInput)
		}
	}
	return p, nil
}

// stepName names the step at index: from the definition, else from the
// records.
func stepName(def *store.PipelineDef, recs []store.StepRecord, index int) string {
	if def != nil && index >= 0 && index < len(def.Steps) {
		return def.Steps[index].Name
	}
	for _, r := range recs {
		if r.Index == index {
			return r.Step
		}
	}
	return ""
}
