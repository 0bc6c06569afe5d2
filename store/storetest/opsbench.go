package storetest

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/plumb-dev/plumb/internal/opsseed"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/store"
)

// opsPicks are values of the seeded store the benchmark looks up: a run
// half way through (a deep page starts below it), an external id, a key
// and a parent of branch runs.
type opsPicks struct {
	middle, externalID, key, parent string
}

var errPicked = errors.New("picked")

// cpuTime is the user and system CPU time of the process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pickOps(n int, end time.Time) (opsPicks, error) {
	var p opsPicks
	i := 0
	err := opsseed.Generate(n, end, func(r *opsseed.Run) error {
		i++
		if i < n/2 {
			return nil
		}
		if p.middle == "" {
			p.middle = r.ID
		}
		if p.externalID == "" && r.ExternalID != "" {
			p.externalID = r.ExternalID
		}
		if p.key == "" && r.IdempotencyKey != "" {
			p.key = r.IdempotencyKey
		}
		if p.parent == "" && r.Parent != nil {
			p.parent = r.Parent.RunID
		}
		if p.middle != "" && p.externalID != "" && p.key != "" && p.parent != "" {
			return errPicked
		}
		return nil
	})
	if errors.Is(err, errPicked) {
		err = nil
	}
	return p, err
}

// BenchOps times, on a store seeded with opsseed's n runs ending at end,
// what the ops CLI and the review inbox ask of it: Stats (plumb status)
// over the whole seeded span, over an hour and for one pipeline; the
// the former dead-letter listing (ListRuns of 10,000 dead letters) and a
// group's page; Ops.DeadLetterGroups as plumb deadletters list and the
// console ask it; the overview's 24 hours of StepHistory; ListRuns with each filter (the CLI's default limit of 50), on
// the first page and on a deep one (keyset: Before the middle run); and
// the inbox's page of the oldest pending reviews. Each reports ms/op. The
// listings count the runs past their page up to 1,000, as the CLI does.
func BenchOps(b *testing.B, s store.Store, end time.Time) {
	ctx := context.Background()
	p, err := pickOps(1_000_000, end)
	if err != nil {
		b.Fatal(err)
	}
	all := time.Since(end) + opsseed.Span + time.Minute
	dead := []store.Status{store.DeadLettered}
	timed := func(name string, fn func() error) {
		b.Run(name, func(b *testing.B) {
			if err := fn(); err != nil { // warm, and checked
				b.Fatal(err)
			}
			cpu := cpuTime()
			b.ResetTimer()
			for range b.N {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
			// The process's CPU (user and system), which a loaded
			// machine inflates less than the wall time; a server's
			// (PostgreSQL's) is not in it.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
	stats := func(pipeline string, window time.Duration) func() error {
		return func() error {
			st, err := s.Stats(ctx, pipeline, window)
			if err == nil && len(st) == 0 {
				err = errors.New("no stats")
			}
			return err
		}
	}
	timed("Stats/all", stats("", all))
	timed("Stats/1h", stats("", time.Hour))
	timed("Stats/pipeline", stats(opsseed.Pipelines[0], all))
	list := func(f store.RunFilter, want int) func() error {
		return func() error {
			page, err := s.ListRuns(ctx, f)
			if err == nil && len(page.Runs) < want {
				err = errors.New("too few runs listed")
			}
			return err
		}
	}
	// plumb deadletters list at its default limit, and the count of a
	// group that deadletters show gives; the CLI bounds its counts of the
	// runs past a page at 1,000.
	timed("DeadLetters/list", list(store.RunFilter{Status: dead, Limit: 10000, CountLimit: 1000}, 10000))
	timed("DeadLetters/group", list(store.RunFilter{Status: dead, Pipeline: opsseed.Pipelines[0], Step: "classify",
		Class: retry.ClassContract, Limit: 1, CountLimit: 1000}, 1))
	// What plumb deadletters list and the console's page ask now: the
	// groups counted in the store (the CLI's default of 10,000 ids a
	// group, the console's one), whole and filtered.
	groups := func(f store.RunFilter) func() error {
		return func() error {
			gs, err := s.DeadLetterGroups(ctx, f)
			if err == nil && len(gs) == 0 {
				err = errors.New("no dead-letter groups")
			}
			return err
		}
	}
	timed("DeadLetterGroups/cli", groups(store.RunFilter{Limit: 10000}))
	timed("DeadLetterGroups/console", groups(store.RunFilter{Limit: 1}))
	timed("DeadLetterGroups/since-1h", groups(store.RunFilter{Limit: 10000, Since: end.Add(-time.Hour)}))
	timed("DeadLetterGroups/pipeline", groups(store.RunFilter{Limit: 10000, Pipeline: opsseed.Pipelines[0]}))
	// The console overview's hourly chart: 24 hourly buckets of every
	// step's outcomes, from the per-minute counters.
	timed("StepHistory/24h", func() error {
		bs, err := s.StepHistory(ctx, "", end.Add(-opsseed.Span), time.Hour)
		if err == nil && len(bs) == 0 {
			err = errors.New("no step history")
		}
		return err
	})
	since := end.Add(-time.Hour)
	for _, c := range []struct {
		name string
		f    store.RunFilter
		deep bool
		want int
	}{
		{"all", store.RunFilter{}, true, 50},
		{"top-level", store.RunFilter{TopLevel: true}, true, 50},
		{"status", store.RunFilter{Status: dead}, true, 50},
		{"status-succeeded", store.RunFilter{Status: []store.Status{store.Succeeded}}, true, 50},
		{"statuses", store.RunFilter{Status: []store.Status{store.Queued, store.Running, store.DeadLettered}}, true, 50},
		{"pipeline", store.RunFilter{Pipeline: opsseed.Pipelines[1]}, true, 50},
		{"step", store.RunFilter{Step: "classify"}, true, 50},
		{"class", store.RunFilter{Class: retry.ClassContract}, true, 50},
		{"pipeline-step-class", store.RunFilter{Status: dead, Pipeline: opsseed.Pipelines[1], Step: "reply", Class: retry.ClassPermanent}, true, 50},
		{"since-1h", store.RunFilter{Since: since}, false, 50},
		{"until-12h", store.RunFilter{Until: end.Add(-12 * time.Hour)}, false, 50},
		{"since-until", store.RunFilter{Since: end.Add(-13 * time.Hour), Until: end.Add(-12 * time.Hour)}, false, 50},
		{"external-id", store.RunFilter{ExternalID: p.externalID}, false, 1},
		{"key", store.RunFilter{IdempotencyKey: p.key}, false, 1},
		{"parent", store.RunFilter{Parent: p.parent}, false, 2},
	} {
		f := c.f
		f.Limit, f.CountLimit = 50, 1000
		timed("ListRuns/"+c.name, list(f, c.want))
		if c.deep {
			f.Before = p.middle
			timed("ListRuns/"+c.name+"/deep", list(f, c.want))
		}
	}
	timed("Inbox", func() error {
		// reviewhttp's pending: the 1,001 oldest pending reviews, in
		// review order, one page.
		page, err := s.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.AwaitingReview}, Limit: 1001, ReviewOrder: true})
		if err == nil && len(page.Runs) < 1001 {
			err = errors.New("too few reviews listed")
		}
		return err
	})
}
