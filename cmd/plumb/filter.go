package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// filterFlags are the run filters the listing and batch commands share.
type filterFlags struct {
	pipeline, step, class string
	since, until          string
	statuses              []string
	limit                 int
	// parent and topLevel select by place in a tree of branch runs.
	parent   string
	topLevel bool
	// externalID and key find a customer's item: the trigger's id in its
	// source system, and the idempotency key it was submitted with.
	externalID, key string
}

// register adds the flags; status only where a command lets one choose.
func (f *filterFlags) register(fs *pflag.FlagSet, status, until bool, limit int) {
	fs.StringVar(&f.pipeline, "pipeline", "", "only runs of this pipeline")
	fs.StringVar(&f.step, "step", "", "only runs that failed or wait at this step")
	fs.StringVar(&f.class, "class", "", "only runs that failed with this error class ("+classNames()+")")
	fs.StringVar(&f.since, "since", "", "only runs updated since then: a duration back from now (90m, 2h, 3d) or a time (2026-11-27, 2026-11-27T02:00, RFC 3339)")
	if until {
		fs.StringVar(&f.until, "until", "", "only runs updated before then (same forms as --since)")
	}
	if status {
		fs.StringSliceVar(&f.statuses, "status", nil, "only runs with these statuses, comma-separated ("+statusNames()+")")
	}
	fs.IntVar(&f.limit, "limit", limit, "at most this many runs")
	fs.StringVar(&f.parent, "parent", "", "only the branch runs of this run (the children its branching steps forked)")
	fs.BoolVar(&f.topLevel, "top-level", false, "only runs that are not branch runs")
	fs.StringVar(&f.externalID, "external-id", "", "only runs whose trigger has this external id (the item's id in its source system: a customer's lead id)")
	fs.StringVar(&f.key, "key", "", "only the run submitted with this idempotency key")
}

// filterNames are the flags register adds: a command that takes a run id
// refuses them without --filter.
var filterNames = []string{"pipeline", "step", "class", "since", "until", "status", "limit", "parent", "top-level", "external-id", "key"}

// build turns the flags into a store filter.
func (f *filterFlags) build(now time.Time) (store.RunFilter, error) {
	rf := store.RunFilter{Pipeline: f.pipeline, Step: f.step, Limit: f.limit, Parent: f.parent, TopLevel: f.topLevel,
		ExternalID: f.externalID, IdempotencyKey: f.key}
	if f.limit <= 0 {
		return rf, usagef("--limit must be positive")
	}
	if f.parent != "" && f.topLevel {
		return rf, usagef("--parent selects branch runs and --top-level excludes them: give one of them")
	}
	if f.class != "" {
		c, ok := retry.ParseClass(strings.ReplaceAll(f.class, "-", "_"))
		if !ok {
			return rf, usagef("unknown class %q: want one of %s", f.class, classNames())
		}
		rf.Class = c
	}
	for _, s := range f.statuses {
		st := store.Status(strings.ReplaceAll(strings.TrimSpace(s), "-", "_"))
		if !st.Valid() {
			return rf, usagef("unknown status %q: want one of %s", s, statusNames())
		}
		rf.Status = append(rf.Status, st)
	}
	var err error
	if rf.Since, err = parseWhen("--since", f.since, now); err != nil {
		return rf, err
	}
	if rf.Until, err = parseWhen("--until", f.until, now); err != nil {
		return rf, err
	}
	return rf, nil
}

// parseWhen reads a time: a duration back from now, or a date and time
// (UTC unless the value says otherwise).
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := parseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, usagef("%s %s: give a duration back from now, without a sign", flag, s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("%s %q: want a duration (90m, 2h, 3d) or a time (2026-11-27, 2026-11-27T02:00, RFC 3339)", flag, s)
}

// parseDuration is time.ParseDuration plus days ("3d", "1d12h"), the unit
// people think of old dead letters in. The days take no sign and the rest
// none either, so that "1d-5h" is not quietly 19 hours; a total past
// time.Duration's range (about 292 years) is refused, not wrapped around.
func parseDuration(s string) (time.Duration, error) {
	i := strings.Index(s, "d")
	if i < 0 {
		return time.ParseDuration(s)
	}
	days, err := strconv.ParseUint(s[:i], 10, 63)
	if err != nil || s[0] == '+' {
		return 0, fmt.Errorf("time: invalid duration %q: want whole days before the d", s)
	}
	rest := time.Duration(0)
	if tail := s[i+1:]; tail != "" {
		if tail[0] == '-' || tail[0] == '+' {
			return 0, fmt.Errorf("time: invalid duration %q: no sign after the days", s)
		}
		if rest, err = time.ParseDuration(tail); err != nil {
			return 0, err
		}
	}
	if days > uint64((math.MaxInt64-rest)/(24*time.Hour)) {
		return 0, fmt.Errorf("time: invalid duration %q: longer than %s", s, time.Duration(math.MaxInt64))
	}
	return time.Duration(days)*24*time.Hour + rest, nil
}

func classNames() string {
	var names []string
	for c := retry.ClassTransient; c <= retry.ClassRefusal; c++ {
		names = append(names, c.String())
	}
	return strings.Join(names, ", ")
}

func statusNames() string {
	var names []string
	for _, s := range store.Statuses {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
