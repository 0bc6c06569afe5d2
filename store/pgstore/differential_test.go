package pgstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
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
	"github.com/plumb-dev/plumb/store/pgstore"
	"github.com/plumb-dev/plumb/store/storetest"
)

// TestDifferentialAgainstMemstore drives this store and memstore, the
// reference, through one random sequence of operations and requires the
// same answers: claims (probes included), checkpoints, listings,
// statistics and whole timelines. It checks the paths where this store
// does in SQL what memstore does in Go. Times are whole microseconds, the
// precision PostgreSQL keeps.
func TestDifferentialAgainstMemstore(t *testing.T) {
	testDSN(t)
	for _, seed := range []uint64{3, 7, 11} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { differential(t, seed, 400) })
	}
}

func differential(t *testing.T, seed uint64, ops int) {
	ctx := context.Background()
	clock := retrytest.NewClock(storetest.Start)
	stores := []store.Store{memstore.New(memstore.Config{Clock: clock}), openStore(t, pgstore.Config{Clock: clock})}
	rng := rand.New(rand.NewPCG(seed, 5))
	pipelines := []string{"leads", "posts", "triage"}
	steps := []string{"parse", "classify", "draft"}
	for _, st := range stores {
		require.NoError(t, st.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", KeepPayloads: true,
			Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}}))
	}
	held := map[string][2]store.Lease{} // each store's lease of a run (tokens differ)
	var ids []string
	tally := map[string]int{}
	same := func(what string, op func(st store.Store, i int) (any, error)) {
		t.Helper()
		var outs [2]string
		var errs [2]error
		for i, st := range stores {
			out, err := op(st, i)
			b, jerr := json.Marshal(out)
			require.NoError(t, jerr)
			outs[i], errs[i] = string(b), err
		}
		require.Equal(t, sentinel(errs[0]), sentinel(errs[1]), "%s: memstore %v, pgstore %v", what, errs[0], errs[1])
		require.Equal(t, outs[0], outs[1], what)
		kind, _, _ := strings.Cut(what, " ")
		tally[kind+" "+sentinel(errs[0])]++
	}
	inStatus := func(statuses ...store.Status) string {
		runsPage, err := stores[0].ListRuns(ctx, store.RunFilter{Status: statuses, Limit: 1000})
		runs := runsPage.Runs
		require.NoError(t, err)
		if len(runs) == 0 || rng.IntN(10) == 0 {
			return ids[rng.IntN(len(ids))]
		}
		return runs[rng.IntN(len(runs))].ID
	}
	anyHeld := func() string {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range held {
				if !yield(k) {
					return
				}
			}
		})
		if id := inStatus(store.Running); rng.IntN(8) > 0 {
			if _, ok := held[id]; ok {
				return id
			}
		}
		return keys[rng.IntN(len(keys))]
	}

	for k := range ops {
		now := clock.Now()
		switch n := rng.IntN(100); {
		case n < 20:
			id := fmt.Sprintf("run-%04d", k)
			nr := store.NewRun{ID: id, Pipeline: pipelines[rng.IntN(3)], Input: json.RawMessage(fmt.Sprintf(`{"n":%d}`, k)),
				KeepPayloads: rng.IntN(4) > 0, Trigger: step.Trigger{Source: "webhook", ExternalID: fmt.Sprint("ext-", k),
					ReceivedAt: storetest.Start.Add(time.Duration(k) * 1234 * time.Microsecond)}}
			if rng.IntN(4) == 0 {
				nr.IdempotencyKey = fmt.Sprint("key-", rng.IntN(10))
			}
			if rng.IntN(5) == 0 {
				nr.NotBefore = now.Add(time.Duration(rng.IntN(120)) * time.Second)
			}
			same("enqueue "+id, func(st store.Store, _ int) (any, error) {
				r, created, err := st.Enqueue(ctx, nr)
				r.LeaseToken = ""
				return []any{r, created}, err
			})
			ids = append(ids, id)
		case n < 36:
			req := store.ClaimRequest{Worker: "w", Limit: 1 + rng.IntN(3), Lease: 30 * time.Second}
			if rng.IntN(3) > 0 {
				req.Pipelines = []string{pipelines[rng.IntN(3)]}
			}
			same(fmt.Sprintf("claim %v", req.Pipelines), func(st store.Store, i int) (any, error) {
				c, err := st.Claim(ctx, req)
				for j := range c {
					l := held[c[j].Run.ID]
					l[i] = c[j].Lease
					held[c[j].Run.ID] = l
					c[j].Run.LeaseToken, c[j].Lease.Token = "", ""
				}
				return c, err
			})
		case n < 52 && len(held) > 0:
			id := anyHeld()
			rec := store.StepRecord{Index: rng.IntN(3), Status: store.StepSucceeded, Input: json.RawMessage(`{"in":1}`),
				Output: json.RawMessage(fmt.Sprintf(`{"out":%d}`, k)), StartedAt: now, FinishedAt: now,
				Attempts: []step.Attempt{{Step: "parse", Number: 1, Start: now, Raw: "raw answer"}}}
			rec.Step = steps[rec.Index]
			same("checkpoint "+id, func(st store.Store, i int) (any, error) { return nil, st.Checkpoint(ctx, held[id][i], rec) })
		case n < 70 && len(held) > 0:
			id := anyHeld()
			o := randomOutcome(rng, now)
			same("finish "+id+" "+string(o.Status), func(st store.Store, i int) (any, error) { return nil, st.Finish(ctx, held[id][i], o) })
		case n < 73 && len(held) > 0:
			id := anyHeld()
			same("release "+id, func(st store.Store, i int) (any, error) { return nil, st.Release(ctx, []store.Lease{held[id][i]}) })
		case n < 76 && len(held) > 0:
			id := anyHeld()
			same("heartbeat "+id, func(st store.Store, i int) (any, error) {
				return st.Heartbeat(ctx, []store.Lease{held[id][i]}, time.Minute)
			})
		case n < 81:
			clock.Advance(time.Duration(rng.IntN(40)) * time.Second)
			continue
		case n < 85 && len(ids) > 0:
			req := store.ReplayRequest{RunID: inStatus(store.DeadLettered, store.Cancelled)}
			if rng.IntN(3) == 0 {
				req.Input = json.RawMessage(`{"patched":true}`)
			}
			if rng.IntN(3) == 0 {
				req.From = steps[rng.IntN(3)]
			}
			same("replay "+req.RunID, func(st store.Store, _ int) (any, error) { return st.Replay(ctx, req) })
		case n < 89 && len(ids) > 0:
			id := inStatus(store.AwaitingReview)
			// A ref picked at random: current, stale and decided reviews alike.
			d := store.Decision{Review: store.ReviewRef{Attempt: 1 + rng.IntN(2), Index: rng.IntN(3)},
				Approved: rng.IntN(2) == 0, Reviewer: "ana", Reason: "looked"}
			if rng.IntN(3) == 0 {
				d.Output = json.RawMessage(`{"label":"hot"}`)
			}
			same("decide "+id, func(st store.Store, _ int) (any, error) { return st.Decide(ctx, id, d) })
		case n < 90 && len(ids) > 0:
			id := inStatus(store.AwaitingReview)
			same("escalate "+id, func(st store.Store, _ int) (any, error) { return nil, st.EscalateReview(ctx, id) })
		case n < 94:
			p := store.Pause{Pipeline: pipelines[rng.IntN(3)], Reason: "breaker", By: "breaker:parse"}
			if rng.IntN(2) == 0 {
				p.ProbeAfter = now.Add(time.Duration(rng.IntN(60)) * time.Second)
			}
			same("pause "+p.Pipeline, func(st store.Store, _ int) (any, error) { return nil, st.SetPause(ctx, p) })
		case n < 97:
			p := pipelines[rng.IntN(3)]
			same("resume "+p, func(st store.Store, _ int) (any, error) { return st.ClearPause(ctx, p) })
		case n < 98:
			same("prune", func(st store.Store, _ int) (any, error) {
				return st.Prune(ctx, store.Retention{MaxAge: time.Hour, MaxRuns: 5})
			})
		default:
			continue
		}
		if len(ids) > 0 {
			id := ids[rng.IntN(len(ids))]
			same("get "+id, func(st store.Store, _ int) (any, error) {
				d, err := st.GetRun(ctx, id)
				if d != nil {
					d.Run.LeaseToken = ""
				}
				return d, err
			})
		}
		if k%25 == 24 {
			compareViews(t, ctx, same)
		}
	}
	compareViews(t, ctx, same)
	t.Logf("operations by outcome: %v", tally)
}

