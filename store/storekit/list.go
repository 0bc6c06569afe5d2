package storekit

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

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

// UntilSkew is how far ahead of its store's clock a run's id (made by the
// process that submitted it) may be: the margin of UntilBound.
const UntilSkew = time.Minute

// ForeignIDs is where the run ids that cannot be Plumb's begin: a ULID,
// 26 characters of Crockford's base32, starts with a digit from 0 to 7.
const ForeignIDs = "8"

// UntilBound is the least run id of Plumb's (a ULID, made when the run is
// submitted, so before the run is first updated) that cannot belong to a
// run updated before until: the ULID of until plus UntilSkew, with no
// random bits. A list filtered by Until reads the ids below it and the
// ids from ForeignIDs up (ids of the application's own), not the newest
// runs in between, so the time filter costs what the page costs however
// far back until is. An id of the application's own that begins with a
// digit from 0 to 7 and sorts at or above the bound is taken for Plumb's.
func UntilBound(until time.Time) string {
	ms := uint64(until.Add(UntilSkew).UnixMilli())
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var out [26]byte
	// 48 bits of milliseconds in the first 10 characters (50 bits), the
	// 80 random bits (16 characters) zero.
	for i := 9; i >= 0; i-- {
		out[i] = alphabet[ms&31]
		ms >>= 5
	}
	for i := 10; i < 26; i++ {
		out[i] = '0'
	}
	return string(out[:])
}

// SplitUntil splits a list by Until into the parts UntilBound says to
// read, newest first: the ids from ForeignIDs up (from is ForeignIDs),
// then those below the bound (from is "", Before the bound). A filter
// without Until, or a lookup (key, external id, parent: few runs), is
// one part as it is.
func SplitUntil(f store.RunFilter) []SplitPart {
	if f.Until.IsZero() || f.IdempotencyKey != "" || f.ExternalID != "" || f.Parent != "" || f.ReviewOrder {
		return []SplitPart{{Filter: f}}
	}
	bound := UntilBound(f.Until)
	var parts []SplitPart
	if f.Before == "" || f.Before > ForeignIDs {
		parts = append(parts, SplitPart{Filter: f, From: ForeignIDs})
	}
	low := f
	if low.Before == "" || low.Before > bound {
		low.Before = bound
	}
	return append(parts, SplitPart{Filter: low})
}

// SplitPart is one part of a list SplitUntil split: the filter, and the
// least id it reads ("" for none).
type SplitPart struct {
	Filter store.RunFilter
	From   string
}

// CheckReviewOrder refuses a RunFilter.ReviewOrder list of anything but
// the runs awaiting review from the start.
func CheckReviewOrder(f store.RunFilter) error {
	if !f.ReviewOrder {
		return nil
	}
	if len(f.Status) == 0 || slices.ContainsFunc(f.Status, func(st store.Status) bool { return st != store.AwaitingReview }) {
		return fmt.Errorf("a list in review order lists runs awaiting review: set Status to [%s] alone: %w", store.AwaitingReview, store.ErrConflict)
	}
	if f.Before != "" {
		return fmt.Errorf("a list in review order has no pages: ask a larger Limit instead of Before: %w", store.ErrConflict)
	}
	return nil
}

// SortByReview puts runs in ReviewOrder's order: oldest review first,
// then by id; a run without a review last.
func SortByReview(runs []store.Run) {
	slices.SortStableFunc(runs, func(a, b store.Run) int {
		switch {
		case a.Review == nil || b.Review == nil:
			return cmp.Compare(boolInt(a.Review == nil), boolInt(b.Review == nil))
		}
		return cmp.Or(a.Review.CreatedAt.Compare(b.Review.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PendingReview reports whether r is listed by RunFilter.ReviewOrder: it
// awaits a review nobody decided.
func PendingReview(r *store.Run) bool {
	return r.Status == store.AwaitingReview && r.Review != nil && r.Review.Decision == nil
}
