package sqlitestore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/retry/retrytest"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
	"github.com/plumb-dev/plumb/store/memstore"
	"github.com/plumb-dev/plumb/store/sqlitestore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// TestDifferentialAgainstMemstore drives this store and memstore, the
// reference, through the same random sequence of operations and requires
// the same answers: claims, listings, statistics and whole timelines. It
// checks the paths where this store does in SQL what memstore does in Go.
func TestDifferentialAgainstMemstore(t *testing.T) {
	ctx := context.Background()
	clock := retrytest.NewClock(storetest.Start)
	ref := memstore.New(memstore.Config{Clock: clock})
	s := open(t, filepath.Join(t.TempDir(), "plumb.db"), sqlitestore.Config{Clock: clock})
	stores := []store.Store{ref, s}
	rng := rand.New(rand.NewPCG(7, 11))
	pipelines := []string{"leads", "posts", "triage"}
	def := store.PipelineDef{Name: "leads", KeepPayloads: true, Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}}
	for _, st := range stores {
		require.NoError(t, st.RegisterPipeline(ctx, def))
	}
	// held maps a run to its lease in each store (tokens differ).
	held := map[string][2]store.Lease{}
	var ids []string
	pick := func() string { return ids[rng.IntN(len(ids))] }
	// pickIn mostly picks a run in one of the statuses, so that the
	// operations that need one (decide, replay) mostly get one.
	pickIn := func(statuses ...store.Status) string {
		runsPage, err := ref.ListRuns(ctx, store.RunFilter{Status: statuses, Limit: 1000})
		runs := runsPage.Runs
		require.NoError(t, err)
		if len(runs) == 0 || rng.IntN(5) == 0 {
			return pick()
		}
		return runs[rng.IntN(len(runs))].ID
	}

	tally := map[string]int{}
	// both runs op on each store and requires equal results.
	both := func(what string, op func(st store.Store, i int) (any, error)) []any {
		var outs []any
		var errs []error
		for i, st := range stores {
			out, err := op(st, i)
			outs, errs = append(outs, out), append(errs, err)
		}
		require.Equal(t, errClass(errs[0]), errClass(errs[1]), "%s: memstore %v, sqlitestore %v", what, errs[0], errs[1])
		kind, _, _ := strings.Cut(what, " ")
		if !strings.Contains(what, ": ") {
			tally[kind+" "+errClass(errs[0])]++
		}
		require.Equal(t, normalize(t, outs[0]), normalize(t, outs[1]), "%s", what)
		return outs
	}

	const steps = 200
	for k := range steps {
		what := ""
		switch n := rng.IntN(100); {
		case n < 20:
			id := fmt.Sprintf("run-%04d", k)
			nr := store.NewRun{ID: id, Pipeline: pipelines[rng.IntN(3)], Input: json.RawMessage(fmt.Sprintf(`{"n":%d}`, k)),
				KeepPayloads: rng.IntN(4) > 0, Trigger: stepTrigger(k)}
			if rng.IntN(4) == 0 {
				nr.IdempotencyKey = fmt.Sprint("k", rng.IntN(10))
			}
			if rng.IntN(5) == 0 {
				nr.NotBefore = clock.Now().Add(time.Duration(rng.IntN(120)) * time.Second)
			}
			what = "enqueue " + id
			both(what, func(st store.Store, _ int) (any, error) {
				r, created, err := st.Enqueue(ctx, nr)
				r.LeaseToken = ""
				return []any{r, created}, err
			})
			ids = append(ids, id)
		case n < 35:
			req := store.ClaimRequest{Worker: "w", Limit: 1 + rng.IntN(3), Lease: 30 * time.Second}
			if rng.IntN(2) == 0 {
				req.Pipelines = []string{pipelines[rng.IntN(3)]}
			}
			what = fmt.Sprintf("claim %v", req.Pipelines)
			both(what, func(st store.Store, _ int) (any, error) {
				c, err := st.Claim(ctx, req)
				for i := range c {
					c[i].Run.LeaseToken, c[i].Lease.Token = "", ""
					for j := range c[i].Checkpoints {
						c[i].Checkpoints[j].RunID = c[i].Run.ID // as for get, below
					}
				}
				return c, err
			})
			// Each store's own leases, from a second look: a lease held
			// before and now lost stays in held and is refused alike.
			for i, st := range stores {
				runsPage, err := st.ListRuns(ctx, store.RunFilter{Status: []store.Status{store.Running}, Limit: 1000})
				runs := runsPage.Runs
				require.NoError(t, err)
				for _, r := range runs {
					l := held[r.ID]
					l[i] = r.Lease()
					held[r.ID] = l
				}
			}
		case n < 50 && len(held) > 0:
			id := pickHeld(rng, held, pickIn)
			rec := store.StepRecord{Index: rng.IntN(3), Step: []string{"parse", "classify", "draft"}[rng.IntN(3)], Status: store.StepSucceeded,
				Input: json.RawMessage(`{"in":1}`), Output: json.RawMessage(fmt.Sprintf(`{"out":%d}`, k)), StartedAt: clock.Now(), FinishedAt: clock.Now(),
				Attempts: []step.Attempt{{Step: "parse", Number: 1, Start: clock.Now(), Raw: "raw answer"}}}
			what = "checkpoint " + id
			both(what, func(st store.Store, i int) (any, error) { return nil, st.Checkpoint(ctx, held[id][i], rec) })
		case n < 70 && len(held) > 0:
			id := pickHeld(rng, held, pickIn)
			o := outcome(rng, clock.Now())
			what = fmt.Sprintf("finish %s %s", id, o.Status)
			both(what, func(st store.Store, i int) (any, error) { return nil, st.Finish(ctx, held[id][i], o) })
		case n < 72 && len(held) > 0:
			id := anyKey(rng, held)
			what = "release " + id
			both(what, func(st store.Store, i int) (any, error) { return nil, st.Release(ctx, []store.Lease{held[id][i]}) })
		case n < 74 && len(held) > 0:
			id := anyKey(rng, held)
			what = "heartbeat " + id
			both(what, func(st store.Store, i int) (any, error) {
				return st.Heartbeat(ctx, []store.Lease{held[id][i]}, time.Minute)
			})
		case n < 79:
			d := time.Duration(rng.IntN(40)) * time.Second
			what = fmt.Sprint("advance ", d)
			clock.Advance(d)
		case n < 82 && len(ids) > 0:
			id := pickIn(store.DeadLettered, store.Cancelled)
			req := store.ReplayRequest{RunID: id}
			if rng.IntN(3) == 0 {
				req.Input = json.RawMessage(`{"patched":true}`)
			}
			if rng.IntN(3) == 0 {
				req.From = []string{"parse", "classify", "draft"}[rng.IntN(3)]
			}
			what = "replay " + id
			both(what, func(st store.Store, _ int) (any, error) { return st.Replay(ctx, req) })
		case n < 86 && len(ids) > 0:
			id := pickIn(store.AwaitingReview)
			// A ref picked at random: current, stale and decided reviews alike.
			d := store.Decision{Review: store.ReviewRef{Attempt: 1 + rng.IntN(2), Index: rng.IntN(3)},
				Approved: rng.IntN(2) == 0, Reviewer: "ana", Reason: "looked"}
			if rng.IntN(3) == 0 {
				d.Output = json.RawMessage(`{"label":"hot"}`)
			}
			what = "decide " + id
			both(what, func(st store.Store, _ int) (any, error) {
				r, err := st.Decide(ctx, id, d)
				if r != nil {
					r.LeaseToken = ""
				}
				return r, err
			})
		case n < 87 && len(ids) > 0:
			id := pickIn(store.AwaitingReview)
			what = "escalate " + id
			both(what, func(st store.Store, _ int) (any, error) { return nil, st.EscalateReview(ctx, id) })
		case n < 91:
			p := store.Pause{Pipeline: pipelines[rng.IntN(3)], Reason: "breaker", By: "breaker:x"}
			if rng.IntN(2) == 0 {
				p.ProbeAfter = clock.Now().Add(time.Duration(rng.IntN(60)) * time.Second)
			}
			what = "pause " + p.Pipeline
			both(what, func(st store.Store, _ int) (any, error) { return nil, st.SetPause(ctx, p) })
		case n < 94:
			p := pipelines[rng.IntN(3)]
			what = "resume " + p
			both(what, func(st store.Store, _ int) (any, error) { return st.ClearPause(ctx, p) })
		case n < 95:
			what = "prune"
			both(what, func(st store.Store, _ int) (any, error) {
				return st.Prune(ctx, store.Retention{MaxAge: time.Hour, MaxRuns: 5})
			})
		default:
			continue
		}
		// Every run now and then; a few each time.
		some := ids
		if k%50 != 49 && len(ids) > 3 {
			some = []string{pick(), pick()}
		}
		compareAll(t, ctx, some, what, k%10 == 0 || k == steps-1, both)
	}
	t.Logf("operations by outcome: %v", tally)
}