// compareViews compares listings, statistics, pauses and definitions.
func compareViews(t *testing.T, ctx context.Context, same func(string, func(store.Store, int) (any, error))) {
	t.Helper()
	for _, f := range []store.RunFilter{
		{}, {Limit: 7}, {Pipeline: "leads"}, {Pipeline: "posts", Status: []store.Status{store.Queued, store.DeadLettered}},
		{Status: []store.Status{store.Running}}, {Status: []store.Status{store.AwaitingReview, store.Succeeded}, Limit: 4},
		{Step: "classify"}, {Class: retry.ClassTransient}, {Since: storetest.Start.Add(time.Minute)},
		{Until: storetest.Start.Add(5 * time.Minute), Before: "run-0150"},
	} {
		same(fmt.Sprintf("list %+v", f), func(st store.Store, _ int) (any, error) {
			runsPage, err := st.ListRuns(ctx, f)
			runs := runsPage.Runs
			for i := range runs {
				runs[i].LeaseToken = ""
			}
			return runs, err
		})
	}
	for _, p := range []string{"", "leads"} {
		for _, w := range []time.Duration{0, 2 * time.Minute} {
			same(fmt.Sprintf("stats %q %v", p, w), func(st store.Store, _ int) (any, error) { return st.Stats(ctx, p, w) })
		}
	}
	for _, p := range []string{"leads", "posts", "triage"} {
		same("getpause "+p, func(st store.Store, _ int) (any, error) { return st.GetPause(ctx, p) })
	}
	same("pipelines", func(st store.Store, _ int) (any, error) { return st.Pipelines(ctx) })
}

