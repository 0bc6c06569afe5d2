package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/plumb-dev/plumb/deadletter"
	"github.com/plumb-dev/plumb/llm"
	"github.com/plumb-dev/plumb/retry"
	"github.com/plumb-dev/plumb/step"
	"github.com/plumb-dev/plumb/store"
)

// branch runs the branching stage i on in. A durable run forks: the first
// time it records the branch runs and stops, halt being the *PendingError
// that says it waits (or the store's failure); once they have all ended,
// the store queues it again and this joins them. In memory the branches
// run at once. err is the step's failure, as a step's would be.
func (d *definition) branch(ctx context.Context, r *runState, i int, b brancher, in any) (out any, res stageResult, halt, err error) {
	name := d.stages[i].name()
	failed := func(what string, err error) (any, stageResult, error, error) {
		res, err := d.joinAttempt(r, name, what, err)
		return nil, res, nil, err
	}
	specs, err := d.planBranches(b, name, in, r.lease != nil)
	if err != nil {
		return failed("plan the branches", err)
	}
	var results []branchResult
	switch {
	case len(specs) == 0:
	case r.lease != nil:
		results, halt, err = d.forkOrCollect(ctx, r, i, b, specs, in)
		if halt != nil {
			return nil, stageResult{}, halt, nil
		}
		if err != nil {
			return failed("read the branches", err)
		}
	default:
		results = d.runInline(ctx, r, i, b.limit(), specs)
	}
	what := fmt.Sprintf("join of %d branches", len(results))
	if err := d.addBranchSpend(r, name, results); err != nil {
		return failed(what, err)
	}
	if err := ctx.Err(); err != nil {
		// Branches cut short by the run's end are no outcome to join.
		return failed(what, retry.Mark(retry.ClassCancelled, err))
	}
	j := &joined{pipeline: d.name, step: name, results: results}
	if out, err = safeJoin(ctx, b, j); err != nil {
		return failed(what, err)
	}
	res, _ = d.joinAttempt(r, name, what, nil)
	res.by, res.note = j.by, j.note
	return out, res, nil, nil
}

// joinAttempt is the record of a branching step's one attempt (its plan,
// or its join) and, when it failed, the step's failure. A failure without
// a class is permanent: the join sees every branch's outcome, so nothing
// says another try would differ.
func (d *definition) joinAttempt(r *runState, name, what string, err error) (stageResult, error) {
	now := d.cfg.Clock.Now()
	a := step.Attempt{Step: name, Number: 1, Kind: step.AttemptOutcome, Note: what, Start: r.stepStart, Duration: now.Sub(r.stepStart)}
	res := stageResult{attempts: []step.Attempt{a}}
	if err == nil {
		return res, nil
	}
	res.attempts[0].SetError(err)
	class, unclassified := retry.Classify(err), !retry.Known(err)
	if unclassified {
		class = retry.ClassPermanent
	}
	return res, &step.Error{Step: name, Class: class, Unclassified: unclassified, Attempts: res.attempts, Err: err}
}