// compareAll compares listings, statistics and every timeline.
func compareAll(t *testing.T, ctx context.Context, some []string, what string, lists bool, both func(string, func(store.Store, int) (any, error)) []any) {
	t.Helper()
	for _, id := range some {
		both(what+": get "+id, func(st store.Store, _ int) (any, error) {
			d, err := st.GetRun(ctx, id)
			if d != nil {
				d.Run.LeaseToken = ""
				for i := range d.Steps {
					d.Steps[i].RunID = id // memstore leaves it empty on a patched replay record
				}
			}
			return d, err
		})
	}
	if !lists {
		return
	}
	filters := []store.RunFilter{
		{}, {Limit: 7}, {Pipeline: "leads"}, {Pipeline: "posts", Status: []store.Status{store.Queued, store.DeadLettered}},
		{Status: []store.Status{store.Running}}, {Status: []store.Status{store.AwaitingReview, store.Succeeded, store.Cancelled}, Limit: 4},
		{Step: "parse"}, {Class: retry.ClassTransient}, {Since: storetest.Start.Add(time.Minute)}, {Until: storetest.Start.Add(2 * time.Minute), Before: "run-0200"},
	}
	for _, f := range filters {
		both(fmt.Sprintf("%s: list %+v", what, f), func(st store.Store, _ int) (any, error) {
			runsPage, err := st.ListRuns(ctx, f)
			runs := runsPage.Runs
			for i := range runs {
				runs[i].LeaseToken = ""
			}
			return runs, err
		})
	}
	for _, p := range []string{"", "leads"} {
		for _, w := range []time.Duration{0, time.Minute} {
			both(fmt.Sprintf("%s: stats %q %v", what, p, w), func(st store.Store, _ int) (any, error) { return st.Stats(ctx, p, w) })
		}
	}
}