func randomOutcome(rng *rand.Rand, now time.Time) store.Outcome {
	rec := store.StepRecord{Index: 1, Step: "classify", Status: store.StepFailed, Error: "bad label", Class: retry.ClassContract,
		Input: json.RawMessage(`{"in":2}`), StartedAt: now, FinishedAt: now,
		Attempts: []step.Attempt{{Step: "classify", Number: 1, Start: now, Raw: "HOT", Error: "bad label", Class: retry.ClassContract}}}
	switch rng.IntN(6) {
	case 0:
		rec.Status, rec.Output, rec.Error, rec.Class, rec.Index, rec.Step = store.StepSucceeded, json.RawMessage(`"Hi"`), "", 0, 2, "draft"
		return store.Outcome{Status: store.Succeeded, Record: &rec, Output: json.RawMessage(`"Hi"`)}
	case 1:
		return store.Outcome{Status: store.DeadLettered, Record: &rec, Step: "classify", Error: rec.Error, Class: rec.Class}
	case 2, 5:
		rec.Status = store.StepReview
		rv := &store.Review{Step: "classify", Index: 1, Reason: "low confidence", Proposed: json.RawMessage(`{"label":"warm"}`), Deadline: now.Add(time.Hour)}
		if rng.IntN(2) == 0 {
			rv.Proposed = nil
		}
		return store.Outcome{Status: store.AwaitingReview, Record: &rec, Step: "classify", Review: rv}
	case 3:
		rec.Status, rec.Class = store.StepDeferred, retry.ClassTransient
		return store.Outcome{Status: store.Queued, Record: &rec, Step: "classify", Error: "429", Class: retry.ClassTransient,
			NotBefore: now.Add(time.Duration(rng.IntN(2)) * 45 * time.Second)}
	default:
		return store.Outcome{Status: store.Cancelled, Step: "parse", Error: "context canceled", Class: retry.ClassCancelled}
	}
}

// sentinel reduces an error to the store sentinel it wraps.
func sentinel(err error) string {
	for _, s := range []error{store.ErrNotFound, store.ErrLeaseLost, store.ErrFinal, store.ErrConflict, store.ErrNeedsInput} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}
