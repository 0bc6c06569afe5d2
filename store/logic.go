package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/plumb-dev/plumb/retry"
)

// The rules below are shared by every store, so that they behave alike:
// a store loads the records, applies the rule, and writes the result.

// DefaultListLimit is the number of runs ListRuns returns by default.
const DefaultListLimit = 100

// LimitOrDefault returns the list limit to apply.
func LimitOrDefault(n int) int {
	if n <= 0 {
		return DefaultListLimit
	}
	return n
}

// Page makes the page of runs listed under f: when the limit filled it,
// count (the store's count of the runs f matches below a run id) says how
// many more there are. A page that is not full has no more, so most lists
// cost no second query.
func Page(runs []Run, f RunFilter, count func(before string) (int, error)) (RunPage, error) {
	p := RunPage{Runs: runs}
	if f.NoCount || len(runs) == 0 || len(runs) < LimitOrDefault(f.Limit) {
		return p, nil
	}
	last := runs[len(runs)-1].ID
	n, err := count(last)
	if err != nil {
		return RunPage{}, err
	}
	if n > 0 {
		p.More, p.Next = n, last
	}
	return p, nil
}

// Matches reports whether r passes the filter.
func Matches(r *Run, f *RunFilter) bool {
	if f.Pipeline != "" && r.Pipeline != f.Pipeline {
		return false
	}
	if len(f.Status) > 0 && !slices.Contains(f.Status, r.Status) {
		return false
	}
	if f.Step != "" && r.Step != f.Step {
		return false
	}
	if f.Class != 0 && r.Class != f.Class {
		return false
	}
	if !f.Since.IsZero() && r.UpdatedAt.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !r.UpdatedAt.Before(f.Until) {
		return false
	}
	if f.Before != "" && r.ID >= f.Before {
		return false
	}
	return true
}

// ReplayPlan is what a replay writes: the new attempt's input and the
// checkpoints it starts with.
type ReplayPlan struct {
	From     int
	FromStep string
	RunInput json.RawMessage
	Carry    []StepRecord
	Reason   string
}

