package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
)

// DifferentialConfig tunes Differential. The zero value is the full run.
type DifferentialConfig struct {
	// Seeds are the random sequences to run, one subtest each. Defaults
	// to 3, 7 and 11.
	Seeds []uint64
	// Ops is the number of operations in each sequence. Defaults to 400.
	Ops int
	// Resolution is the finest time the store keeps (PostgreSQL keeps
	// microseconds); the times the sequence writes are whole multiples of
	// it. Defaults to a nanosecond.
	Resolution time.Duration
	// Payload, when set, wraps every input and output the sequences write
	// in an object of about that many bytes, whose padding the inputs and
	// outputs share, as a step's output shares most of its input: so that
	// a store that packs payloads (storekit.PackPayload) does. Defaults to
	// none: payloads of a few bytes.
	Payload int
}

// Differential drives a store made by newStore and memstore, the reference,
// through the same random sequences of operations, and requires the same
// answers: enqueues with idempotency keys, deferrals and versions, claims
// (the probe of a paused pipeline included), checkpoints, finishes,
// releases and heartbeats under current and stale leases (fencing), holds,
// replays (patched, from a named step, of held runs, moving a run to the
// registered definition's version), review decisions on current, stale and
// decided reviews, escalations, cancellations (of runs leased or not, of
// held runs and of runs that have ended), pauses, prunes, and, throughout,
// whole timelines, listings, statistics, pauses and pipeline definitions.
// It checks the paths where a store does in its own way what memstore does
// in Go; memstore itself is not run against itself.
func Differential(t *testing.T, newStore NewStore, cfg DifferentialConfig) {
	if len(cfg.Seeds) == 0 {
		cfg.Seeds = []uint64{3, 7, 11}
	}
	if cfg.Ops <= 0 {
		cfg.Ops = 400
	}
	if cfg.Resolution <= 0 {
		cfg.Resolution = time.Nanosecond
	}
	for _, seed := range cfg.Seeds {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			clock := retrytest.NewClock(Start)
			ref, s := memstore.New(memstore.Config{Clock: clock}), newStore(t, clock)
			t.Cleanup(func() { _ = ref.Close(); _ = s.Close() })
			d := &differential{t: t, ctx: context.Background(), clock: clock, stores: [2]store.Store{ref, s},
				rng: rand.New(rand.NewPCG(seed, 5)), res: cfg.Resolution, held: map[string][2]store.Lease{}, tally: map[string]int{}}
			if cfg.Payload > 0 {
				d.padding = strings.Repeat("We would like a quote for the weekly reports. ", cfg.Payload/46+1)[:cfg.Payload]
			}
			d.run(cfg.Ops)
		})
	}
}

var (
	diffPipelines = []string{"leads", "posts", "triage"}
	diffSteps     = []string{"parse", "classify", "draft"}
	// diffVersions are the versions runs start under: "leads" is
	// registered under the last, so that a replay moves a run of another.
	diffVersions = []store.Version{{}, {Fingerprint: "00000000000000a1", Label: "v1"}, {Fingerprint: "00000000000000b2", Label: "v2"}}
)

type differential struct {
	t      *testing.T
	ctx    context.Context
	clock  *retrytest.Clock
	stores [2]store.Store // the reference, then the store under test
	rng    *rand.Rand
	res    time.Duration
	ids    []string
	// held is each store's lease of a run (tokens differ); a lease lost
	// stays here, so that writes under it are refused alike.
	held  map[string][2]store.Lease
	tally map[string]int
	// padding is what pad adds (DifferentialConfig.Payload).
	padding string
}

// pad wraps payload m in an object with the padding, when there is one.
func (d *differential) pad(m json.RawMessage) json.RawMessage {
	if d.padding == "" || m == nil {
		return m
	}
	return json.RawMessage(`{"pad":"` + d.padding + `","v":` + string(m) + `}`)
}

func (d *differential) padOutcome(o *store.Outcome) {
	o.Output = d.pad(o.Output)
	if o.Record != nil {
		rec := *o.Record
		rec.Input, rec.Output = d.pad(rec.Input), d.pad(rec.Output)
		o.Record = &rec
	}
}

// same runs op on each store and requires equal errors (by sentinel) and
// equal results (by JSON).
func (d *differential) same(what string, op func(st store.Store, i int) (any, error)) {
	d.t.Helper()
	var outs [2]string
	var errs [2]error
	for i, st := range d.stores {
		out, err := op(st, i)
		b, jerr := json.Marshal(out)
		require.NoError(d.t, jerr)
		outs[i], errs[i] = string(b), err
	}
	require.Equal(d.t, sentinel(errs[0]), sentinel(errs[1]), "%s: reference %v, store %v", what, errs[0], errs[1])
	require.Equal(d.t, outs[0], outs[1], what)
	kind, _, _ := strings.Cut(what, " ")
	d.tally[kind+" "+sentinel(errs[0])]++
}

