package storekit

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// DeadLetterGrouper builds Ops.DeadLetterGroups from dead-lettered runs
// given newest first (memstore's way; the SQL stores count in SQL and
// use SortGroups).
type DeadLetterGrouper struct {
	limit  int
	by     map[groupKey]*store.DeadLetterGroup
	errs   map[groupKey]map[string]bool
	parent map[groupKey]map[string]int
}

type groupKey struct {
	pipeline, step string
	class          retry.Class
	unclassified   bool
}

// NewDeadLetterGrouper returns a grouper that lists up to limit
// (LimitOrDefault) run ids a group.
func NewDeadLetterGrouper(limit int) *DeadLetterGrouper {
	return &DeadLetterGrouper{limit: LimitOrDefault(limit), by: map[groupKey]*store.DeadLetterGroup{},
		errs: map[groupKey]map[string]bool{}, parent: map[groupKey]map[string]int{}}
}

// Add counts a run; runs come newest (greatest id) first. unclassified
// says its error was (UnclassifiedRun).
func (g *DeadLetterGrouper) Add(r *store.Run, unclassified bool) {
	k := groupKey{r.Pipeline, r.Step, r.Class, unclassified}
	grp, ok := g.by[k]
	if !ok {
		grp = &store.DeadLetterGroup{Pipeline: r.Pipeline, Step: r.Step, Class: r.Class, Unclassified: unclassified, SampleError: r.Error,
			Oldest: r.UpdatedAt, Newest: r.UpdatedAt, RunIDs: []string{}}
		g.by[k], g.errs[k], g.parent[k] = grp, map[string]bool{}, map[string]int{}
	}
	grp.Count++
	if r.UpdatedAt.Before(grp.Oldest) {
		grp.Oldest = r.UpdatedAt
	}
	if r.UpdatedAt.After(grp.Newest) {
		grp.Newest = r.UpdatedAt
	}
	g.errs[k][r.Error] = true
	if r.Parent != nil {
		grp.Branches++
	}
	if len(grp.RunIDs) < g.limit {
		grp.RunIDs = append(grp.RunIDs, r.ID)
		if r.Parent != nil {
			AddParent(grp, r.Parent.RunID)
		}
	}
}

// AddParent counts a listed branch run of a group under its parent.
func AddParent(grp *store.DeadLetterGroup, parent string) {
	for i := range grp.Parents {
		if grp.Parents[i].RunID == parent {
			grp.Parents[i].Branches++
			return
		}
	}
	grp.Parents = append(grp.Parents, store.DeadLetterParent{RunID: parent, Branches: 1})
}

// Result returns the groups, in SortGroups' order.
func (g *DeadLetterGrouper) Result() []store.DeadLetterGroup {
	out := make([]store.DeadLetterGroup, 0, len(g.by))
	for k, grp := range g.by {
		grp.Errors = len(g.errs[k])
		out = append(out, *grp)
	}
	SortGroups(out)
	return out
}

// SortGroups puts groups in DeadLetterGroups' order: largest first, then
// by pipeline, step, class, and the classified before the unclassified.
func SortGroups(gs []store.DeadLetterGroup) {
	slices.SortFunc(gs, func(x, y store.DeadLetterGroup) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.Pipeline, y.Pipeline),
			strings.Compare(x.Step, y.Step), cmp.Compare(x.Class, y.Class), cmp.Compare(boolInt(x.Unclassified), boolInt(y.Unclassified)))
	})
}

// StepHistory builds Ops.StepHistory from per-minute counts.
type StepHistory struct {
	start  time.Time
	bucket time.Duration
	by     map[historyKey]*store.StepBucket
}

type historyKey struct {
	k              int64
	pipeline, step string
}

// NewStepHistory returns a history of buckets of length bucket from
// start (StepHistoryBuckets' result).
func NewStepHistory(start time.Time, bucket time.Duration) *StepHistory {
	return &StepHistory{start: start, bucket: bucket, by: map[historyKey]*store.StepBucket{}}
}

// AddMinute counts a minute's records of a step: minute is the minute's
// number since the Unix epoch (floor of the finish time), as the SQL
// stores' step_counts keep it.
func (h *StepHistory) AddMinute(minute int64, pipeline, step string, n, succeeded, failed int) {
	at := time.Unix(minute*60, 0)
	if at.Before(h.start) || n == 0 {
		return
	}
	k := historyKey{int64(at.Sub(h.start) / h.bucket), pipeline, step}
	b, ok := h.by[k]
	if !ok {
		b = &store.StepBucket{Start: h.start.Add(time.Duration(k.k) * h.bucket), Pipeline: pipeline, Step: step}
		h.by[k] = b
	}
	b.N += n
	b.Succeeded += succeeded
	b.Failed += failed
}

// AddRecord counts a step record, as Stats counts it.
func (h *StepHistory) AddRecord(pipeline string, rec *store.StepRecord) {
	if rec.Index < 0 {
		return
	}
	ok, failed := 0, 0
	switch rec.Status {
	case store.StepSucceeded:
		ok = 1
	case store.StepFailed, store.StepDeferred:
		failed = 1
	}
	ns := rec.FinishedAt.UnixNano()
	if rec.FinishedAt.IsZero() {
		return
	}
	minute := ns / int64(time.Minute)
	if ns < 0 && ns%int64(time.Minute) != 0 {
		minute--
	}
	h.AddMinute(minute, pipeline, rec.Step, 1, ok, failed)
}

// Result returns the buckets, oldest first, then by pipeline and step.
func (h *StepHistory) Result() []store.StepBucket {
	out := make([]store.StepBucket, 0, len(h.by))
	for _, b := range h.by {
		if b.N > 0 {
			out = append(out, *b)
		}
	}
	slices.SortFunc(out, func(x, y store.StepBucket) int {
		return cmp.Or(x.Start.Compare(y.Start), strings.Compare(x.Pipeline, y.Pipeline), strings.Compare(x.Step, y.Step))
	})
	return out
}

// Unclassified reports whether an outcome dead-letters its run on an
// error nobody classified: its record is the failed step's, whose last
// attempt says so (store.AttemptRecord.Unclassified). The run's Class is
// then what the pipeline made of it (permanent), not what the error
// said, and DeadLetterGroups groups it apart.
func Unclassified(o store.Outcome) bool {
	if o.Status != store.DeadLettered || o.Record == nil || o.Record.Status != store.StepFailed {
		return false
	}
	n := len(o.Record.Attempts)
	return n > 0 && o.Record.Attempts[n-1].Unclassified
}