// PlanReplay checks that a replay is possible and plans it. recs are the
// run's step records, def its pipeline's definition (nil if unknown).
func PlanReplay(r *Run, recs []StepRecord, def *PipelineDef, req ReplayRequest) (*ReplayPlan, error) {
	switch r.Status {
	case DeadLettered, Cancelled:
	case Succeeded:
		return nil, &FinalError{Op: "replay", RunID: r.ID, Reason: "it succeeded, there is nothing to replay"}
	default:
		return nil, fmt.Errorf("replay run %s: it is %s; only dead-lettered or cancelled runs are replayed: %w", r.ID, r.Status, ErrConflict)
	}
	cps := Checkpoints(recs, r.Attempt)
	from, name := ReplayStart(r, recs, def, req.From)
	if from < 0 {
		return nil, fmt.Errorf("replay run %s: pipeline %s has no step %q: %w", r.ID, r.Pipeline, name, ErrNotFound)
	}
	p := &ReplayPlan{From: from, FromStep: name, RunInput: r.Input, Reason: req.Reason}
	if p.Reason == "" {
		p.Reason = "replay from " + name
		if req.Input != nil {
			p.Reason += " with a patched input"
		}
	}
	for _, c := range cps {
		if c.Index < from {
			c.Status = StepReused
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
		prev := StepRecord{RunID: r.ID, Index: from - 1, Step: stepName(def, recs, from-1)}
		if i := slices.IndexFunc(p.Carry, func(c StepRecord) bool { return c.Index == from-1 }); i >= 0 {
			prev = p.Carry[i]
			p.Carry = slices.Delete(p.Carry, i, i+1)
		}
		prev.Status, prev.Output, prev.Note = StepPatched, req.Input, "output patched for replay"
		prev.OutputHash, prev.OutputSize = "", 0
		p.Carry = append(p.Carry, prev)
	case from == 0:
		if r.Input == nil {
			return nil, fmt.Errorf("replay run %s: %w", r.ID, ErrNeedsInput)
		}
	default:
		i := slices.IndexFunc(p.Carry, func(c StepRecord) bool { return c.Index == from-1 })
		if i < 0 {
			return nil, fmt.Errorf("replay run %s from %q: the step before it has no checkpoint; replay from an earlier step: %w", r.ID, name, ErrConflict)
		}
		if p.Carry[i].Output == nil {
			return nil, fmt.Errorf("replay run %s from %q: %w", r.ID, name, ErrNeedsInput)
		}
	}
	return p, nil
}

// ReplayStart says where a replay of r starts: the named step, else the
// step r failed at, else the first step without a checkpoint. It returns
// the step's index (-1 when the pipeline has no such step) and name.
// ReplayRun validates a patch against that step's input contract and
// PlanReplay applies it there, so the two always agree.
func ReplayStart(r *Run, recs []StepRecord, def *PipelineDef, from string) (int, string) {
	name := from
	if name == "" {
		name = r.Step
	}
	index := -1
	switch {
	case name == "":
		index = 0
		for _, c := range Checkpoints(recs, r.Attempt) {
			if c.Index != index {
				break
			}
			index++
		}
	case def != nil:
		index = def.Index(name)
	default:
		for _, rec := range recs {
			if rec.Step == name && rec.Index >= 0 {
				index = rec.Index
			}
		}
	}
	if index >= 0 {
		if n := stepName(def, recs, index); n != "" {
			name = n
		}
	}
	return index, name
}

func stepName(def *PipelineDef, recs []StepRecord, index int) string {
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

// ApplyDecision applies a review decision to a run awaiting review. It
// returns the step record to append: the approved output as the reviewed
// step's checkpoint, or the rejection. A store calls it inside the
// transaction that writes the result, so that the check that d.Review is
// the run's current review and the decision land together: a decision on
// any other review is a *StaleReviewError, one on a review already
// decided a *FinalError.
func ApplyDecision(r *Run, d Decision, now time.Time) (*StepRecord, error) {
	if d.Review.IsZero() {
		return nil, fmt.Errorf("decide run %s: the decision names no review: %w", r.ID, ErrConflict)
	}
	if cur := r.ReviewRef(); cur != d.Review {
		return nil, &StaleReviewError{RunID: r.ID, Decided: d.Review, Current: cur}
	}
	if r.Review.Decision != nil {
		return nil, &FinalError{Op: "decide", RunID: r.ID, Reason: "review " + d.Review.String() + " is decided"}
	}
	if r.Status != AwaitingReview {
		return nil, fmt.Errorf("decide run %s: it is %s, not awaiting review: %w", r.ID, r.Status, ErrConflict)
	}
	if d.Reviewer == "" {
		return nil, fmt.Errorf("decide run %s: the decision names no reviewer: %w", r.ID, ErrConflict)
	}
	rv := r.Review
	d.At = now
	rec := &StepRecord{RunID: r.ID, RunAttempt: r.Attempt, Index: rv.Index, Step: rv.Step,
		Input: rv.Input, StartedAt: rv.CreatedAt, FinishedAt: now}
	if d.Approved {
		out := d.Output
		if out == nil {
			out = rv.Proposed
		}
		if out == nil {
			return nil, fmt.Errorf("decide run %s: the step proposed no output, so an approval must supply one: %w", r.ID, ErrConflict)
		}
		d.Edited = d.Output != nil && rv.Proposed != nil && !jsonEqual(d.Output, rv.Proposed) || rv.Proposed == nil
		d.Output = out
		rec.Status, rec.Output, rec.By = StepSucceeded, out, "review:"+d.Reviewer
		rec.Note = "approved by " + d.Reviewer
		if d.Edited {
			rec.Note = "edited and approved by " + d.Reviewer
		}
		// The attempt goes on: it is live again, so it has no end.
		r.Status, r.FinishedAt = Queued, time.Time{}
		r.Step, r.Error, r.Class = "", "", 0
	} else {
		reason := d.Reason
		if reason == "" {
			reason = "no reason given"
		}
		rec.Status, rec.Class = StepFailed, retry.ClassNeedsReview
		rec.Error = "rejected by " + d.Reviewer + ": " + reason
		rec.Note = rec.Error
		r.Status, r.FinishedAt = DeadLettered, now
		r.Step, r.Error, r.Class = rv.Step, rec.Error, retry.ClassNeedsReview
	}
	rv.Decision = &d
	r.UpdatedAt = now
	return rec, nil
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// NoteTrace records on r the trace of the first execution that writes a
// record carrying one: a run submitted for a worker learns its trace from
// its first checkpoint or finish, so that no execution pays an extra write
// for it. An execution's trace is kept once set.
func NoteTrace(r *Run, rec *StepRecord) {
	if r.TraceID == "" && rec != nil && rec.TraceID != "" {
		r.TraceID, r.SpanID = rec.TraceID, rec.SpanID
	}
}