// pick returns any run ever enqueued.
func (d *differential) pick() string { return d.ids[d.rng.IntN(len(d.ids))] }

// inStatus mostly picks a run in one of the statuses, so that the
// operations that need one (decide, replay) mostly get one.
func (d *differential) inStatus(statuses ...store.Status) string {
	page, err := d.stores[0].ListRuns(d.ctx, store.RunFilter{Status: statuses, Limit: 1000})
	require.NoError(d.t, err)
	if len(page.Runs) == 0 || d.rng.IntN(8) == 0 {
		return d.pick()
	}
	return page.Runs[d.rng.IntN(len(page.Runs))].ID
}

// anyHeld mostly picks a running run, else any run ever leased (whose
// lease may be stale).
func (d *differential) anyHeld() string {
	if id := d.inStatus(store.Running); d.rng.IntN(6) > 0 {
		if _, ok := d.held[id]; ok {
			return id
		}
	}
	keys := slices.Sorted(maps.Keys(d.held))
	return keys[d.rng.IntN(len(keys))]
}

// at is a time the store can keep exactly.
func (d *differential) at(t time.Time) time.Time { return t.Truncate(d.res) }

func (d *differential) run(ops int) {
	t, ctx, rng := d.t, d.ctx, d.rng
	for _, st := range d.stores {
		require.NoError(t, st.RegisterPipeline(ctx, store.PipelineDef{Name: "leads", KeepPayloads: true,
			Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}, Version: diffVersions[2]}))
		// A definition without a version: a replay keeps the run's.
		require.NoError(t, st.RegisterPipeline(ctx, store.PipelineDef{Name: "posts", KeepPayloads: true,
			Steps: []store.StepDef{{Name: "parse"}, {Name: "classify"}, {Name: "draft"}}}))
	}
	for k := range ops {
		now := d.clock.Now()
		switch n := rng.IntN(100); {
		case n < 20:
			id := fmt.Sprintf("run-%04d", k)
			nr := store.NewRun{ID: id, Pipeline: diffPipelines[rng.IntN(3)], Input: d.pad(json.RawMessage(fmt.Sprintf(`{"n":%d}`, k))),
				KeepPayloads: rng.IntN(4) > 0, Trigger: step.Trigger{Source: "webhook", ExternalID: fmt.Sprint("ext-", k),
					ReceivedAt: d.at(Start.Add(time.Duration(k) * 1234567 * time.Nanosecond))},
				Version: diffVersions[rng.IntN(len(diffVersions))]}
			if rng.IntN(4) == 0 {
				nr.IdempotencyKey = fmt.Sprint("key-", rng.IntN(10))
			}
			if rng.IntN(5) == 0 {
				nr.NotBefore = now.Add(time.Duration(rng.IntN(120)) * time.Second)
			}
			d.same("enqueue "+id, func(st store.Store, _ int) (any, error) {
				r, created, err := st.Enqueue(ctx, nr)
				r.LeaseToken = ""
				return []any{r, created}, err
			})
			d.ids = append(d.ids, id)
		case n < 36:
			d.claim()
		case n < 52 && len(d.held) > 0:
			id := d.anyHeld()
			rec := store.StepRecord{Index: rng.IntN(3), Status: store.StepSucceeded, Input: d.pad(json.RawMessage(`{"in":1}`)),
				Output: d.pad(json.RawMessage(fmt.Sprintf(`{"out":%d}`, k))), StartedAt: now, FinishedAt: now,
				Attempts: []store.AttemptRecord{{Step: "parse", Number: 1, Start: now, Raw: "raw answer"}}}
			rec.Step = diffSteps[rec.Index]
			if rng.IntN(4) == 0 {
				rec.Step = diffSteps[rng.IntN(3)] // a record that names another step than its index's
			}
			d.same("checkpoint "+id, func(st store.Store, i int) (any, error) { return nil, st.Checkpoint(ctx, d.held[id][i], rec) })
		case n < 70 && len(d.held) > 0:
			id := d.anyHeld()
			o := randomOutcome(rng, now)
			d.padOutcome(&o)
			d.same("finish "+id+" "+string(o.Status), func(st store.Store, i int) (any, error) { return nil, st.Finish(ctx, d.held[id][i], o) })
		case n < 73 && len(d.held) > 0:
			id := d.anyHeld()
			d.same("release "+id, func(st store.Store, i int) (any, error) { return nil, st.Release(ctx, []store.Lease{d.held[id][i]}) })
		case n < 76 && len(d.held) > 0:
			id := d.anyHeld()
			d.same("heartbeat "+id, func(st store.Store, i int) (any, error) {
				return st.Heartbeat(ctx, []store.Lease{d.held[id][i]}, time.Minute)
			})
		case n < 81:
			d.clock.Advance(time.Duration(rng.IntN(40)) * time.Second)
			continue
		case n < 85 && len(d.ids) > 0:
			req := store.ReplayRequest{RunID: d.inStatus(store.DeadLettered, store.Cancelled, store.Held)}
			if rng.IntN(3) == 0 {
				req.Input = d.pad(json.RawMessage(`{"patched":true}`))
			}
			if rng.IntN(3) == 0 {
				req.From = diffSteps[rng.IntN(3)]
			}
			d.same("replay "+req.RunID, func(st store.Store, _ int) (any, error) { return st.Replay(ctx, req) })
		case n < 89 && len(d.ids) > 0:
			id := d.inStatus(store.AwaitingReview)
			// A ref picked at random: current, stale and decided reviews alike.
			dec := store.Decision{Review: store.ReviewRef{Attempt: 1 + rng.IntN(2), Index: rng.IntN(3)},
				Approved: rng.IntN(2) == 0, Reviewer: "ana", Reason: "looked"}
			if rng.IntN(3) == 0 {
				dec.Output = d.pad(json.RawMessage(`{"label":"hot"}`))
			}
			d.same("decide "+id, func(st store.Store, _ int) (any, error) {
				r, err := st.Decide(ctx, id, dec)
				if r != nil {
					r.LeaseToken = ""
				}
				return r, err
			})
		case n < 90 && len(d.ids) > 0:
			id := d.inStatus(store.AwaitingReview)
			d.same("escalate "+id, func(st store.Store, _ int) (any, error) { return nil, st.EscalateReview(ctx, id) })
		case n < 94:
			p := store.Pause{Pipeline: diffPipelines[rng.IntN(3)], Reason: "breaker", By: "breaker:parse"}
			if rng.IntN(2) == 0 {
				p.ProbeAfter = now.Add(time.Duration(rng.IntN(60)) * time.Second)
			}
			d.same("pause "+p.Pipeline, func(st store.Store, _ int) (any, error) { return nil, st.SetPause(ctx, p) })
		case n < 97:
			p := diffPipelines[rng.IntN(3)]
			d.same("resume "+p, func(st store.Store, _ int) (any, error) {
				return st.ClearPause(ctx, store.Resume{Pipeline: p, By: "ops", Reason: "recovered"})
			})
			d.same("pipelinelog "+p, func(st store.Store, _ int) (any, error) { return st.PipelineLog(ctx, p, 3) })
		case n < 98:
			d.same("prune", func(st store.Store, _ int) (any, error) {
				return st.Prune(ctx, store.Retention{MaxAge: time.Hour, MaxRuns: 5})
			})
		case len(d.ids) > 0:
			// Runs held are cancelled too: marked, then ended by the
			// heartbeat's, release's, write's or claim's rules above.
			req := store.CancelRequest{RunID: d.inStatus(store.Queued, store.Running, store.AwaitingReview, store.Held), By: "ops", Reason: "duplicate"}
			d.same("cancel "+req.RunID, func(st store.Store, _ int) (any, error) {
				r, err := st.Cancel(ctx, req)
				if r != nil {
					r.LeaseToken = ""
				}
				return r, err
			})
		default:
			continue
		}
		// A few timelines after each operation, every one now and then.
		some := d.ids
		if k%50 != 49 && len(d.ids) > 3 {
			some = []string{d.pick(), d.pick()}
		}
		for _, id := range some {
			d.get(id)
		}
		if k%20 == 19 {
			d.views()
		}
	}
	for _, id := range d.ids {
		d.get(id)
	}
	d.views()
	t.Logf("operations by outcome: %v", d.tally)
}

