package storekit

import (
	"slices"

	"github.com/plumb-dev/plumb/store"
)

// LimitOrDefault returns the list limit to apply.
func LimitOrDefault(n int) int {
	if n <= 0 {
		return store.DefaultListLimit
	}
	return n
}

// Page makes the page of runs listed under f: when the limit filled it,
// count (the store's count of the runs f matches below a run id, which
// may stop past f.CountLimit) says how many more there are, at most
// f.CountLimit (Capped when there are more). A page that is not full has
// no more, so most lists cost no second query.
func Page(runs []store.Run, f store.RunFilter, count func(before string) (int, error)) (store.RunPage, error) {
	p := store.RunPage{Runs: runs}
	if f.NoCount || len(runs) == 0 || len(runs) < LimitOrDefault(f.Limit) {
		return p, nil
	}
	last := runs[len(runs)-1].ID
	n, err := count(last)
	if err != nil {
		return store.RunPage{}, err
	}
	if f.CountLimit > 0 && n > f.CountLimit {
		n, p.Capped = f.CountLimit, true
	}
	if n > 0 {
		p.More, p.Next = n, last
	}
	return p, nil
}

// Matches reports whether r passes the filter.
func Matches(r *store.Run, f *store.RunFilter) bool {
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
	if f.ExternalID != "" && r.Trigger.ExternalID != f.ExternalID {
		return false
	}
	if f.IdempotencyKey != "" && r.IdempotencyKey != f.IdempotencyKey {
		return false
	}
	if f.Parent != "" && (r.Parent == nil || r.Parent.RunID != f.Parent) {
		return false
	}
	if f.TopLevel && r.Parent != nil {
		return false
	}
	return true
}