// planBranches asks the stage for its branches and checks each input
// against the contract of its sub-pipeline's first step: an element that
// breaks it fails the step at once, naming it.
func (d *definition) planBranches(b brancher, name string, in any, encode bool) (specs []branchSpec, err error) {
	defer func() {
		if v := recover(); v != nil {
			specs, err = nil, &step.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	specs, err = b.plan(in)
	var nr *NoRouteError
	if errors.As(err, &nr) {
		nr.Pipeline, nr.Step = d.name, name
	}
	if err != nil {
		return nil, err
	}
	for k := range specs {
		sp := &specs[k]
		first := sp.def.stages[0]
		if err := first.checkIn(sp.in); err != nil {
			return nil, retry.Permanent(fmt.Errorf("branch %d does not meet the input contract of pipeline %s: %w", sp.branch, sp.def.name, err))
		}
		if encode {
			if sp.raw, err = first.encode(sp.in); err != nil {
				return nil, retry.Permanent(fmt.Errorf("branch %d: the input cannot be encoded as JSON: %w", sp.branch, err))
			}
		}
	}
	return specs, nil
}

func safeJoin(ctx context.Context, b brancher, j *joined) (out any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &step.PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return b.join(ctx, j)
}

// addBranchSpend adds what the branches spent to the run's spending: the
// run's budget covers its branches, and a join over it fails as a model
// call over it would.
func (d *definition) addBranchSpend(r *runState, name string, results []branchResult) error {
	var sum store.Spend
	for _, res := range results {
		sum.Tokens += res.spent.Tokens
		sum.Cost += res.spent.Cost
	}
	if sum.IsZero() {
		return nil
	}
	ok, spentTokens, spentCost := r.info.Spend.Allow(sum.Tokens, sum.Cost)
	r.info.Spend.Add(sum.Tokens, sum.Cost)
	if ok {
		return nil
	}
	lt, lc := r.info.Spend.Limit()
	return fmt.Errorf("the branches of step %q spent %d tokens (cost %.4f): %w", name, sum.Tokens, sum.Cost,
		&llm.BudgetExceededError{Scope: "run", Limit: llm.Budget{Tokens: lt, Cost: lc},
			SpentTokens: spentTokens, NextTokens: sum.Tokens, SpentCost: spentCost, NextCost: sum.Cost})
}

// branchTrigger is what a branch run says started it.
func (d *definition) branchTrigger(r *runState, i int) step.Trigger {
	return step.Trigger{Source: "branch:" + d.name + "/" + d.stages[i].name(), ExternalID: r.info.Info.Trigger.ExternalID}
}

// runInline runs the branches of an in-memory run at once, limit at a
// time, each a run of its own: its dead letter reaches its pipeline's
// sinks.
func (d *definition) runInline(ctx context.Context, r *runState, i, limit int, specs []branchSpec) []branchResult {
	results := make([]branchResult, len(specs))
	if limit <= 0 || limit > len(specs) {
		limit = len(specs)
	}
	slots := make(chan struct{}, limit)
	budget, trig := r.remaining(), d.branchTrigger(r, i)
	var wg sync.WaitGroup
	for k, sp := range specs {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			id := store.BranchID(r.info.Info.RunID, i, sp.branch)
			c := sp.def.newRun(id, trig, sp.def.cfg.Clock.Now(), budget)
			c.info.Info.Parent = r.info.Info.RunID
			out, err := sp.def.execute(ctx, c, 0, sp.in)
			res := branchResult{branchSpec: sp, runID: id, spent: c.spent(), status: store.Succeeded, out: out}
			if err != nil {
				res.out, res.status, res.class, res.err = nil, store.DeadLettered, retry.Classify(err), err.Error()
				var de *deadletter.Error
				if errors.As(err, &de) {
					res.step, res.class, res.err = de.Letter.Step, de.Letter.Class, de.Letter.Error
				} else if res.class == retry.ClassCancelled {
					res.status = store.Cancelled
				}
			}
			results[k] = res
		}()
	}
	wg.Wait()
	return results
}

// forkOrCollect gives a durable run its branches' outcomes when every
// branch the step plans exists and has ended; otherwise it forks (halt is
// the *PendingError that ends the execution). A branch whose input is no
// longer its element's was patched and replayed on its own, and is joined
// as it is, unless the step's own input changed since it forked: then the
// step forks again, and the store restarts the branches whose input
// changed (a fork repeated finds the branches it made: their ids are
// store.BranchID's).
func (d *definition) forkOrCollect(ctx context.Context, r *runState, i int, b brancher, specs []branchSpec, in any) (results []branchResult, halt, err error) {
	name, runID := d.stages[i].name(), r.info.Info.RunID
	got, err := d.cfg.Store.Branches(ctx, store.BranchQuery{Parent: runID, Step: name, Outputs: true})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: run %s: list the branches of step %s: %w", d.name, runID, name, err), nil
	}
	byID := make(map[string]*store.Branch, len(got))
	for k := range got {
		byID[got[k].RunID] = &got[k]
	}
	inRaw, err := d.stages[i].encode(in)
	if err != nil {
		return nil, nil, retry.Permanent(fmt.Errorf("encode the input of step %s: %w", name, err))
	}
	ended, changed := true, false
	for _, sp := range specs {
		br := byID[store.BranchID(runID, i, sp.branch)]
		if br == nil || br.Pipeline != sp.def.name || !br.Ended() {
			ended = false
			break
		}
		changed = changed || br.InputHash != store.Hash(sp.raw)
	}
	if ended && changed {
		same, err := d.forkedWith(ctx, runID, i, inRaw)
		if err != nil {
			return nil, err, nil
		}
		ended = same
	}
	if !ended {
		return nil, d.fork(ctx, r, i, b.limit(), specs, inRaw), nil
	}
	results = make([]branchResult, len(specs))
	for k, sp := range specs {
		br := byID[store.BranchID(runID, i, sp.branch)]
		res := branchResult{branchSpec: sp, runID: br.RunID, status: br.Status, step: br.FailedStep, class: br.Class, err: br.Error, spent: br.Spent}
		if br.Status == store.Succeeded {
			if res.out, err = sp.def.stages[len(sp.def.stages)-1].decodeOut(br.Output); err != nil {
				return nil, nil, fmt.Errorf("branch run %s: %w", br.RunID, err)
			}
		}
		results[k] = res
	}
	return results, nil, nil
}