// claim claims on both stores and keeps each store's leases from the
// claim's answer; each claimed run then lists as running under that lease.
func (d *differential) claim() {
	req := store.ClaimRequest{Worker: "w", Limit: 1 + d.rng.IntN(3), Lease: 30 * time.Second}
	if d.rng.IntN(3) > 0 {
		req.Pipelines = []string{diffPipelines[d.rng.IntN(3)]}
	}
	var claimed []string
	d.same(fmt.Sprintf("claim %v", req.Pipelines), func(st store.Store, i int) (any, error) {
		c, err := st.Claim(d.ctx, req)
		for j := range c {
			l := d.held[c[j].Run.ID]
			l[i] = c[j].Lease
			d.held[c[j].Run.ID] = l
			if i == 0 {
				claimed = append(claimed, c[j].Run.ID)
			}
			c[j].Run.LeaseToken, c[j].Lease.Token = "", ""
			for k := range c[j].Checkpoints {
				c[j].Checkpoints[k].RunID = c[j].Run.ID // as for get
			}
		}
		return c, err
	})
	for i, st := range d.stores {
		page, err := st.ListRuns(d.ctx, store.RunFilter{Status: []store.Status{store.Running}, Limit: 1000})
		require.NoError(d.t, err)
		running := map[string]store.Lease{}
		for _, r := range page.Runs {
			running[r.ID] = r.Lease()
		}
		for _, id := range claimed {
			require.Equal(d.t, d.held[id][i], running[id], "store %d lists claimed run %s under its claim's lease", i, id)
		}
	}
}

