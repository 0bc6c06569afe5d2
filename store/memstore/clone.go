package memstore

import (
	"encoding/json"
	"slices"

	"github.com/plumb-dev/plumb/store"
)

// The store hands out copies, so that callers cannot change its records.

func clone(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return slices.Clone(b)
}

func cloneRun(r store.Run) store.Run {
	r.Input = clone(r.Input)
	r.Output = clone(r.Output)
	if r.Review != nil {
		rv := cloneReview(*r.Review)
		r.Review = &rv
	}
	if r.Parent != nil {
		p := *r.Parent
		r.Parent = &p
	}
	if r.Cancel != nil {
		c := *r.Cancel
		r.Cancel = &c
	}
	return r
}

func cloneReview(rv store.Review) store.Review {
	rv.Input = clone(rv.Input)
	rv.Proposed = clone(rv.Proposed)
	rv.OutputSchema = clone(rv.OutputSchema)
	if rv.Decision != nil {
		d := *rv.Decision
		d.Output = clone(d.Output)
		rv.Decision = &d
	}
	return rv
}

func cloneRec(r store.StepRecord) store.StepRecord {
	r.Input = clone(r.Input)
	r.Output = clone(r.Output)
	r.Attempts = slices.Clone(r.Attempts)
	return r
}

func cloneRecs(rs []store.StepRecord) []store.StepRecord {
	if rs == nil {
		return nil
	}
	out := make([]store.StepRecord, len(rs))
	for i, r := range rs {
		out[i] = cloneRec(r)
	}
	return out
}

func cloneDef(d store.PipelineDef) store.PipelineDef {
	d.Steps = slices.Clone(d.Steps)
	for i := range d.Steps {
		d.Steps[i].InputSchema = clone(d.Steps[i].InputSchema)
		d.Steps[i].OutputSchema = clone(d.Steps[i].OutputSchema)
		d.Steps[i].EventSchema = clone(d.Steps[i].EventSchema)
	}
	return d
}