func outcome(rng *rand.Rand, now time.Time) store.Outcome {
	rec := store.StepRecord{Index: 1, Step: "classify", Status: store.StepFailed, Error: "bad label", Class: retry.ClassContract,
		Input: json.RawMessage(`{"in":2}`), StartedAt: now, FinishedAt: now,
		Attempts: []step.Attempt{{Step: "classify", Number: 1, Start: now, Raw: "HOT", Error: "bad label", Class: retry.ClassContract}}}
	switch rng.IntN(5) {
	case 0:
		rec.Status, rec.Output, rec.Error, rec.Class, rec.Index, rec.Step = store.StepSucceeded, json.RawMessage(`"Hi"`), "", 0, 2, "draft"
		return store.Outcome{Status: store.Succeeded, Record: &rec, Output: json.RawMessage(`"Hi"`)}
	case 1:
		return store.Outcome{Status: store.DeadLettered, Record: &rec, Step: "classify", Error: rec.Error, Class: rec.Class}
	case 2:
		rec.Status = store.StepReview
		rv := &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Proposed: json.RawMessage(`{"label":"warm"}`), Deadline: now.Add(time.Hour)}
		if rng.IntN(2) == 0 {
			rv.Proposed = nil
		}
		return store.Outcome{Status: store.AwaitingReview, Record: &rec, Step: "classify", Review: rv}
	case 3:
		rec.Status, rec.Class = store.StepDeferred, retry.ClassTransient
		return store.Outcome{Status: store.Queued, Record: &rec, Step: "classify", Error: "429", Class: retry.ClassTransient, NotBefore: now.Add(45 * time.Second)}
	default:
		return store.Outcome{Status: store.Cancelled, Step: "parse", Error: "context canceled", Class: retry.ClassCancelled}
	}
}

func stepTrigger(i int) step.Trigger {
	return step.Trigger{Source: "webhook", ExternalID: fmt.Sprint("ext-", i), ReceivedAt: storetest.Start.Add(time.Duration(i) * 1234567 * time.Nanosecond)}
}

// pickHeld mostly picks a running run, else any run ever leased (whose
// lease may be stale).
func pickHeld(rng *rand.Rand, m map[string][2]store.Lease, pickIn func(...store.Status) string) string {
	if id := pickIn(store.Running); rng.IntN(4) > 0 {
		if _, ok := m[id]; ok {
			return id
		}
	}
	return anyKey(rng, m)
}

func anyKey(rng *rand.Rand, m map[string][2]store.Lease) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))]
}

// errClass reduces an error to the store sentinel it wraps.
func errClass(err error) string {
	for _, s := range []error{store.ErrNotFound, store.ErrLeaseLost, store.ErrFinal, store.ErrConflict, store.ErrNeedsInput} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// normalize makes results comparable across stores: their JSON.
func normalize(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