// get compares one run's whole timeline.
func (d *differential) get(id string) {
	d.same("get "+id, func(st store.Store, _ int) (any, error) {
		det, err := st.GetRun(d.ctx, id)
		if det != nil {
			det.Run.LeaseToken = ""
			for i := range det.Steps {
				det.Steps[i].RunID = id // the reference leaves it empty on a patched replay record
			}
		}
		return det, err
	})
}

// views compares listings, statistics, pauses and definitions.
func (d *differential) views() {
	d.t.Helper()
	for _, f := range []store.RunFilter{
		{}, {Limit: 7}, {Pipeline: "leads"}, {Pipeline: "posts", Status: []store.Status{store.Queued, store.DeadLettered}},
		{Status: []store.Status{store.Running}}, {Status: []store.Status{store.AwaitingReview, store.Succeeded, store.Cancelled}, Limit: 4},
		{Status: []store.Status{store.AwaitingReview, store.Succeeded}, Limit: 4},
		{Status: []store.Status{store.Held, store.Queued}}, {Status: []store.Status{store.Held}, Pipeline: "leads"},
		{Step: "parse"}, {Step: "classify"}, {Class: retry.ClassTransient}, {Since: Start.Add(time.Minute)},
		{Until: Start.Add(2 * time.Minute), Before: "run-0200"}, {Until: Start.Add(5 * time.Minute), Before: "run-0150"},
	} {
		d.same(fmt.Sprintf("list %+v", f), func(st store.Store, _ int) (any, error) {
			page, err := st.ListRuns(d.ctx, f)
			for i := range page.Runs {
				page.Runs[i].LeaseToken = ""
			}
			return page, err
		})
	}
	for _, p := range []string{"", "leads"} {
		for _, w := range []time.Duration{0, time.Minute, 2 * time.Minute} {
			d.same(fmt.Sprintf("stats %q %v", p, w), func(st store.Store, _ int) (any, error) { return st.Stats(d.ctx, p, w) })
		}
	}
	for _, p := range diffPipelines {
		d.same("getpause "+p, func(st store.Store, _ int) (any, error) { return st.GetPause(d.ctx, p) })
	}
	d.same("pipelines", func(st store.Store, _ int) (any, error) { return st.Pipelines(d.ctx) })
}

func randomOutcome(rng *rand.Rand, now time.Time) store.Outcome {
	rec := store.StepRecord{Index: 1, Step: "classify", Status: store.StepFailed, Error: "bad label", Class: retry.ClassContract,
		Input: json.RawMessage(`{"in":2}`), StartedAt: now, FinishedAt: now,
		Attempts: []store.AttemptRecord{{Step: "classify", Number: 1, Start: now, Raw: "HOT", Error: "bad label", Class: retry.ClassContract}}}
	switch rng.IntN(7) {
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
	case 6:
		// A worker of a changed definition holds the run, mostly with no
		// record.
		o := store.Outcome{Status: store.Held, Step: "classify", Error: "the input breaks the new contract", Class: retry.ClassContract}
		if rng.IntN(3) == 0 {
			o.Record = &rec
		}
		return o
	default:
		return store.Outcome{Status: store.Cancelled, Step: "parse", Error: "context canceled", Class: retry.ClassCancelled}
	}
}

// sentinel reduces an error to the store sentinel it wraps.
func sentinel(err error) string {
	for _, s := range []error{store.ErrNotFound, store.ErrLeaseLost, store.ErrCancelled, store.ErrFinal, store.ErrConflict, store.ErrNeedsInput} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}
