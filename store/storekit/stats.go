package storekit

import (
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/store"
)

// StatsAccumulator builds PipelineStats from records, for stores that
// compute statistics in Go.
type StatsAccumulator struct {
	now, since time.Time
	by         map[string]*store.PipelineStats
	steps      map[string]map[string]*store.StepStats
	recoveries map[string]time.Duration
}

// NewStatsAccumulator counts step outcomes finished within window of now
// (all of them when window is 0).
func NewStatsAccumulator(now time.Time, window time.Duration) *StatsAccumulator {
	a := &StatsAccumulator{now: now, by: map[string]*store.PipelineStats{},
		steps: map[string]map[string]*store.StepStats{}, recoveries: map[string]time.Duration{}}
	if window > 0 {
		a.since = now.Add(-window)
	}
	return a
}

func (a *StatsAccumulator) pipeline(name string) *store.PipelineStats {
	p, ok := a.by[name]
	if !ok {
		p = &store.PipelineStats{Pipeline: name, ByStatus: map[store.Status]int{}}
		a.by[name] = p
		a.steps[name] = map[string]*store.StepStats{}
	}
	return p
}

// AddRun counts a run; attempts is its attempt history.
func (a *StatsAccumulator) AddRun(r *store.Run, attempts []store.RunAttempt) {
	p := a.pipeline(r.Pipeline)
	p.ByStatus[r.Status]++
	if r.Parent != nil {
		p.Branches++
	}
	if r.Status == store.Queued && r.NotBefore.After(a.now) {
		p.Deferred++
	}
	if r.Status == store.AwaitingReview && r.Review != nil && r.Review.Decision == nil {
		if p.OldestReview.IsZero() || r.Review.CreatedAt.Before(p.OldestReview) {
			p.OldestReview = r.Review.CreatedAt
		}
	}
	if d, ok := store.RecoveryTime(r, attempts); ok {
		p.Recoveries++
		a.recoveries[r.Pipeline] += d
	}
}

// AddRuns counts n runs of a pipeline in a status, branches of them
// branch runs and deferred of them (queued) held back past now: what
// AddRun counts of each, for stores that count in SQL or keep counters.
// A count of zero adds nothing, not even the pipeline.
func (a *StatsAccumulator) AddRuns(pipeline string, status store.Status, n, branches, deferred int) {
	if n == 0 && branches == 0 && deferred == 0 {
		return
	}
	p := a.pipeline(pipeline)
	if n != 0 {
		p.ByStatus[status] += n
	}
	p.Branches += branches
	if status == store.Queued {
		p.Deferred += deferred
	}
}

// AddAwaiting counts n of a pipeline's deferred runs (counted by AddRuns
// or AddRun) as waiting for an event before their wait's deadline
// (AwaitingEvent).
func (a *StatsAccumulator) AddAwaiting(pipeline string, n int) {
	if n != 0 {
		a.pipeline(pipeline).AwaitingEvent += n
	}
}

// OpenWait reports whether w is an open wait of r's current attempt: r
// waits for an event, and holds no slot under its fork's limit
// (JoinChange).
func OpenWait(w *store.Wait, r *store.Run) bool {
	return !w.Resolved() && w.RunID == r.ID && w.Attempt == r.Attempt
}

// AwaitingEvent reports whether r waits for the event of w at now, as
// Stats counts it: w is an open wait of r's (OpenWait), and r is queued
// until its deadline.
func AwaitingEvent(w *store.Wait, r *store.Run, now time.Time) bool {
	return OpenWait(w, r) && r.Status == store.Queued && r.NotBefore.After(now)
}

// AddReview counts a pending review opened at created (the run is
// counted by AddRuns).
func (a *StatsAccumulator) AddReview(pipeline string, created time.Time) {
	p := a.pipeline(pipeline)
	if p.OldestReview.IsZero() || created.Before(p.OldestReview) {
		p.OldestReview = created
	}
}

// AddRecovery counts a run that succeeded on a replay, its attempts
// being its attempt history (the run is counted by AddRuns).
func (a *StatsAccumulator) AddRecovery(r *store.Run, attempts []store.RunAttempt) {
	if d, ok := store.RecoveryTime(r, attempts); ok {
		p := a.pipeline(r.Pipeline)
		p.Recoveries++
		a.recoveries[r.Pipeline] += d
	}
}

// AddRecoveries counts n runs of a pipeline that succeeded on a replay,
// total being the sum of their recovery times (store.RecoveryTime): what
// AddRecovery counts of each, for stores that keep the recoveries apart
// (the runs are counted by AddRuns).
func (a *StatsAccumulator) AddRecoveries(pipeline string, n int, total time.Duration) {
	if n == 0 {
		return
	}
	p := a.pipeline(pipeline)
	p.Recoveries += n
	a.recoveries[pipeline] += total
}

// AddSteps counts n step records of a step within the window (the
// caller selected them by time): succeeded and failed of them are
// counted as AddStep counts them, the rest only make the step known.
func (a *StatsAccumulator) AddSteps(pipeline, step string, n, succeeded, failed int) {
	if n == 0 {
		return
	}
	a.pipeline(pipeline)
	ss, ok := a.steps[pipeline][step]
	if !ok {
		ss = &store.StepStats{Step: step}
		a.steps[pipeline][step] = ss
	}
	ss.Succeeded += succeeded
	ss.Failed += failed
}

// Since is the start of the window (zero: all time).
func (a *StatsAccumulator) Since() time.Time { return a.since }

// AddStep counts a step record.
func (a *StatsAccumulator) AddStep(pipeline string, rec *store.StepRecord) {
	if !a.since.IsZero() && rec.FinishedAt.Before(a.since) || rec.Index < 0 {
		return
	}
	a.pipeline(pipeline)
	ss, ok := a.steps[pipeline][rec.Step]
	if !ok {
		ss = &store.StepStats{Step: rec.Step}
		a.steps[pipeline][rec.Step] = ss
	}
	switch rec.Status {
	case store.StepSucceeded:
		ss.Succeeded++
	case store.StepFailed, store.StepDeferred:
		ss.Failed++
	}
}

// AddPause records a pipeline's pause.
func (a *StatsAccumulator) AddPause(p store.Pause) {
	ps := a.pipeline(p.Pipeline)
	c := p
	ps.Paused = &c
}

// Result returns the statistics, by pipeline name.
func (a *StatsAccumulator) Result() []store.PipelineStats {
	out := make([]store.PipelineStats, 0, len(a.by))
	for name, p := range a.by {
		for _, ss := range a.steps[name] {
			if n := ss.Succeeded + ss.Failed; n > 0 {
				ss.Rate = float64(ss.Failed) / float64(n)
			}
			p.Steps = append(p.Steps, *ss)
		}
		slices.SortFunc(p.Steps, func(x, y store.StepStats) int { return strings.Compare(x.Step, y.Step) })
		if p.Recoveries > 0 {
			p.MeanRecovery = a.recoveries[name] / time.Duration(p.Recoveries)
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y store.PipelineStats) int { return strings.Compare(x.Pipeline, y.Pipeline) })
	return out
}