// forkedWith reports whether the step's last fork was made with the input
// it has now.
func (d *definition) forkedWith(ctx context.Context, runID string, i int, inRaw []byte) (bool, error) {
	det, err := d.cfg.Store.GetRun(ctx, runID)
	if err != nil {
		return false, fmt.Errorf("pipeline %s: run %s: read the record: %w", d.name, runID, err)
	}
	for k := len(det.Steps) - 1; k >= 0; k-- {
		if rec := det.Steps[k]; rec.Index == i && rec.Status == store.StepWaiting {
			return sameJSON(rec.Input, inRaw), nil
		}
	}
	return false, nil
}

// sameJSON compares two encodings by value, as a store may keep JSON in a
// form of its own (jsonb reorders keys).
func sameJSON(a, b []byte) bool {
	if a == nil || b == nil {
		return false
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// fork records the step's branch runs and puts the run in the waiting
// status, in one store write, and returns the *PendingError that ends the
// execution (or the store's failure).
func (d *definition) fork(ctx context.Context, r *runState, i, limit int, specs []branchSpec, inRaw []byte) error {
	name, runID := d.stages[i].name(), r.info.Info.RunID
	for _, sp := range specs {
		if err := sp.def.register(ctx); err != nil {
			return err
		}
	}
	traceID, spanID := r.traceIDs()
	budget, trig := r.remaining(), d.branchTrigger(r, i)
	kids := make([]store.NewRun, len(specs))
	for k, sp := range specs {
		kids[k] = store.NewRun{
			ID: store.BranchID(runID, i, sp.branch), Pipeline: sp.def.name, Input: sp.raw, Trigger: trig,
			KeepPayloads: !sp.def.cfg.HashPayloads, InputReplaced: replacedBytes(sp.raw), Budget: budget, Version: sp.def.spec.Version,
			Parent: &store.Parent{RunID: runID, Step: name, Index: i, Branch: sp.branch, Name: sp.name, TraceID: traceID, SpanID: spanID},
		}
	}
	what := fmt.Sprintf("waits for %d branches", len(kids))
	rec := d.record(r, i, store.StepWaiting, nil, stageResult{note: "forked: " + what})
	rec.Input = inRaw
	err := d.write(ctx, r, func(ctx context.Context) error {
		return d.cfg.Store.Fork(ctx, *r.lease, store.Fork{Record: rec, Children: kids, Limit: limit})
	})
	if err != nil {
		return err
	}
	wake(d.cfg.Store)
	return &PendingError{RunID: runID, Status: store.Waiting, Step: name, Reason: what}
}

// branchesSpent adds to a resumed run's spending what the branches of its
// finished branching steps (those before from) spent.
func (d *definition) branchesSpent(ctx context.Context, r *runState, from int) error {
	branched := false
	for _, st := range d.stages[:from] {
		branched = branched || st.branching() != nil
	}
	if !branched {
		return nil
	}
	got, err := d.cfg.Store.Branches(ctx, store.BranchQuery{Parent: r.info.Info.RunID})
	if err != nil {
		return fmt.Errorf("pipeline %s: run %s: list the branches: %w", d.name, r.info.Info.RunID, err)
	}
	for _, b := range got {
		if b.Index < from {
			r.info.Spend.Add(b.Spent.Tokens, b.Spent.Cost)
		}
	}
	return nil
}
